"""The ISAAC-like baseline: 128x128 crossbars of 2-bit cells, 1-bit DACs, one 8-bit ADC per crossbar."""
