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
import os
import sys

_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 20
_applied = False


def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at 1 MiB; return whether it was applied."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    # confstr and the interpreter's own symbols (dlopen(NULL)), not platform.libc_ver
    # and ctypes.util.find_library: those imports cost every command ~0.05 s at start.
    try:
        libc_version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return False
    if not libc_version.startswith("glibc"):
        return False
    try:
        libc = ctypes.CDLL(None)
        _applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))
    except (OSError, AttributeError):
        return False
    return _applied
