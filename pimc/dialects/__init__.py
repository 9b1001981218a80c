"""Dialects: one module each, listing its op classes in `OPS`."""
