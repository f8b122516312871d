"""What the kernel saw happen to the files of a directory: Linux inotify(7), through ctypes.

A test that must show a file is never opened after some point (the download cache's
tee: the pulled file is not read back to fill the cache) watches the directory and
reads the events afterwards, in order. Nothing of ours is replaced or mocked: these
are the opens and renames the kernel performed, by any process::

    with DirectoryEvents(root) as events:
        ...  # pull into root
    names = events.read()  # [("model.bin.asyncart-part", "create"), ..., ("model.bin", "moved_to")]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
KINDS = {0x20: "open", 0x80: "moved_to", 0x100: "create", 0x40: "moved_from"}
_HEADER = struct.Struct("iIII")


class DirectoryEvents:
    """The opens, creations and renames of the files directly in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.fd = -1

    def __enter__(self) -> DirectoryEvents:
        self.fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        mask = sum(KINDS)
        if _libc.inotify_add_watch(self.fd, os.fsencode(self.directory), mask) < 0:
            os.close(self.fd)
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {self.directory}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)

    def read(self) -> list[tuple[str, str]]:
        """The (file name, kind) events queued so far, oldest first."""
        out: list[tuple[str, str]] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            pos = 0
            while pos < len(data):
                _, mask, _, length = _HEADER.unpack_from(data, pos)
                raw = data[pos + _HEADER.size : pos + _HEADER.size + length]
                pos += _HEADER.size + length
                name = raw.rstrip(b"\0").decode()
                for bit, kind in KINDS.items():
                    if mask & bit:
                        out.append((name, kind))


def opened_after_rename(events: list[tuple[str, str]], name: str) -> int:
    """How often ``name`` was opened after it was renamed into place (its last rename)."""
    renamed = max((i for i, event in enumerate(events) if event == (name, "moved_to")), default=-1)
    assert renamed >= 0, f"{name} was never renamed into place: {events[-10:]}"
    return sum(1 for event in events[renamed + 1 :] if event == (name, "open"))
