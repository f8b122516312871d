"""What a user adds to an artifact before it is logged.

Files, directories, references and new files. Adding only stats (and, for the
default ``mutable`` policy, snapshots) a file; its digest is read when first
asked for (``digest_of``: the draft's digest, or a file re-added under the same
name whose stat differs) and kept. Every change to the entries holds the
draft's lock, so threads adding the same file make one entry.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlparse

from asyncart.client.scan import FileIdentity, hash_file, stat_source
from asyncart.client.snapshot import snapshot_file
from asyncart.config import Settings
from asyncart.core.manifest import ManifestEntry, uri_digest
from asyncart.core.paths import TwinIndex, is_ancestor_path, normalize_entry_path
from asyncart.core.private_fs import private_dir
from asyncart.errors import ConfigError, EntryNotFound
from asyncart.sdk import portal
from asyncart.sdk.draft_entries import DraftEntry as DraftEntry
from asyncart.sdk.draft_entries import DraftFile as DraftFile
from asyncart.sdk.draft_entries import DraftKept as DraftKept
from asyncart.sdk.draft_entries import DraftReference as DraftReference
from asyncart.sdk.draft_entries import entry_name as entry_name
from asyncart.sdk.draft_entries import entry_ref as entry_ref
from asyncart.sdk.draft_entries import entry_size as entry_size

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


#: W&B's default bound on the files one ``add_reference`` of a directory may record.
DEFAULT_MAX_OBJECTS = 10_000_000


#: ``add_file`` policies: ``mutable`` snapshots the file at ``add_file`` (reflink, else a
#: copy), ``immutable`` trusts the caller not to touch it until the upload is done.
POLICIES = ("mutable", "immutable")
NEW_FILE_MODES = ("w", "wb", "x", "xb")


class Draft:
    """The entries of an artifact being built, validated as they are added."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.entries: dict[str, DraftEntry] = {}
        # Snapshots go under <cache_dir>/staging (None: decided at the first one).
        self.cache_dir = cache_dir
        self._twins = TwinIndex()  # the entries' paths, by case/normalisation-folded key
        self._digests: dict[str, str] = {}  # file digests read so far, by entry path
        self._lock = threading.RLock()
        self._staging: Path | None = None
        self._snapshots: Path | None = None
        self._snapshot_count = 0

    # -- checks ----------------------------------------------------------------------

    def _claim(self, path: str, twins: TwinIndex | None = None) -> None:
        """Raise unless a new entry may take ``path`` (no twin, no file/directory clash)."""
        (self._twins if twins is None else twins).check(path)
        for existing in self.entries:
            if is_ancestor_path(existing, path) or is_ancestor_path(path, existing):
                raise ConfigError(
                    f"entry {path!r} collides with {existing!r} (a file cannot also be a directory)"
                )

    def _same_file(self, existing: DraftEntry, local: Path, identity: FileIdentity) -> bool:
        """Whether ``local`` holds the bytes of ``existing`` (read only if stat cannot tell)."""
        if isinstance(existing, DraftKept):
            return (
                existing.stored.ref is None
                and existing.stored.size == identity.size
                and existing.stored.digest == hash_file(local, identity.size)
            )
        if not isinstance(existing, DraftFile) or existing.identity.size != identity.size:
            return False
        if existing.source == local.resolve() and existing.source_identity == identity:
            return True
        return self.digest_of(existing.path) == hash_file(local, identity.size)

    @staticmethod
    def _exists_error(path: str, how: str) -> ConfigError:
        return ConfigError(
            f"the artifact already has an entry {path!r} with other content; {how}, "
            "remove() it first, or pick another name"
        )

    @staticmethod
    def _twins_of(paths: Iterable[str]) -> TwinIndex:
        twins = TwinIndex()
        for path in paths:
            twins.add(path)
        return twins

    # -- adding ----------------------------------------------------------------------

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | os.PathLike[str] | None = None,
        policy: str = "mutable",
        *,
        is_tmp: bool = False,
        skip_cache: bool = False,
        overwrite: bool = False,
    ) -> DraftFile:
        _check_policy(policy)
        local = Path(local_path)
        identity = stat_source(local)
        path = normalize_entry_path(entry_name(name) if name is not None else local.name)
        digest = None
        if is_tmp:  # the stem becomes the content's digest: re-adds of other bytes never clash
            digest = hash_file(local, identity.size)
            head, slash, base = path.rpartition("/")
            path = head + slash + ".".join([digest[:20], *base.split(".")[1:]])
        with self._lock:
            existing = self.entries.get(path)
            if existing is None:
                self._claim(path)
            elif not overwrite:
                if self._same_file(existing, local, identity):
                    if isinstance(existing, DraftFile):
                        return existing
                    overwrite = True  # a kept entry of these bytes: now this file's
                else:
                    raise self._exists_error(path, "pass overwrite=True to replace it")
            entry = self._entry(path, local, identity, policy, skip_cache)
            self._put(path, entry)
            if digest is not None:
                self._digests[path] = digest
            return entry

    def _put(self, path: str, entry: DraftEntry) -> None:
        """Record ``entry`` (replacing the entry of that path, if any)."""
        if path in self.entries:
            self._drop(path)
        self.entries[path] = entry
        self._twins.add(path)

    def keep(self, entries: Iterable[ManifestEntry]) -> None:
        """Start from a stored version's entries (``new_draft()``)."""
        with self._lock:
            for stored in entries:
                self._claim(stored.path)
                self._put(stored.path, DraftKept(stored.path, stored))
                self._digests[stored.path] = stored.digest

    def _drop(self, path: str) -> None:
        entry = self.entries.pop(path)
        self._digests.pop(path, None)
        if isinstance(entry, DraftKept):
            return
        if self._snapshots is not None and entry.local.parent == self._snapshots:
            entry.local.unlink(missing_ok=True)

    def _entry(
        self, path: str, local: Path, identity: FileIdentity, policy: str, skip_cache: bool
    ) -> DraftFile:
        """The entry to upload: the file itself (immutable) or a snapshot of it (mutable)."""
        source = local.resolve()
        if policy == "immutable":
            return DraftFile(path, source, identity, source, identity, skip_cache)
        if self._snapshots is None:
            if self.cache_dir is None:
                self.cache_dir = snapshot_cache_dir()
            parent = private_dir(self.cache_dir / "staging")
            self._snapshots = Path(tempfile.mkdtemp(prefix="snap-", dir=parent))
            self._track(self._snapshots)
        self._snapshot_count += 1
        target = self._snapshots / f"{self._snapshot_count}-{local.name}"
        snap_identity, _ = snapshot_file(local, identity, target)
        return DraftFile(path, target, snap_identity, source, identity, skip_cache)

    def add_dir(
        self,
        local_path: str | os.PathLike[str],
        name: str | os.PathLike[str] | None = None,
        policy: str = "mutable",
        *,
        skip_cache: bool = False,
        merge: bool = False,
    ) -> list[DraftFile]:
        """Add every file below ``local_path``; all or nothing.

        A file already in the draft under the same path is kept if its bytes are the
        same, replaced with ``merge=True``, and refused otherwise.
        """
        _check_policy(policy)
        root = Path(local_path)
        if not root.is_dir():
            raise ConfigError(f"{str(root)!r} is not a directory; use add_file for single files")
        prefix = normalize_entry_path(entry_name(name)) + "/" if name else ""
        found: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
            dirnames.sort()
            for filename in sorted(filenames):
                full = Path(dirpath) / filename
                found.append((prefix + full.relative_to(root).as_posix(), full))
        with self._lock:
            # Validate everything before changing the draft: all or nothing.
            twins = self._twins_of(self.entries)  # these files' twins of each other count too
            staged = []
            for p, full in found:
                path = normalize_entry_path(p)
                identity = stat_source(full)
                existing = self.entries.get(path)
                if existing is None:
                    self._claim(path, twins)
                    twins.add(path)
                elif not merge:
                    if self._same_file(existing, full, identity):
                        continue
                    raise self._exists_error(path, "pass merge=True to replace it")
                staged.append((path, full, identity))
            added = []
            for path, full, identity in staged:
                entry = self._entry(path, full, identity, policy, skip_cache)
                self._put(path, entry)
                added.append(entry)
            return added

    def add_reference(
        self,
        uri: str,
        name: str | os.PathLike[str] | None = None,
        *,
        checksum: bool = True,
        max_objects: int | None = None,
    ) -> list[DraftReference]:
        """Record a ``file://`` URI: one entry for a file, one per file below a directory
        (``http(s)://`` and ``s3://`` ones are built by ``remote_references.py``)."""
        parsed = urlparse(uri)
        if not parsed.scheme:
            raise ConfigError(
                f"reference {uri!r} is not a URI; to reference a local file, use file://"
            )
        if parsed.scheme != "file":
            raise ConfigError(
                f"reference {uri!r}: only file://, http(s)://, s3:// and asyncart-artifact:// "
                f"URIs are supported (got scheme {parsed.scheme!r})"
            )
        local = Path(unquote(parsed.path))
        base = normalize_entry_path(entry_name(name)) if name is not None else None
        if local.is_dir():
            found = _walk_reference(uri, local, base, max_objects)
        else:
            found = [(base if base is not None else local.name, uri, local)]
        staged = [(normalize_entry_path(p), u, f, stat_source(f)) for p, u, f in found]
        return self.put_references([DraftReference(p, u, f, i, checksum) for p, u, f, i in staged])

    def put_references(self, added: list[DraftReference]) -> list[DraftReference]:
        """Add ``added`` (an entry of the same URI already there is replaced)."""
        with self._lock:
            twins = self._twins_of(self.entries)
            for ref in added:
                existing = self.entries.get(ref.path)
                if existing is None:
                    self._claim(ref.path, twins)
                    twins.add(ref.path)
                elif not (isinstance(existing, DraftReference) and existing.uri == ref.uri):
                    raise self._exists_error(ref.path, "a reference cannot replace it")
            for entry in added:
                self._put(entry.path, entry)
            return added

    @contextmanager
    def new_file(
        self, name: str | os.PathLike[str], mode: str = "x", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Open a new file to write; it is added when the block ends without an error.

        ``mode`` ``'x'``/``'xb'`` (the default) refuses a name the draft already has;
        ``'w'``/``'wb'`` replaces that entry.
        """
        if mode not in NEW_FILE_MODES:
            raise ConfigError(
                f"new_file mode {mode!r} must be one of {', '.join(map(repr, NEW_FILE_MODES))}"
            )
        path = normalize_entry_path(entry_name(name))
        overwrite = "x" not in mode
        with self._lock:
            if path in self.entries and not overwrite:
                raise ConfigError(
                    f"the artifact already has an entry {path!r}; open it with mode='w' "
                    "to replace it"
                )
            if path not in self.entries:
                self._claim(path)
            if self._staging is None:
                self._staging = Path(tempfile.mkdtemp(prefix="asyncart-new-"))
                self._track(self._staging)
            self._snapshot_count += 1
            # A directory per file: a replaced entry's bytes stay intact until replaced.
            local = self._staging.joinpath(str(self._snapshot_count), *path.split("/"))
        local.parent.mkdir(parents=True)
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding or "utf-8"}
        with open(local, mode.replace("w", "x"), **kwargs) as f:
            yield f
        # ours: nobody else writes it
        self.add_file(local, name=path, policy="immutable", skip_cache=True, overwrite=overwrite)

    # -- removing and reading ----------------------------------------------------------

    def remove(self, name: str | os.PathLike[str]) -> list[str]:
        """Remove an entry, or every entry under a directory name; the paths removed.

        Raises:
            EntryNotFound: (a ``FileNotFoundError``) nothing has that name.
        """
        path = normalize_entry_path(entry_name(name))
        with self._lock:
            removed = [p for p in self.entries if p == path or is_ancestor_path(path, p)]
            if not removed:
                raise EntryNotFound(
                    f"the artifact has no entry {path!r}; entries: {_listing(self.entries)}"
                )
            gone = set(removed)
            self._twins = self._twins_of(p for p in self.entries if p not in gone)
            for p in removed:
                self._drop(p)
            return removed

    def digest_of(self, path: str) -> str:
        """The file digest of entry ``path``: read once, then kept (I/O on the first call)."""
        with self._lock:
            known = self._digests.get(path)
            if known is not None:
                return known
            entry = self.entries[path]
        if isinstance(entry, DraftKept):
            digest = entry.stored.digest
        elif isinstance(entry, DraftReference) and entry.digest is not None:
            digest = entry.digest
        elif isinstance(entry, DraftReference) and not entry.checksum:
            digest = uri_digest(entry.uri)
        else:
            digest = hash_file(entry.local, entry.identity.size)
        with self._lock:
            if self.entries.get(path) is entry:
                self._digests[path] = digest
        return digest

    def _track(self, staging: Path) -> None:
        weakref.finalize(self, _remove_in_background, staging).atexit = False
        _live.add(self)

    def cleanup(self) -> None:
        for attr in ("_staging", "_snapshots"):
            staged = getattr(self, attr)
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
                setattr(self, attr, None)


def _walk_reference(
    uri: str, root: Path, base: str | None, max_objects: int | None
) -> list[tuple[str, str, Path]]:
    """``(entry path, file URI, local file)`` for every file below ``root``, sorted."""
    limit = max_objects or DEFAULT_MAX_OBJECTS
    found: list[tuple[str, str, Path]] = []
    prefix = base + "/" if base else ""
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
        dirnames.sort()
        for filename in sorted(filenames):
            if len(found) >= limit:
                raise ConfigError(
                    f"reference {uri!r} holds more than {limit} files; "
                    "pass a larger max_objects to add_reference"
                )
            full = Path(dirpath) / filename
            rel = full.relative_to(root).as_posix()
            found.append((prefix + rel, uri.rstrip("/") + "/" + quote(rel), full))
    return found


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


def _remove_in_background(staging: Path) -> None:
    """Remove a dropped draft's staging directory on a thread of its own: a finalizer
    runs wherever the garbage collector runs, an event loop included."""
    threading.Thread(
        target=shutil.rmtree, args=(staging, True), name="asyncart-cleanup", daemon=True
    ).start()
