"""CLI output: progress bars on a terminal, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from asyncart.client.progress import Progress
from asyncart.core.humanize import iso_time

if TYPE_CHECKING:
    from asyncart import aio
    from asyncart.client.dry_run import TransferPlan
    from asyncart.core.models import VersionInfo

F = TypeVar("F", bound=Callable[..., Any])


def progress_for(quiet: bool) -> Progress | None:
    """A progress bar when stderr is a terminal and ``--quiet`` was not given.

    On stderr: ``asyncart pull x | tee log`` still shows it, and ``--json`` on stdout
    stays clean.
    """
    if quiet or not sys.stderr.isatty():
        return None
    # Imported here: rich costs ~0.1 s of a command's start, and only a terminal needs it.
    from asyncart.cli.progress_bar import BarProgress

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
