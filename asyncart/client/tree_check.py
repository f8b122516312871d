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
from asyncart.core.paths import safe_join


def files_not_in(manifest: Manifest, root: Path) -> list[Path]:
    """The files (and symlinks) under ``root`` that are not entries of ``manifest``, sorted.

    A missing ``root`` holds none. Directories are walked, not followed through symlinks.
    """
    paths = {entry.path for entry in manifest}
    extra: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        names = list(filenames) + [d for d in dirnames if (here / d).is_symlink()]
        for name in sorted(names):
            local = here / name
            if local.relative_to(root).as_posix() not in paths:
                extra.append(local)
    return extra


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
    for local in files_not_in(manifest, root):
        problems.append(f"{local.relative_to(root).as_posix()}: not in the artifact")
    return problems
