"""Snapshots of files added to an artifact, so a later overwrite cannot tear a version.

``snapshot_file`` clones the file (``FICLONE``: a copy-on-write reflink, instant
on btrfs, XFS, bcachefs...) or, where the file system cannot, copies it, into a
staging directory the caller owns. The source must not change while it is
copied: its identity (size, mtime, ctime, inode) is checked before and after,
and a change raises FileChangedError at once, in the caller's thread.

A hard link is not used: it shares the inode, so an in-place rewrite of the
source (``torch.save(state, 'model.pt')`` truncates and rewrites) would change
the "snapshot" too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from asyncart.client.scan import FileIdentity, open_checked
from asyncart.errors import ConfigError, FileChangedError

FICLONE = 0x40049409  # _IOW(0x94, 9, int), linux/fs.h


def snapshot_file(source: Path, expected: FileIdentity, target: Path) -> tuple[FileIdentity, bool]:
    """Clone or copy ``source`` (still ``expected``) to ``target`` (must not exist).

    Returns the snapshot's identity and whether it is a reflink (False: a copy).

    Raises:
        FileChangedError: ``source`` changed before or while it was copied.
        ConfigError: ``target`` could not be written (e.g. the disk is full).
    """
    src = open_checked(source, expected)
    try:
        try:
            dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot stage a snapshot of {str(source)!r}: {exc}") from None
        try:
            reflinked = _reflink(src, dst)
            if not reflinked:
                with open(src, "rb", closefd=False) as fin, open(dst, "wb", closefd=False) as fout:
                    shutil.copyfileobj(fin, fout, 8 << 20)
        except OSError as exc:
            os.close(dst)
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise ConfigError(f"cannot stage a snapshot of {str(source)!r}: {exc}") from None
        identity = FileIdentity.of(os.fstat(dst))
        os.close(dst)
        after = (FileIdentity.of(os.fstat(src)), FileIdentity.of(os.stat(source)))
        if after != (expected, expected):
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise FileChangedError(
                f"file {str(source)!r} changed while add_file copied it; add it again once "
                "it is no longer being written"
            )
        return identity, reflinked
    finally:
        os.close(src)


def _reflink(src: int, dst: int) -> bool:
    try:
        fcntl.ioctl(dst, FICLONE, src)
    except OSError:
        return False  # EOPNOTSUPP, EXDEV, EINVAL...: not a reflink-capable file system
    return True
