"""constraints.txt pins one known-good version of every requirement pyproject.toml declares, and each pin satisfies it."""

from __future__ import annotations

import os
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pins() -> dict[str, Version]:
    with open(os.path.join(ROOT, "constraints.txt")) as file:
        lines = [line.strip() for line in file if line.strip() and not line.startswith("#")]
    pinned = {}
    for line in lines:
        name, separator, version = line.partition("==")
        assert separator, f"constraints.txt: '{line}' is not a name==version pin"
        pinned[canonicalize_name(name)] = Version(version)
    return pinned


def requirements() -> list[Requirement]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        project = tomllib.load(file)["project"]
    declared = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(r) for r in declared]


def test_every_requirement_is_pinned_within_its_range():
    pinned = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"constraints.txt pins no version of {requirement.name}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside pyproject's '{requirement}'"
