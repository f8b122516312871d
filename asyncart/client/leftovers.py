"""What an interrupted pull leaves in its directory: part files and their journals.

A pull writes each file to ``X.asyncart-part`` (blocks of a large one reserved up
front, so it takes the file's whole size on disk from the start) with
``X.asyncart-journal`` beside it; the next pull of the same version resumes from them.
:func:`find_leftovers` lists them, :func:`remove_leftovers` removes those no longer
wanted: all (``asyncart pull --clean``), or those of files the version pulled into the
directory does not have (after a pull of another version there).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from asyncart.client import side_files
from asyncart.core.paths import JOURNAL_SUFFIX, RESERVED_SUFFIX, sidecar_path
from asyncart.errors import ConfigError


@dataclass(frozen=True)
class Leftover:
    """One side file a pull left: its path and its size on disk (allocated blocks)."""

    path: Path
    disk_bytes: int

    @property
    def is_part(self) -> bool:
        return self.path.name.endswith(RESERVED_SUFFIX)


def find_leftovers(root: Path) -> list[Leftover]:
    """The part files and journals under ``root`` (symbolic links are not followed)."""
    found: list[Leftover] = []
    if not root.is_dir():
        return found
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith((RESERVED_SUFFIX, JOURNAL_SUFFIX)):
                path = Path(folder, name)
                try:
                    st = os.lstat(path)
                except FileNotFoundError:
                    continue
                found.append(Leftover(path, st.st_blocks * 512))
    return sorted(found, key=lambda f: f.path)


def remove_leftovers(
    root: Path, keep: Collection[str] = (), *, strict: bool = True
) -> list[Leftover]:
    """Remove the part files and journals under ``root`` except those of the entry paths
    in ``keep``; return what was removed. Something at such a name that is not a file of
    ours (a link, a file with several links) is never removed.

    Raises:
        ConfigError: ``strict`` and such a thing was found (it is named).
    """
    kept = {
        sidecar_path(root / path, suffix)
        for path in keep
        for suffix in (RESERVED_SUFFIX, JOURNAL_SUFFIX)
    }
    removed = []
    for leftover in find_leftovers(root):
        if leftover.path in kept:
            continue
        try:
            ours = side_files.check(leftover.path)
        except ConfigError:
            if strict:
                raise
            continue
        if ours:
            leftover.path.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def part_bytes(leftovers: list[Leftover]) -> int:
    """Disk space the part files among ``leftovers`` take."""
    return sum(f.disk_bytes for f in leftovers if f.is_part)
