"""Getting a logged version's files: ``download``, ``checkout``, ``file``, ``verify``.

``DownloadCore`` holds the async logic of every artifact (it is a base of
``BaseArtifact``); ``SyncDownloads`` and ``AsyncDownloads`` are the public
methods of ``Artifact`` (through the portal) and ``asyncart.aio.Artifact``
(awaited). Each returns an absolute path, as W&B's ``download`` does.

Default roots: ``./artifacts/<name>:<version>``; ``checkout`` keeps a collection's
files in ``./artifacts/<name>`` (W&B's defaults).
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from asyncart.client.artifact_references import (
    has_artifact_references,
    resolve_artifact_references,
)
from asyncart.client.client import Client
from asyncart.client.download import default_root, download_manifest
from asyncart.client.lazy_file import READ_AHEAD, LazyFile
from asyncart.client.progress import Progress, TransferStats
from asyncart.client.streaming import PREFETCH
from asyncart.client.tree_check import files_not_in, verify_directory
from asyncart.core.humanize import count
from asyncart.core.manifest import Manifest
from asyncart.core.models import VersionInfo
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError, VerificationFailed
from asyncart.sdk import portal
from asyncart.sdk.draft import entry_name
from asyncart.sdk.identity import source_of
from asyncart.sdk.lazy import ArtifactFile, open_lazy
from asyncart.sdk.pending import report
from asyncart.sdk.streaming import AsyncFileStream, iter_files_sync, selected_entries

Root = str | os.PathLike[str] | None


class DownloadCore:
    """The async implementations behind every artifact's download methods."""

    _last_transfer: TransferStats | None

    if TYPE_CHECKING:  # provided by BaseArtifact

        def _require_stored(self, action: str) -> tuple[VersionInfo, Manifest, Client]: ...

        @property
        def qualified_name(self) -> str: ...

    def _root(self, root: Root, *, versioned: bool = True) -> Path:
        """``root``, or the default one (its symlinks are resolved: call in a thread)."""
        if root is not None:
            return Path(root)
        # A link downloads where its source does (W&B's root is the source's name).
        source = source_of(self._require_stored("download")[0])
        return default_root(source.name, source.version if versioned else None)

    async def _download(
        self,
        root: Root = None,
        progress: Progress | None = None,
        *,
        path_prefix: str | os.PathLike[str] | None = None,
        allow_missing_references: bool = False,
        only: Sequence[str] | None = None,
        skip_cache: bool = False,
    ) -> str:
        _, manifest, client = self._require_stored("download")
        target = await anyio.to_thread.run_sync(self._root, root)
        missing: list[str] | None = [] if allow_missing_references else None
        stats = TransferStats()
        async with client.use() as remote:
            if has_artifact_references(manifest):
                manifest = await resolve_artifact_references(remote, manifest, missing)
            if path_prefix is not None:
                prefix = entry_name(path_prefix)  # a plain prefix, as W&B's: 'a' matches 'ab.txt'
                only = [e.path for e in manifest if e.path.startswith(prefix)]
            await download_manifest(
                remote,
                manifest,
                target,
                client.settings,
                stats,
                progress,
                only,
                missing,
                use_cache=not skip_cache,
            )
        self._last_transfer = stats
        if missing:
            report(
                f"{count(len(missing), 'reference')} of {self.qualified_name} not found, "
                f"skipped: {', '.join(missing[:10])}"
            )
        return await anyio.to_thread.run_sync(os.path.abspath, target)  # reads the cwd

    async def _download_file(
        self, path: str, root: Root = None, *, skip_cache: bool = False
    ) -> str:
        _, manifest, client = self._require_stored("download")
        target = await anyio.to_thread.run_sync(self._root, root)
        async with client.use() as remote:
            if has_artifact_references(manifest):
                only = [normalize_entry_path(path)]
                manifest = await resolve_artifact_references(remote, manifest, None, only)
            await download_manifest(
                remote, manifest, target, client.settings, only=[path], use_cache=not skip_cache
            )
        entry = manifest.get(path)
        assert entry is not None
        local = target.joinpath(*entry.path.split("/"))
        return await anyio.to_thread.run_sync(os.path.abspath, local)  # reads the cwd

    async def _checkout(self, root: Root = None) -> str:
        manifest = self._require_stored("check out")[1]
        target = await anyio.to_thread.run_sync(lambda: self._root(root, versioned=False))
        await anyio.to_thread.run_sync(_remove_files_not_in, manifest, target)
        return await self._download(target)

    async def _file(self, root: Root = None) -> str:
        manifest = self._require_stored("get the file of")[1]
        if len(manifest) != 1:
            raise ConfigError(
                f"artifact {self.qualified_name} holds {len(manifest)} files, not one; call "
                "download() for all of them, or get_entry(name).download() for one"
            )
        (entry,) = manifest
        return await self._download_file(entry.path, root)

    async def _verify(self, root: Root = None) -> None:
        manifest = self._require_stored("verify")[1]
        target = await anyio.to_thread.run_sync(self._root, root)
        problems = await anyio.to_thread.run_sync(verify_directory, manifest, target)
        if problems:
            raise VerificationFailed(
                f"{target} does not match {self.qualified_name}: " + "; ".join(problems[:10])
            )


