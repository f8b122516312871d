"""CLI output: progress bars on a terminal, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

from asyncart.client.progress import Progress

if TYPE_CHECKING:
    from asyncart import aio


class BarProgress(Progress):
    """A rich progress bar with bytes, throughput and ETA (only used on a terminal)."""

    def __init__(self) -> None:
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task: TaskID | None = None

    def on_start(self, phase: str, total_bytes: int, total_files: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(f"{phase} {total_files} file(s)", total=total_bytes)

    def on_progress(self, nbytes: int) -> None:
        if self._task is not None:
            self._bar.advance(self._task, nbytes)

    def on_done(self) -> None:
        self._bar.stop()


def progress_for(json_output: bool, quiet: bool = False) -> Progress | None:
    """A progress bar when stdout is a terminal and no machine output was asked for."""
    if json_output or quiet or not sys.stdout.isatty():
        return None
    return BarProgress()


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


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
