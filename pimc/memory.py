"""Freed memory back to the system between the phases of a long command.

    release_freed_memory()   # the compiled module is gone: its pages go before the simulator allocates

glibc keeps the pages of freed heap blocks for reuse (blocks up to its adaptive mmap threshold, up
to 32 MB, live on the heap), and only trims the heap's top by itself. One phase's arrays, freed,
then stay resident under the next phase's: VGG-16's `pimc verify --target` held 1.8 GB of them when
onnxruntime loaded the model. `malloc_trim` returns them; elsewhere than glibc this is a no-op.
"""

from __future__ import annotations

import ctypes
import gc


def release_freed_memory() -> None:
    """Free what only reference cycles hold, then return the free pages."""
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
