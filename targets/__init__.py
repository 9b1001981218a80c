"""Targets: one folder per accelerator."""
