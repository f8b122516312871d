"""CLI output: progress bars on a terminal, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TaskID, TextColumn
from rich.progress import Progress as RichProgress
from rich.text import Text

from asyncart.client.progress import Progress
from asyncart.core.humanize import count, human_rate, human_size, iso_time

if TYPE_CHECKING:
    from asyncart import aio
    from asyncart.client.dry_run import TransferPlan
    from asyncart.core.models import VersionInfo

F = TypeVar("F", bound=Callable[..., Any])


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


def progress_for(quiet: bool) -> Progress | None:
    """A progress bar when stderr is a terminal and ``--quiet`` was not given.

    On stderr: ``asyncart pull x | tee log`` still shows it, and ``--json`` on stdout
    stays clean.
    """
    if quiet or not sys.stderr.isatty():
        return None
    return BarProgress()


def quiet_option(fn: F) -> F:
    """``-q/--quiet``: no progress bar and no summary line (errors are still shown)."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary line.")(
        fn
    )


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


#: ``--json`` leaves these out: the store's bookkeeping, not facts about a version.
_INTERNAL = ("created", "index")
_TIMES = ("created_at", "updated_at")


def version_info_json(v: VersionInfo) -> dict[str, Any]:
    """A version for ``--json`` (ls, alias, tag, delete): no internal fields; times in
    ISO 8601 (UTC), and as Unix times in ``*_unix``."""
    out = v.to_json()
    for key in _INTERNAL:
        out.pop(key, None)
    return with_iso_times(out)


def with_iso_times(out: dict[str, Any]) -> dict[str, Any]:
    """``created_at`` / ``updated_at`` as ISO 8601 strings, the Unix times beside them."""
    for key in _TIMES:
        if key in out:
            out[f"{key}_unix"] = out[key]
            out[key] = iso_time(out[key])
    return out


def version_json(artifact: aio.Artifact) -> dict[str, Any]:
    """What names a version and its size, first in a transfer command's JSON output."""
    return {
        "name": artifact.name.partition(":")[0],  # the collection's (name is NAME:vN)
        "project": artifact.project,
        "version": artifact.version,
        "digest": artifact.digest,
        "size": artifact.size,
        "files": len(artifact.files()),
    }


def plan_json(plan: TransferPlan) -> dict[str, Any]:
    """A dry run's numbers for ``--json`` (``dry_run: true`` marks them)."""
    return {
        "dry_run": True,
        "files_to_move": plan.files_to_move,
        "bytes_to_move": plan.bytes_to_move,
        "total_bytes": plan.total_bytes,
    }
