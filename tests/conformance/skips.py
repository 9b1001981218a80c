"""Applicable backend cases pimc does not run, each with its reason. Keep it short and honest.

    skip_reason("test_cast_FLOAT_to_FLOAT8E4M3FN")  ->  "8-bit floats are not pimc element types"
"""

from __future__ import annotations

import fnmatch

SKIPS: dict[str, str] = {}


def skip_reason(name: str) -> str:
    """The reason `name` is skipped, or "" if it runs."""
    return next((reason for pattern, reason in SKIPS.items() if fnmatch.fnmatchcase(name, pattern)), "")
