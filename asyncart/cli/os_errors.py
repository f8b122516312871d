"""A local file error (permission denied, a file where a directory should be...) as one
line saying what is wrong where and what to do, instead of ``[Errno 13] ...``."""

from __future__ import annotations

import errno

_WHERE = "-o DIR for pull and verify, ASYNCART_DIR for the embedded store, --root for a server"

_ADVICE: dict[int, tuple[str, str]] = {
    errno.EACCES: (
        "permission denied",
        f"run as a user who may write there, fix its permissions, or pick another place ({_WHERE})",
    ),
    errno.EPERM: (
        "operation not permitted",
        f"run as a user who may change it, or pick another place ({_WHERE})",
    ),
    errno.EROFS: ("the file system is read-only", f"pick a writable place ({_WHERE})"),
    errno.EEXIST: (
        "a file is in the way (a directory was needed, or a new name)",
        "remove or rename it, or name another directory",
    ),
    errno.ENOTDIR: (
        "a part of the path is a file, not a directory",
        "name a directory (or a new path), or remove the file in the way",
    ),
    errno.EISDIR: ("this is a directory, not a file", "name a file"),
    errno.ENOENT: ("no such file or directory", "check the path"),
}


def describe_os_error(exc: OSError) -> str:
    """``<path>: permission denied; <what to do>`` for the errors a user can fix; other
    errors as the system states them."""
    known = _ADVICE.get(exc.errno or 0)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(str(p) for p in paths)
    if known is None:
        reason = exc.strerror or str(exc)
        return f"{where}: {reason}" if where else reason
    what, todo = known
    return f"{where}: {what}; {todo}" if where else f"{what}; {todo}"
