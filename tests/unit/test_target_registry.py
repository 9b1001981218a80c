"""The registration list and the target folders agree, and every target declares itself under its own name."""

from __future__ import annotations

from pathlib import Path

import pytest

import pimc.targets
from pimc.diagnostics import UserError
from pimc.targets import TARGETS, target

FOLDERS = sorted(p.parent.name for p in Path(pimc.targets.__file__).parent.glob("*/__init__.py"))


def test_every_target_folder_is_registered_and_every_registration_is_a_folder():
    assert sorted(TARGETS) == FOLDERS
    assert all(module == f"pimc.targets.{name}" for name, module in TARGETS.items())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_target_declares_itself_under_its_name(name):
    assert target(name).name == name


def test_a_target_without_crossbars_models_no_encoding():
    with pytest.raises(UserError, match=r"target 'flexspim' has no datapath model for offset encoding \(it models: none\)"):
        target("flexspim").datapath("offset")
