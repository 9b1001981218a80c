"""The MLG target: conv weights generated in situ from low-precision bases and coefficients (docs/mlg.md)."""
