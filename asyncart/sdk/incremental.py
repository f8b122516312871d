"""W&B's incremental artifacts (``Artifact(name, type, incremental=True)``).

Logging one makes a version of the collection's ``latest`` entries plus what the draft
added, as if the draft were ``new_draft()`` of ``latest``: the entries taken from
``latest`` are kept (committed as they are, their bytes never read or sent); only the
draft's own files are pushed. A draft entry wins over a ``latest`` entry of the same
path, and over one it cannot sit beside (a file where the draft has a directory, a
path that differs only in letter case). With no ``latest`` yet (a new collection, or
every version deleted), the version holds the draft's entries alone, as W&B's first
incremental version does.

``latest`` is read when the log starts. Logs of one name from one run go one after
another, so each builds on the one before; two runs logging at once may both build
on the same ``latest`` (the later commit then lacks the other's additions).
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection

from asyncart.client.remote import Remote
from asyncart.core.manifest import ManifestEntry
from asyncart.core.names import LATEST
from asyncart.core.paths import TwinIndex
from asyncart.errors import AliasNotFound, ArtifactNotFound, ConfigError, VersionNotFound


async def latest_entries(
    remote: Remote, project: str, name: str, added: Collection[str]
) -> tuple[ManifestEntry, ...]:
    """The entries of ``project/name:latest`` that a draft adding the paths ``added``
    keeps; none when the collection has no ``latest``."""
    try:
        manifest = await remote.get_manifest(project, name, LATEST)
    except (ArtifactNotFound, VersionNotFound, AliasNotFound):
        return ()
    index = _index(added)
    return tuple(e for e in manifest if not _shadowed(e.path, added, index))


def _index(paths: Collection[str]) -> tuple[TwinIndex, set[str]]:
    """The twins of ``paths`` and every directory above one of them."""
    twins = TwinIndex()
    dirs: set[str] = set()
    for path in paths:
        twins.add(path)
        parent = posixpath.dirname(path)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    return twins, dirs


def _shadowed(path: str, added: Collection[str], index: tuple[TwinIndex, set[str]]) -> bool:
    """Whether a stored entry at ``path`` gives way to the draft's entries ``added``."""
    twins, dirs = index
    if path in added or path in dirs:
        return True
    parent = posixpath.dirname(path)
    while parent:
        if parent in added:
            return True
        parent = posixpath.dirname(parent)
    try:
        twins.check(path)
    except ConfigError:
        return True
    return False
