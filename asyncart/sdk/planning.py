"""Dry runs of a log and a download: what would move (``asyncart push|pull --dry-run``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anyio.to_thread

from asyncart.client.client import Client
from asyncart.client.dry_run import TransferPlan, plan_pull, plan_push
from asyncart.client.progress import Progress
from asyncart.client.upload import SourceFile
from asyncart.errors import ConfigError
from asyncart.sdk.artifact import BaseArtifact
from asyncart.sdk.draft_entries import DraftFile


async def plan_log(artifact: BaseArtifact, client: Client) -> TransferPlan:
    """What logging the draft ``artifact`` to ``client``'s store would upload (its files
    are read and hashed; nothing is stored)."""
    entries = artifact._draft.entries.values()
    if not entries:
        raise ConfigError(f"artifact {artifact.name!r} is empty; add files before logging it")
    files = [SourceFile(e.path, e.local, e.identity) for e in entries if isinstance(e, DraftFile)]
    async with client.use() as remote:
        return await plan_push(remote, files, client.settings)


async def plan_download(
    artifact: BaseArtifact,
    root: str | os.PathLike[str] | None,
    only: Sequence[str] | None = None,
) -> tuple[str, TransferPlan]:
    """Where the stored ``artifact`` would be downloaded (absolute) and what would be
    fetched (nothing is written there); only the ``only`` paths if given."""
    _, manifest, client = artifact._require_stored("plan a download of")
    target = await anyio.to_thread.run_sync(artifact._root, root)
    plan = await anyio.to_thread.run_sync(plan_pull, manifest, Path(target), client.settings, only)
    return await anyio.to_thread.run_sync(os.path.abspath, target), plan


async def download_root(artifact: BaseArtifact, root: str | os.PathLike[str] | None) -> Path:
    """The directory ``artifact.download(root)`` writes into (relative as given; the
    default ``./artifacts/<name>:<version>`` without ``root``)."""
    return Path(await anyio.to_thread.run_sync(artifact._root, root))


async def download_selected(
    artifact: BaseArtifact,
    root: str | os.PathLike[str] | None,
    only: Sequence[str],
    progress: Progress | None = None,
    *,
    skip_cache: bool = False,
) -> str:
    """Download only the entries ``only`` (paths of the stored ``artifact``, e.g. from a
    :class:`~asyncart.core.selection.Selection`); only their chunks move. Its absolute root."""
    return await artifact._download(root, progress, only=only, skip_cache=skip_cache)
