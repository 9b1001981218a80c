"""FlexSpIM: spiking CNNs on digital SRAM compute-in-memory macros, from NIR to an event-driven program.

See docs/flexspim.md.
"""
