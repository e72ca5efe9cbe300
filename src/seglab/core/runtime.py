"""Process-wide runtime helpers that several layers share (no I/O)."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0  # how many gc_paused() blocks are open, in any thread
_resume = False  # whether the collector was on when the first of them opened


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector for a block that builds and drops many small acyclic objects.

    Reference counting frees such objects as soon as the block drops them; the collector would only
    rescan every object the process holds, again and again. The collector is process-wide, so the
    pause is counted: with blocks open in several threads, it comes back on when the last one closes,
    and only if it was on when the first one opened (a caller that turned it off keeps it off).
    """
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
