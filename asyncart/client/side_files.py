"""Opening the files a pull keeps beside its targets, without ever following a link.

A pull writes ``X.asyncart-part`` and ``X.asyncart-journal`` beside each file ``X``
and ``<target>.asyncart-lock`` beside the target directory. Whoever can write in
those directories could plant a symlink (or a hard link, a FIFO) at one of these
names, and a pull that opened it by name would write, create or truncate a file
elsewhere. So every side file is opened with ``O_NOFOLLOW`` and checked (``fstat``)
to be a regular file with one link; one that is not is refused with a
:class:`ConfigError` naming it, and nothing is written through it. Side files are
created with ``O_EXCL``, after removing a stale one of ours (unlinking removes the
name, never what a link points to).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from asyncart.errors import ConfigError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at the name must not block open


def _refusal(path: Path, what: str) -> ConfigError:
    return ConfigError(
        f"{str(path)!r} is {what}, not a file asyncart left there; a pull never writes "
        "through it: remove it (after checking who put it there) and pull again"
    )


def _kind(st: os.stat_result) -> str | None:
    """What is wrong with a side file's ``lstat``/``fstat`` (None: a file of ours)."""
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_nlink > 1:
        return f"a file with {st.st_nlink} hard links"
    return None


def check(path: Path) -> bool:
    """Whether a side file exists at ``path``; ConfigError if it is not one of ours."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    problem = _kind(st)
    if problem is not None:
        raise _refusal(path, problem)
    return True


def open_existing(path: Path, flags: int) -> int:
    """Open the side file at ``path`` (``flags``: O_RDONLY, O_WRONLY, O_APPEND…), never
    through a link.

    Raises:
        ConfigError: ``path`` is a symlink, hard link, FIFO, device or directory.
        FileNotFoundError: nothing is there.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC | _NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refusal(path, "a symbolic link") from None
        raise
    try:
        problem = _kind(os.fstat(fd))
        if problem is not None:
            raise _refusal(path, problem)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create(path: Path, flags: int = os.O_WRONLY, mode: int = 0o666, *, replace: bool = True) -> int:
    """Create the side file ``path`` (``O_EXCL``) and return it open with ``flags``; with
    ``replace``, a stale one of ours is removed first.

    Raises:
        ConfigError: something other than a file of ours is at ``path``.
        FileExistsError: without ``replace``, a file is already there.
    """
    if replace and check(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    except FileExistsError:
        if not replace:
            raise
        # Created between the unlink and the open: by whom is unknown, so refuse.
        raise _refusal(path, "a file that appeared while the pull created it") from None


def check_final(final: Path, root: Path) -> None:
    """Refuse a final path that is a symlink leading out of ``root`` (or nowhere).

    The rename that puts a verified file in place replaces such a link rather than
    writing through it; refusing says something is wrong before any byte is fetched.
    """
    try:
        st = os.lstat(final)
    except FileNotFoundError:
        return
    if not stat.S_ISLNK(st.st_mode):
        return
    resolved = final.resolve()
    base = root.resolve()
    if not resolved.exists() or base not in resolved.parents:
        raise ConfigError(
            f"{str(final)!r} is a symbolic link to {os.readlink(final)!r}, outside "
            f"{str(root)!r}; asyncart does not write through it: remove it and pull again"
        )
