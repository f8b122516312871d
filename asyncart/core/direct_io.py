"""O_DIRECT primitives shared by the store's pack writer and the pull's file writer.

O_DIRECT wants the buffer address, the file offset and each write's length
aligned to the device's logical block size; :data:`ALIGNMENT` is the largest in
use (a page, which also keeps a direct write from ever sharing a page with a
buffered one). Anonymous mappings are page-aligned, so an ``mmap`` is the buffer.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re

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


#: Local block-device filesystems, where O_DIRECT is DMA from our buffer to the disk.
#: Elsewhere (NFS, Lustre, FUSE, tmpfs, overlay) it may make every write synchronous
#: with a server, or is refused: those files go through the page cache.
DIRECT_FILESYSTEMS = frozenset({"ext4", "ext3", "xfs", "btrfs", "f2fs", "bcachefs"})


@functools.lru_cache(maxsize=64)
def direct_io_pays(directory: str) -> bool:
    """Whether files in ``directory`` lie on a local block-device filesystem
    (:data:`DIRECT_FILESYSTEMS`), read off ``/proc/self/mounts``.

    False where the mount table cannot be read. Blocking: call in a worker thread.
    """
    directory = os.path.realpath(directory)
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as table:
            mounts = [line.split() for line in table]
    except OSError:
        return False
    best, kind = -1, ""
    for fields in mounts:
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = directory == point or directory.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, kind = len(point), fields[2]
    return kind in DIRECT_FILESYSTEMS


def _unescape(field: str) -> str:
    """A mount table field with its octal escapes (``\\040`` for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
