"""What a user adds to an artifact before it is logged.

Files, directories, references and new files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

from asyncart.client.scan import FileIdentity, stat_source
from asyncart.client.snapshot import snapshot_file
from asyncart.config import Settings
from asyncart.core.paths import TwinIndex, is_ancestor_path, normalize_entry_path
from asyncart.core.private_fs import private_dir
from asyncart.errors import ConfigError
from asyncart.sdk import portal

# Staging directories are removed when their draft is garbage-collected or committed,
# and at exit only after pending uploads settled (a finalizer's own atexit pass would
# run first and pull the files from under an upload still in flight).
_live: weakref.WeakSet[Draft] = weakref.WeakSet()


def _remove_staging() -> None:
    for draft in list(_live):
        draft.cleanup()


portal.after_exit(_remove_staging)

# The settings of the run started last: snapshots of files added to an artifact go into
# their cache directory (``Settings.from_env()``'s before any run started).
_run_settings: Settings | None = None


def stage_snapshots_for(settings: Settings) -> None:
    """Make ``settings.cache_dir`` hold the snapshots of artifacts built from now on."""
    global _run_settings
    _run_settings = settings


def snapshot_cache_dir() -> Path:
    """Where a new draft stages its snapshots: the last run's cache dir, else the environment's."""
    return (_run_settings or Settings.from_env()).cache_dir


@dataclass(frozen=True)
class DraftFile:
    """A local file to be uploaded under ``path``."""

    path: str
    local: Path
    identity: FileIdentity


@dataclass(frozen=True)
class DraftReference:
    """A ``file://`` reference: its size and digest are recorded, its bytes are not uploaded."""

    path: str
    uri: str
    local: Path
    identity: FileIdentity


DraftEntry = DraftFile | DraftReference

#: ``add_file`` policies: ``mutable`` snapshots the file at ``add_file`` (reflink, else a
#: copy), ``immutable`` trusts the caller not to touch it until the upload is done.
POLICIES = ("mutable", "immutable")


