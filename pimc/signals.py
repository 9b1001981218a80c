"""Ctrl-C and SIGTERM: held while a step must not be cut in half, delivered when it is done.

    with held_signals():          # a signal that arrives here is recorded, not acted on ...
        os.replace(staging, path)
    # ... and raised again here, under the handlers the block started with

A handler, not a signal mask: a mask holds a signal only on the thread that sets it, and the kernel
hands a process's signal to any thread that does not block it (BLAS and onnxruntime start several),
whose C handler still makes the main thread raise at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

STOPS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held_signals():
    """Record SIGINT and SIGTERM during the block and raise each again, once, after it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    arrived: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: arrived.append(signum)) for signum in STOPS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(arrived):
            signal.raise_signal(signum)


def ignore_signals() -> None:
    """From now on SIGINT and SIGTERM do nothing: for a process whose outcome is settled and that only exits."""
    for signum in STOPS:
        signal.signal(signum, signal.SIG_IGN)
