"""RAELLA: 512x512 2T2R crossbars, Center+Offset weights, adaptive weight slicing, speculative inputs, 7-bit ADCs."""
