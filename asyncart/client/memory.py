"""Keep large transfer buffers out of glibc's heap arenas, so freed memory goes back to the OS.

glibc raises its mmap threshold each time a large mmapped block is freed (up to
32 MiB). After the first multi-MiB transfer buffer is released, later buffers
come from per-thread heap arenas instead, where churn across worker threads
fragments memory: a pull after a push could then peak at several times the
engine's bounded working set. Fixing the threshold at 1 MiB keeps every large
buffer mmapped (freed at once) and small objects on the heap, as before.

Applied once, on glibc only, and never when the user set
``MALLOC_MMAP_THRESHOLD_`` themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 20
_applied = False


def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 1 MiB; return whether it was applied."""
    global _applied
    if _applied:
        return True
    if platform.system() != "Linux" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))
    except (OSError, AttributeError):
        return False
    return _applied