def _remove_files_not_in(manifest: Manifest, root: Path) -> None:
    for path in files_not_in(manifest, root):
        path.unlink(missing_ok=True)


class SyncDownloads(DownloadCore):
    """The download methods of :class:`asyncart.Artifact` (each blocks until done)."""

    def download(
        self,
        root: Root = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | os.PathLike[str] | None = None,
        multipart: bool | None = None,
    ) -> str:
        """Download the version (each file verified) into ``root``; its absolute path.

        ``root`` defaults to ``./artifacts/<name>:<version>``. Files already there
        and right are kept; others are left alone (``checkout`` removes them).
        ``path_prefix``: only the entries whose path starts with it.
        ``allow_missing_references``: a reference whose target is gone is skipped
        (and named on stderr) instead of raising ``FileNotFoundError``.
        ``skip_cache=True``: neither read nor fill the download cache
        (``ASYNCART_CACHE_DIR``; a server's files are otherwise served from it when
        there, and stored in it when fetched). ``multipart`` is accepted for W&B's
        callers: asyncart always fetches large files in parallel ranges.
        """
        return portal.call(
            self._sync_download, root, path_prefix, allow_missing_references, bool(skip_cache)
        )

    async def _sync_download(
        self,
        root: Root,
        path_prefix: str | os.PathLike[str] | None,
        allow_missing: bool,
        skip_cache: bool = False,
    ) -> str:
        return await self._download(
            root,
            path_prefix=path_prefix,
            allow_missing_references=allow_missing,
            skip_cache=skip_cache,
        )

    def open(
        self,
        path: str | os.PathLike[str],
        read_ahead: int = READ_AHEAD,
        *,
        skip_cache: bool = False,
    ) -> ArtifactFile:
        """The file at ``path``, to read lazily: a read-only, seekable binary file object
        that fetches only the chunks covering what is read, each verified by its BLAKE3
        hash before a byte of it is returned (``client/lazy_file.py``). Sequential reads
        fetch ahead, up to ``read_ahead`` bytes. Close it (or use ``with``).

        A file the download cache holds whole is read from the cache (each chunk
        checked, the entry kept from eviction while the file is open) unless
        ``skip_cache``; a read never fills the cache.

        Raises:
            EntryNotFound: (a ``KeyError``/``FileNotFoundError``) no such file.
            ConfigError: the entry is a reference, or the artifact was never logged.
        """
        self._require_stored("open a file of")  # waits for a log in flight, in this thread
        return ArtifactFile(portal.call(open_lazy, self, path, read_ahead, skip_cache))

    def iter_files(
        self, prefix: str | os.PathLike[str] | None = None, prefetch: int = PREFETCH
    ) -> Generator[tuple[str, io.BytesIO | ArtifactFile], None, None]:
        """Yield ``(path, file object)`` for the files under ``prefix`` (a plain string
        prefix) in manifest order, fetching ahead while the loop body runs; memory stays
        within about ``prefetch`` bytes (``sdk/streaming.py``). Each file object is closed
        when the loop takes the next one. Small files come fetched whole and checked
        against their digest; large ones are read lazily, as :meth:`open`.

        Raises:
            ConfigError: a selected entry is a reference, or ``prefetch`` < 1 MiB.
        """
        return iter_files_sync(self, prefix, prefetch)

    def checkout(self, root: Root = None) -> str:
        """Make ``root`` hold exactly this version: remove every file that is not one of
        its entries, then download. ``root`` defaults to ``./artifacts/<name>``."""
        return portal.call(self._checkout, root)

    def file(self, root: Root = None) -> str:
        """Download the one file of a single-file artifact; its absolute path.

        Raises:
            ConfigError: (a ``ValueError``) the artifact holds more than one file.
        """
        return portal.call(self._file, root)

    def verify(self, root: Root = None) -> None:
        """Check that ``root`` (default ``./artifacts/<name>:<version>``) holds exactly
        this version: no file missing, extra, or with other bytes.

        Raises:
            VerificationFailed: (a ``ValueError``) naming what differs.
        """
        portal.call(self._verify, root)


