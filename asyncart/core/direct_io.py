"""O_DIRECT primitives shared by the store's pack writer and the pull's file writer.

O_DIRECT wants the buffer address, the file offset and each write's length
aligned to the device's logical block size; :data:`ALIGNMENT` is the largest in
use (a page, which also keeps a direct write from ever sharing a page with a
buffered one). Anonymous mappings are page-aligned, so an ``mmap`` is the buffer.
"""

from __future__ import annotations

import fcntl
import os

#: Alignment of buffer, offsets and lengths: the largest logical block size in use.
ALIGNMENT = 4096

O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def align_down(value: int) -> int:
    """``value`` rounded down to a multiple of :data:`ALIGNMENT`."""
    return value - value % ALIGNMENT


def align_up(value: int) -> int:
    """``value`` rounded up to a multiple of :data:`ALIGNMENT`."""
    return -(-value // ALIGNMENT) * ALIGNMENT


def enable_direct(fd: int) -> bool:
    """Turn O_DIRECT on for ``fd``; False where the platform or filesystem has none."""
    if not O_DIRECT:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | O_DIRECT)
    except OSError:
        return False
    return True


def disable_direct(fd: int) -> None:
    """Turn O_DIRECT off for ``fd`` (its later writes go through the page cache)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~O_DIRECT)
