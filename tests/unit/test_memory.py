"""reuse_freed_memory keeps freed blocks for the next allocation: an array freed and allocated again is not
faulted in again, page by page (glibc only; each case in its own process, as mallopt's settings are global)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

REPEAT = """
import resource, sys
import numpy as np
from pimc.memory import reuse_freed_memory
if sys.argv[1] != "default":
    reuse_freed_memory(int(sys.argv[1]))
np.ones(5 << 20)  # 40 MB, above glibc's own largest mmap threshold (32 MB)
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(5 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def faults(setting: str) -> int:
    return int(subprocess.run([sys.executable, "-c", REPEAT, setting], capture_output=True, text=True,
                              check=True).stdout)


@pytest.mark.skipif(getattr(ctypes.CDLL(None), "mallopt", None) is None, reason="not glibc")
def test_a_freed_array_is_reused_without_faulting_its_pages_in_again():
    mapped = faults("default")  # anew each time (in huge pages where the kernel gives them)
    assert mapped >= 10
    assert faults(str(1 << 30)) * 10 < mapped  # kept on the heap
    assert faults(str(32 << 20)) * 2 > mapped  # above the largest block kept: mapped anew
