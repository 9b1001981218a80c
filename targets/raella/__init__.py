"""RAELLA: 512x512 2T2R crossbars, Center+Offset weights, adaptive weight slicing, speculative input slices, 7-bit signed ADCs."""
