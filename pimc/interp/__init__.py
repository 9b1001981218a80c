"""The reference interpreter: `Interpreter(module).run(inputs)` on numpy arrays; `.values` by name hint."""
