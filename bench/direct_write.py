"""The store disk's own write ceiling: copy a file with O_DIRECT, then fsync it.

``python -m bench.direct_write SRC DST`` reads ``SRC`` (from the page cache,
as a push does) into one page-aligned buffer and writes ``DST`` (a new file)
with ``O_DIRECT`` in whole aligned blocks: the last, partial block is padded
with zeros and the file truncated to its true size afterwards, as the store's
pack writer does (``asyncart/repo/blobstores/direct_write.py``). Then the file
and its directory are fsynced. Prints one JSON line: bytes, in-process wall and
CPU seconds, and whether O_DIRECT was in effect (a filesystem refusing it gets
ordinary buffered writes, and the line says so).
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import mmap
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ALIGNMENT = 4096  # the largest logical block size in use
BUFFER = 16 << 20  # a multiple of ALIGNMENT
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def _open_new(path: Path) -> tuple[int, bool]:
    """Open a new file for writing, with O_DIRECT if the filesystem allows it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    if _O_DIRECT:
        try:
            return os.open(path, flags | _O_DIRECT, 0o600), True
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
    return os.open(path, flags, 0o600), False


def _fill(src: io.FileIO, view: memoryview) -> int:
    """Read into ``view`` until it is full or the file ends; the byte count."""
    filled = 0
    while filled < len(view) and (n := src.readinto(view[filled:])):
        filled += n
    return filled


def direct_copy(source: Path, dest: Path, bufsize: int = BUFFER) -> tuple[int, bool]:
    """Copy ``source`` to the new file ``dest`` with O_DIRECT writes and fsync it.

    Returns (bytes written, whether O_DIRECT was used).
    """
    buffer = mmap.mmap(-1, bufsize)  # anonymous mappings are page-aligned
    view = memoryview(buffer)
    fd, direct = _open_new(dest)
    size = 0
    try:
        with open(source, "rb", buffering=0) as src:
            while n := _fill(src, view):
                size += n
                if n < bufsize and direct:  # the last block: pad to alignment
                    padded = -(-n // ALIGNMENT) * ALIGNMENT
                    view[n:padded] = bytes(padded - n)
                    n = padded
                written = 0
                while written < n:
                    written += os.write(fd, view[written:n])
        if direct:
            os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
        view.release()
        buffer.close()
    parent = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(parent)
    finally:
        os.close(parent)
    return size, direct


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.direct_write SRC DST``: copy, print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.direct_write", description=__doc__)
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    cpu0, t0 = time.process_time(), time.perf_counter()
    size, direct = direct_copy(args.source, args.dest)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(json.dumps({"bytes": size, "wall_s": wall, "cpu_s": cpu, "o_direct": direct}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
