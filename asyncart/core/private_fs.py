"""Private files and directories: what asyncart creates on disk, only its owner may read.

Stores (``meta.db``, packs, temporary files), the client's caches and its staging hold
the bytes of what users push. Created with the usual 0644 / 0755, a 0600 file pushed to
a store became readable by every local user. Everything asyncart creates is 0700 (a
directory) or 0600 (a file), whatever the umask; :func:`tighten` narrows what an older
version created, where the process owns it.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 directories; return it.

    Parents that exist already are left as they are (a home directory is not ours);
    ``path`` itself is tightened to 0700 if this process owns it.
    """
    missing = []
    walk = path
    while not walk.exists():
        missing.append(walk)
        if walk.parent == walk:
            break
        walk = walk.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent creator won the race
            directory.mkdir(mode=PRIVATE_DIR)
        tighten(directory)
    tighten(path)
    return path


def create_private(path: Path | str, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """``os.open(path, flags, 0o600)``, the mode then forced to 0600 (umask aside)."""
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        info = os.fstat(fd)
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def tighten(path: Path) -> None:
    """Take group and other bits off ``path`` if this process owns it (else leave it)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and info.st_uid == os.geteuid():
        with contextlib.suppress(PermissionError):
            path.chmod(mode & ~0o077)