class Draft:
    """The entries of an artifact being built, validated as they are added."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.entries: dict[str, DraftEntry] = {}
        # Snapshots go under <cache_dir>/staging (None: decided at the first one).
        self.cache_dir = cache_dir
        self._twins = TwinIndex()  # the entries' paths, by case/normalisation-folded key
        self._staging: Path | None = None
        self._snapshots: Path | None = None
        self._snapshot_count = 0

    def _claim(self, path: str, twins: TwinIndex | None = None) -> str:
        path = normalize_entry_path(path)
        (self._twins if twins is None else twins).check(path)
        if path in self.entries:
            raise ConfigError(
                f"the artifact already has an entry {path!r}; "
                "remove() it first or pick another name"
            )
        for existing in self.entries:
            if is_ancestor_path(existing, path) or is_ancestor_path(path, existing):
                raise ConfigError(
                    f"entry {path!r} collides with {existing!r} (a file cannot also be a directory)"
                )
        return path

    @staticmethod
    def _twins_of(paths: Iterable[str]) -> TwinIndex:
        twins = TwinIndex()
        for path in paths:
            twins.add(path)
        return twins

    def add_file(
        self, local_path: str | os.PathLike[str], name: str | None = None, policy: str = "mutable"
    ) -> DraftFile:
        _check_policy(policy)
        local = Path(local_path)
        identity = stat_source(local)
        path = self._claim(name if name is not None else local.name)
        entry = self._entry(path, local, identity, policy)
        self._put(path, entry)
        return entry

    def _put(self, path: str, entry: DraftEntry) -> None:
        self.entries[path] = entry
        self._twins.add(path)

    def _entry(self, path: str, local: Path, identity: FileIdentity, policy: str) -> DraftFile:
        """The entry to upload: the file itself (immutable) or a snapshot of it (mutable)."""
        if policy == "immutable":
            return DraftFile(path, local.resolve(), identity)
        if self._snapshots is None:
            if self.cache_dir is None:
                self.cache_dir = snapshot_cache_dir()
            parent = private_dir(self.cache_dir / "staging")
            self._snapshots = Path(tempfile.mkdtemp(prefix="snap-", dir=parent))
            self._track(self._snapshots)
        self._snapshot_count += 1
        target = self._snapshots / f"{self._snapshot_count}-{local.name}"
        snap_identity, _ = snapshot_file(local, identity, target)
        return DraftFile(path, target, snap_identity)

    def add_dir(
        self, local_path: str | os.PathLike[str], name: str | None = None, policy: str = "mutable"
    ) -> list[DraftFile]:
        _check_policy(policy)
        root = Path(local_path)
        if not root.is_dir():
            raise ConfigError(f"{str(root)!r} is not a directory; use add_file for single files")
        prefix = normalize_entry_path(name) + "/" if name else ""
        found: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
            dirnames.sort()
            for filename in sorted(filenames):
                full = Path(dirpath) / filename
                rel = full.relative_to(root).as_posix()
                found.append((prefix + rel, full))
        # Validate everything before changing the draft: all or nothing.
        twins = self._twins_of(self.entries)  # these files' twins of each other count too
        staged = []
        for p, full in found:
            path = self._claim(p, twins)
            twins.add(path)
            staged.append((path, full, stat_source(full)))
        added = []
        for path, full, identity in staged:
            entry = self._entry(path, full, identity, policy)
            self._put(path, entry)
            added.append(entry)
        return added

    def add_reference(self, uri: str, name: str | None = None) -> DraftReference:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ConfigError(
                f"reference {uri!r}: only file:// URIs are supported (got scheme {parsed.scheme!r})"
            )
        local = Path(unquote(parsed.path))
        identity = stat_source(local)
        path = self._claim(name if name is not None else local.name)
        entry = DraftReference(path, uri, local, identity)
        self._put(path, entry)
        return entry

    @contextmanager
    def new_file(
        self, name: str, mode: str = "w", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        if mode not in ("w", "wb", "x", "xb"):
            raise ConfigError(f"new_file mode {mode!r} must be one of 'w', 'wb', 'x', 'xb'")
        path = normalize_entry_path(name)
        if path in self.entries:
            raise ConfigError(f"the artifact already has an entry {path!r}")
        self._twins.check(path)
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="asyncart-new-"))
            self._track(self._staging)
        local = self._staging.joinpath(*path.split("/"))
        local.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding or "utf-8"}
        with open(local, mode.replace("x", "w"), **kwargs) as f:
            yield f
        self.add_file(local, name=path, policy="immutable")  # ours: nobody else writes it

    def remove(self, name: str) -> None:
        path = normalize_entry_path(name)
        removed = [p for p in self.entries if p == path or is_ancestor_path(path, p)]
        if not removed:
            raise ConfigError(
                f"the artifact has no entry {path!r}; entries: {_listing(self.entries)}"
            )
        gone = set(removed)
        self._twins = self._twins_of(p for p in self.entries if p not in gone)
        for p in removed:
            entry = self.entries.pop(p)
            if self._snapshots is not None and entry.local.parent == self._snapshots:
                entry.local.unlink(missing_ok=True)

    def _track(self, staging: Path) -> None:
        weakref.finalize(self, shutil.rmtree, staging, True).atexit = False
        _live.add(self)

    def cleanup(self) -> None:
        for attr in ("_staging", "_snapshots"):
            staged = getattr(self, attr)
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
                setattr(self, attr, None)


def _check_policy(policy: str) -> None:
    if policy not in POLICIES:
        raise ConfigError(f"policy must be one of {', '.join(map(repr, POLICIES))}, not {policy!r}")


def _raise_walk_error(exc: OSError) -> None:
    raise ConfigError(f"cannot read directory {exc.filename!r}: {exc.strerror}")


def _listing(names: dict[str, Any] | list[str], limit: int = 10) -> str:
    items = sorted(names)
    if not items:
        return "(none)"
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items) - limit} more)" if len(items) > limit else "")
