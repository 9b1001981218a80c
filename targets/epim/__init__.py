"""EPIM: ISAAC-like crossbars that hold only each conv's epitome, with address tables around them."""
