"""Peaks sampled while processes run: disk blocks of some trees, RSS of some processes.

:class:`Peaks` samples every ``interval`` seconds in a thread, until the ``with``
block ends. Disk is counted two ways: the blocks allocated to the files under the
given roots (``st_blocks``: what this case's files hold, blind to other processes
on the machine, and counting a reflinked extent once per file), and the change of
the file system's used space since the start (``statvfs``: sees shared extents
once, but also whatever other processes write meanwhile).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from bench.measure import peak_rss


def blocks_under(roots: Iterable[Path]) -> int:
    """Bytes allocated to every file under ``roots`` (files vanishing meanwhile skipped)."""
    total = 0
    stack = [str(r) for r in roots]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def fs_used(path: Path) -> int:
    """Used bytes of the file system holding ``path``."""
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class Peaks:
    """Peak disk under ``roots``, peak used-space change of their file system, and
    the highest VmHWM of the pids handed to :meth:`watch`."""

    def __init__(self, roots: list[Path], interval: float = 0.1) -> None:
        self.roots = roots
        self.interval = interval
        self.disk = 0
        self.fs_delta = 0
        self.rss = 0
        self._pids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._fs_base = 0

    def watch(self, pid: int) -> None:
        self._pids.append(pid)

    def sample(self) -> None:
        self.disk = max(self.disk, blocks_under(self.roots))
        self.fs_delta = max(self.fs_delta, fs_used(self.roots[0].parent) - self._fs_base)
        for pid in list(self._pids):
            self.rss = max(self.rss, peak_rss(pid) or 0)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Peaks:
        os.sync()
        self._fs_base = fs_used(self.roots[0].parent)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
