"""RAELLA's cost hook: the digital Center+Offset correction of every MVM (targets/target.py's `mvm_energy`)."""

from __future__ import annotations

from pimc.targets.program import Crossbar


def center_energy(x: Crossbar, driven: int, c: dict) -> dict[str, float]:
    """Center times input sum, per filter and pass, on crossbars that hold centers."""
    return {"center": driven * x.weights * c["center_pj"]} if x.centers is not None else {}
