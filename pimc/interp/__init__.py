"""Reference interpreter: runs IR functions on numpy arrays."""
