"""Files in a local directory that a version does not hold (what ``asyncart verify`` reports
besides missing and changed files)."""

from __future__ import annotations

import os
from pathlib import Path

from asyncart.core.manifest import Manifest
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError


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


def _entry_path(rel: str) -> str | None:
    try:
        return normalize_entry_path(rel)
    except ConfigError:  # a name no entry can have
        return None
