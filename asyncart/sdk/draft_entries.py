"""The entries of a draft: files to upload, references to record, and entries kept from
the version a draft was made from (``new_draft()``); how each is named and sized.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from asyncart.client.publish import Reference
from asyncart.client.scan import FileIdentity
from asyncart.core.manifest import ManifestEntry


@dataclass(frozen=True)
class DraftFile:
    """A local file to be uploaded under ``path``.

    ``local``/``identity``: what is uploaded (the snapshot, for ``mutable``);
    ``source``/``source_identity``: the file the user added, as it was then.
    """

    path: str
    local: Path
    identity: FileIdentity
    source: Path
    source_identity: FileIdentity
    skip_cache: bool = False


#: A reference in a draft is what a publication records: the client's own record (its
#: size and digest are recorded, its bytes are not uploaded; see ``Reference``).
DraftReference = Reference


@dataclass(frozen=True)
class DraftKept:
    """An entry of the version a draft was made from (``new_draft()``): committed as it
    is, its bytes already in the store (nothing is read or uploaded for it)."""

    path: str
    stored: ManifestEntry


DraftEntry = DraftFile | DraftReference | DraftKept


def entry_size(entry: DraftEntry) -> int:
    """The bytes an entry stands for."""
    return entry.stored.size if isinstance(entry, DraftKept) else entry.identity.size


def entry_ref(entry: DraftEntry) -> str | None:
    """The URI a reference entry records (None for a file)."""
    if isinstance(entry, DraftReference):
        return entry.uri
    return entry.stored.ref if isinstance(entry, DraftKept) else None


def entry_name(name: str | os.PathLike[str]) -> str:
    """An entry name from a string or any path object (a Windows path in POSIX form)."""
    if isinstance(name, PureWindowsPath):
        return name.as_posix()
    if isinstance(name, os.PathLike):
        return Path(os.fspath(name)).as_posix()
    return name
