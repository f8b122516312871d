"""A directory compared with a version's manifest: what ``verify`` and ``checkout`` look at.

``verify_directory`` lists every way the directory is not the version (a file
missing, extra, of another size or content); ``files_not_in`` lists the files
``checkout`` removes. Both are sync (file system walks): callers run them in a
worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path

from asyncart.client.scan import hash_file
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.paths import normalize_entry_path, safe_join
from asyncart.errors import ConfigError

NOT_IN_THE_ARTIFACT = "not in the artifact"  # how verify_directory names an extra file


def extra_files(manifest: Manifest, root: Path) -> list[str]:
    """The files under ``root`` that ``manifest`` has no entry for, as sorted ``/``-separated
    paths relative to ``root`` (symbolic links count as files and are not followed; a pull's
    left-over ``.asyncart-part`` files are extra too). Empty when ``root`` does not exist."""
    wanted = {entry.path for entry in manifest}
    found: list[str] = []
    for directory, subdirs, names in os.walk(root):
        base = Path(directory).relative_to(root)
        links = [d for d in subdirs if (Path(directory) / d).is_symlink()]
        for name in [*names, *links]:  # os.walk does not descend into linked directories
            rel = (base / name).as_posix()
            if _entry_path(rel) not in wanted:
                found.append(rel)
    return sorted(found)


def files_not_in(manifest: Manifest, root: Path) -> list[Path]:
    """:func:`extra_files` as paths under ``root`` (what ``checkout`` removes)."""
    return [root.joinpath(*rel.split("/")) for rel in extra_files(manifest, root)]


def _entry_path(rel: str) -> str | None:
    try:
        return normalize_entry_path(rel)
    except ConfigError:  # a name no entry can have
        return None


def _content_known(entry: ManifestEntry) -> bool:
    """Whether the entry's digest is of its bytes: a stored file, or a checksummed file://
    reference (an http(s) reference's is of its URL and ETag; an unchecked one's of its URI)."""
    if entry.ref is None:
        return True
    return entry.checksummed and entry.ref.startswith("file:")


def verify_directory(manifest: Manifest, root: Path) -> list[str]:
    """Every way ``root`` differs from ``manifest`` (empty: verified), missing files first."""
    problems = []
    for entry in manifest:
        target = safe_join(root, entry.path)
        if not target.is_file():
            problems.append(f"{entry.path}: missing")
        elif not _content_known(entry):
            continue  # nothing to compare the bytes with
        elif target.stat().st_size != entry.size:
            problems.append(f"{entry.path}: size {target.stat().st_size}, expected {entry.size}")
        elif hash_file(target) != entry.digest:
            problems.append(f"{entry.path}: content differs from digest {entry.digest}")
    for rel in extra_files(manifest, root):
        problems.append(f"{rel}: {NOT_IN_THE_ARTIFACT}")
    return problems
