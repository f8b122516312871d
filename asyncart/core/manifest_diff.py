"""What changed between two manifests: files added, removed, changed, renamed, unchanged,
and the bytes that differ at chunk level.

Pure: it reads two :class:`~asyncart.core.manifest.Manifest` objects and nothing else,
so comparing two versions costs two manifest reads and no pack bytes, whatever their size.

The byte figures come from chunk lists (content-defined chunks, so an insertion shifts
no later chunk boundaries):

- a changed file's ``differing_bytes``: bytes of its new content in chunks its old
  content (same path) does not hold, counted per occurrence (0 up to its size);
- ``new_bytes``: bytes of distinct chunks of B that no file of A holds (what storing B
  next to A adds; what a push of B to a store holding A sends);
- ``shared_bytes``: bytes of distinct chunks of B that A holds too.

A reference entry (``add_reference``) has no stored chunks: it counts as changed when its
digest changed, with its whole size differing, and adds nothing to the chunk totals.
A rename is a path of A gone from B while a new path of B has the same file digest;
empty files are never paired (any two would match).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from asyncart.core.manifest import Manifest, ManifestEntry

Status = Literal["added", "removed", "changed", "renamed", "unchanged"]
STATUSES: tuple[Status, ...] = ("added", "removed", "changed", "renamed", "unchanged")


@dataclass(frozen=True)
class FileDiff:
    """One path of the comparison.

    ``path`` is B's path (A's for a removed file); ``old_path`` A's path of a rename.
    Sizes and digests are None on the side that lacks the file.
    """

    status: Status
    path: str
    old_path: str | None
    old_size: int | None
    new_size: int | None
    old_digest: str | None
    new_digest: str | None
    differing_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "path": self.path,
            "old_path": self.old_path,
            "old_size": self.old_size,
            "new_size": self.new_size,
            "old_digest": self.old_digest,
            "new_digest": self.new_digest,
            "differing_bytes": self.differing_bytes,
        }


@dataclass(frozen=True)
class ManifestDiff:
    """The comparison of manifest A (old) with manifest B (new); see the module docstring."""

    files: tuple[FileDiff, ...]
    old_size: int
    new_size: int
    new_bytes: int
    shared_bytes: int

    def of(self, status: Status) -> list[FileDiff]:
        """The files of one status, in path order."""
        return [f for f in self.files if f.status == status]

    def counts(self) -> dict[Status, int]:
        """How many files each status holds (every status present, zero or more)."""
        out: dict[Status, int] = dict.fromkeys(STATUSES, 0)
        for f in self.files:
            out[f.status] += 1
        return out

    @property
    def identical(self) -> bool:
        """True when every file is unchanged (renames count as a change)."""
        return all(f.status == "unchanged" for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": [f.to_json() for f in self.files if f.status != "unchanged"],
            "unchanged": [f.path for f in self.files if f.status == "unchanged"],
            "counts": self.counts(),
            "old_size": self.old_size,
            "new_size": self.new_size,
            "new_bytes": self.new_bytes,
            "shared_bytes": self.shared_bytes,
        }


def diff_manifests(old: Manifest, new: Manifest) -> ManifestDiff:
    """Compare ``old`` (A) with ``new`` (B): O(entries + chunks) time and memory."""
    files: list[FileDiff] = []
    gone: list[ManifestEntry] = []
    for a in old:
        b = new.get(a.path)
        if b is None:
            gone.append(a)
        elif b.digest == a.digest:
            files.append(_pair("unchanged", a, b, 0))
        else:
            files.append(_pair("changed", a, b, _differing(a, b)))
    arrived = [b for b in new if old.get(b.path) is None]
    renamed, gone, arrived = _renames(gone, arrived)
    files += renamed
    files += [FileDiff("removed", a.path, None, a.size, None, a.digest, None, 0) for a in gone]
    files += [
        FileDiff("added", b.path, None, None, b.size, None, b.digest, b.size) for b in arrived
    ]
    files.sort(key=lambda f: f.path)
    held = _chunk_sizes(old)
    fresh = _chunk_sizes(new)
    shared = sum(size for h, size in fresh.items() if h in held)
    return ManifestDiff(
        files=tuple(files),
        old_size=old.size,
        new_size=new.size,
        new_bytes=sum(fresh.values()) - shared,
        shared_bytes=shared,
    )


def _pair(status: Status, a: ManifestEntry, b: ManifestEntry, differing: int) -> FileDiff:
    old_path = a.path if status == "renamed" else None
    return FileDiff(status, b.path, old_path, a.size, b.size, a.digest, b.digest, differing)


def _differing(a: ManifestEntry, b: ManifestEntry) -> int:
    if a.ref is not None or b.ref is not None or (b.size and not b.chunks):
        return b.size
    held = {c.hash for c in a.chunks}
    return sum(c.size for c in b.chunks if c.hash not in held)


def _renames(
    gone: list[ManifestEntry], arrived: list[ManifestEntry]
) -> tuple[list[FileDiff], list[ManifestEntry], list[ManifestEntry]]:
    """Pair removed and added paths of one digest, in path order, one to one."""
    by_digest: dict[str, list[ManifestEntry]] = defaultdict(list)
    for a in gone:
        if a.size:
            by_digest[a.digest].append(a)
    renamed: list[FileDiff] = []
    paired: set[str] = set()
    left: list[ManifestEntry] = []
    for b in arrived:
        candidates = by_digest.get(b.digest)
        if b.size and candidates:
            a = candidates.pop(0)
            paired.add(a.path)
            renamed.append(_pair("renamed", a, b, 0))
        else:
            left.append(b)
    return renamed, [a for a in gone if a.path not in paired], left


def _chunk_sizes(manifest: Manifest) -> dict[str, int]:
    """Each distinct stored chunk of ``manifest`` and its size (references hold none)."""
    return {c.hash: c.size for e in manifest if e.ref is None for c in e.chunks}
