"""The textual IR: a lark grammar, a parser that builds IR, and a printer."""