class AsyncDownloads(DownloadCore):
    """The download methods of :class:`asyncart.aio.Artifact` (coroutines)."""

    async def download(
        self,
        root: Root = None,
        allow_missing_references: bool = False,
        skip_cache: bool | None = None,
        path_prefix: str | os.PathLike[str] | None = None,
        multipart: bool | None = None,
        *,
        progress: Progress | None = None,
    ) -> str:
        """Download the version (each file verified) into ``root``; its absolute path.

        As :meth:`SyncDownloads.download`. ``progress`` hears the transfer as it goes;
        ``last_transfer`` holds its totals afterwards (bytes downloaded, reused from
        local files, resumed).
        """
        return await self._download(
            root,
            progress,
            path_prefix=path_prefix,
            allow_missing_references=allow_missing_references,
            skip_cache=bool(skip_cache),
        )

    async def download_file(self, name: str, root: Root = None) -> str:
        """Download one file (verified); its absolute local path."""
        return await self._download_file(name, root)

    async def open(
        self,
        path: str | os.PathLike[str],
        read_ahead: int = READ_AHEAD,
        *,
        skip_cache: bool = False,
    ) -> LazyFile:
        """As :meth:`SyncDownloads.open`; the file's ``read``/``readinto``/``aclose`` are
        coroutines (``seek``/``tell`` are not), and ``async with`` closes it."""
        return await open_lazy(self, path, read_ahead, skip_cache)

    def iter_files(
        self, prefix: str | os.PathLike[str] | None = None, prefetch: int = PREFETCH
    ) -> AsyncFileStream:
        """As :meth:`SyncDownloads.iter_files`, as an async context manager to iterate:
        ``async with art.iter_files("train/") as files: async for path, f in files: ...``
        (small files are ``io.BytesIO``, large ones lazy files with awaited reads)."""
        return AsyncFileStream(self, selected_entries(self, prefix, prefetch), prefetch)

    async def checkout(self, root: Root = None) -> str:
        """As :meth:`SyncDownloads.checkout`."""
        return await self._checkout(root)

    async def file(self, root: Root = None) -> str:
        """As :meth:`SyncDownloads.file`."""
        return await self._file(root)

    async def verify(self, root: Root = None) -> None:
        """As :meth:`SyncDownloads.verify`: raises ``VerificationFailed`` (a ``ValueError``)."""
        await self._verify(root)
