"""Ctrl-C during a transfer: a newline, what was kept, how to go on, exit code 130."""

from __future__ import annotations

from pathlib import Path

from asyncart.client.leftovers import find_leftovers, part_bytes
from asyncart.client.progress import Progress
from asyncart.core.humanize import count, human_size

#: The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


class Aborted(Exception):
    """A command stopped by Ctrl-C; its text says what was kept and how to resume."""


class DoneBytes(Progress):
    """Bytes of a transfer done so far: moved, or found present (all of them verified)."""

    def __init__(self) -> None:
        self.bytes = 0

    def on_progress(self, nbytes: int) -> None:
        self.bytes += nbytes


class MovedBytes(DoneBytes):
    """Bytes of a transfer that crossed the network so far (not those found present)."""

    def on_skip(self, nbytes: int) -> None:
        return None


def abort_line(advice: str | None = None) -> str:
    """The line stderr gets; it starts on a line of its own (after the terminal's ``^C``)."""
    return "\nasyncart: aborted" + (f"; {advice}" if advice else "")


def pull_advice(done: int, root: Path | None, clean: str) -> str:
    """What an interrupted pull kept in ``root`` and how to resume or clean up
    (``clean``: the ``asyncart pull --clean`` command line for this directory)."""
    kept = f"{human_size(done)} verified and kept"
    if root is None:
        return "nothing was written"
    parts = [f for f in find_leftovers(root) if f.is_part]
    where = f"{kept} in {root}"
    if not parts:
        return f"{where}; run the same command to resume"
    return (
        f"{where}; {count(len(parts), 'part file')} there already "
        f"{'takes' if len(parts) == 1 else 'take'} "
        f"{human_size(part_bytes(parts))} of disk (allocated up front, first: "
        f"{parts[0].path.name}); run the same command to resume, or remove "
        f"{'it' if len(parts) == 1 else 'them'} with: {clean}"
    )


def push_advice(uploaded: int) -> str:
    """What an interrupted push left in the store and how to resume."""
    if not uploaded:
        return "nothing was committed; run the same command to start again"
    return (
        f"{human_size(uploaded)} uploaded and kept by the store (nothing committed yet); "
        "run the same command to resume"
    )
