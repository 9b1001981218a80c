"""Freed memory and glibc: handed back between a command's phases, kept for reuse while samples repeat; and the
garbage collector, run less often.

    release_freed_memory()   # the compiled module is gone: its pages go before the simulator allocates
    return_freed_pages()     # the same without a collection: emission, as it joins the crossbars' cells
    reuse_freed_memory()     # sample after sample allocates the same arrays: keep them instead
    reuse_freed_memory(32 << 20)   # the same, for blocks of up to 32 MB
    fewer_collections()      # a process of many long-lived objects: the garbage collector runs less often

glibc keeps the pages of freed heap blocks for reuse (blocks up to its adaptive mmap threshold, up
to 32 MB, live on the heap), and only trims the heap's top by itself. One phase's arrays, freed,
then stay resident under the next phase's: VGG-16's `pimc verify --target` held 1.8 GB of them when
onnxruntime loaded the model. `malloc_trim` returns them. The other way round, a simulator running
sample after sample frees and allocates arrays of the same sizes, and glibc hands the large ones back
to the system and faults their pages in again, zeroed, each time: ResNet-50, 15,000 page faults and
about 20 ms of its 90 ms per image on one thread. Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import gc

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # glibc's mallopt parameters (malloc.h)


def fewer_collections() -> None:
    """Collect the youngest objects after 10,000 new ones rather than 700: a compile makes hundreds of thousands of
    IR objects that live to its end, and ResNet-50's `--estimate-only` spent 0.15 s in 466 collections (0.05 s
    in 30 with this, at the same 740 MB peak). Reference cycles are still collected."""
    gc.set_threshold(10_000, 10, 10)


def release_freed_memory() -> None:
    """Free what only reference cycles hold, then return the free pages."""
    gc.collect()
    return_freed_pages()


def return_freed_pages() -> None:
    """Return the heap's free pages to the system (no collection first: cheap enough to call as a phase frees)."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def reuse_freed_memory(largest: int = 1 << 30) -> None:
    """From now on freed blocks of up to `largest` bytes stay with the process for the next allocation: they come
    from the heap, which glibc no longer trims by itself; larger ones are mapped and unmapped each time. Threads
    started later share the one heap, so that what one frees another reuses (their own arenas, 64 MB pieces
    mapped and unmapped as they grow and shrink, kept faulting: two samples at a time of ResNet-50, 4,000
    faults per image and 51 ms against 200 and 47 ms; VGG-16, 4.1 GB at the peak against 3.6).
    `release_freed_memory` still hands them back."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return
    mallopt(M_MMAP_THRESHOLD, largest)
    mallopt(M_TRIM_THRESHOLD, 2**31 - 1)
    mallopt(M_ARENA_MAX, 1)
