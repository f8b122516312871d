"""The progress bar of a command on a terminal (rich): bytes done, throughput, time left."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID, TextColumn
from rich.progress import Progress as RichProgress
from rich.text import Text

from asyncart.client.progress import Progress
from asyncart.core.humanize import count, human_rate, human_size


class _Moved:
    """Bytes that crossed the network since the phase began (skipped bytes are not
    counted: a push of what the store has shows no rate at all)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.since = time.monotonic()

    def start(self) -> None:
        self.since = time.monotonic()

    @property
    def rate(self) -> float | None:
        """Bytes moved per second since the start (None while nothing moved)."""
        elapsed = time.monotonic() - self.since
        return self.bytes / elapsed if self.bytes and elapsed > 0 else None


class _SizeColumn(ProgressColumn):
    """``1.5/3.0 GiB`` in :func:`human_size`'s units."""

    def render(self, task: Task) -> Text:
        return Text(f"{human_size(task.completed)} of {human_size(task.total or 0)}")


class _RateColumn(ProgressColumn):
    """Throughput of the moved bytes only, and the time left at that rate."""

    def __init__(self, moved: _Moved) -> None:
        super().__init__()
        self.moved = moved

    def render(self, task: Task) -> Text:
        rate = self.moved.rate
        if not rate:
            return Text("")
        left = max((task.total or 0) - task.completed, 0) / rate
        minutes, seconds = divmod(int(left), 60)
        return Text(f"{human_rate(rate)}, {minutes}:{seconds:02d} left")


class BarProgress(Progress):
    """A rich progress bar on stderr: bytes done, throughput and time left.

    Bytes the store or the directory had already advance the bar but not the rate.
    """

    def __init__(self) -> None:
        self._moved = _Moved()
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            _SizeColumn(),
            _RateColumn(self._moved),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: TaskID | None = None

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        self._moved.start()
        self._bar.start()
        self._task = self._bar.add_task(f"{phase} {count(total_files, 'file')}", total=total_bytes)

    def on_progress(self, nbytes: int) -> None:
        self._moved.bytes += nbytes
        if self._task is not None:
            self._bar.advance(self._task, nbytes)

    def on_skip(self, nbytes: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, nbytes)

    def on_done(self) -> None:
        self._bar.stop()
