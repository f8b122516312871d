"""One pull per target directory at a time, across processes: an advisory file lock.

Several processes on a machine (data-parallel ranks, a sweep's workers) often pull
the same version into the same directory at once. Each takes an exclusive
``flock(2)`` on ``<target>.asyncart-lock`` (beside the target directory, never in
it) before it looks at the directory; the first one pulls, the others wait and
then find every file present and verified, so they fetch nothing. Files only
ever appear complete and verified (by rename), so a process that reads the
directory without the lock never sees a torn file either.

* **No leftovers.** The holder removes the lock file when it is done, while it
  still holds it; whoever takes the lock next checks that its descriptor is
  still the file at that path (same device and inode) and otherwise opens the
  current one and tries again, so removing it never lets two holders in.
* **Crashes.** The kernel releases the lock when its holder dies (even by
  SIGKILL); the next waiter takes it (the file is still there) and resumes the
  pull from the part files and journals the dead one left (``journal.py``).
* **NFS.** Linux emulates ``flock`` on NFS with a whole-file POSIX lock, which
  the server arbitrates, so pulls from several machines into one NFS directory
  serialise as well (within one process such locks do not exclude each other).
* **Read-only places.** If no lock file can be created beside the target (a
  read-only directory or file system), the lock lives in the per-user cache
  directory instead, keyed by the target's resolved path; if even that fails,
  the pull goes ahead unlocked (it can then only verify, or fail to write).
* **Waiting** never blocks the event loop: a non-blocking try, then asyncio
  sleeps with backoff (up to ``_MAX_POLL`` seconds). Waiters wait without a
  deadline by default and say once (a log warning) that they are waiting and
  for whom; ``ASYNCART_LOCK_TIMEOUT`` bounds the wait (``PullLockTimeout``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.to_thread

from asyncart.client import side_files
from asyncart.core.paths import sidecar_path
from asyncart.errors import PullLockTimeout

LOCK_SUFFIX = ".asyncart-lock"
_FIRST_POLL = 0.01
_MAX_POLL = 0.25
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)

log = logging.getLogger("asyncart.client")


def lock_path(root: Path) -> Path:
    """The lock file of pulls into ``root``: ``<root>.asyncart-lock`` beside it."""
    resolved = root.resolve()
    if resolved.parent == resolved:  # the file system root has no "beside"
        raise OSError(errno.EACCES, "no place beside the root directory", str(resolved))
    return sidecar_path(resolved, LOCK_SUFFIX)


def fallback_lock_path(root: Path, cache_dir: Path) -> Path:
    """Where the lock lives when nothing can be created beside ``root``."""
    key = hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:32]
    return cache_dir / "locks" / f"pull-{key}.lock"


def _open_lock(root: Path, cache_dir: Path) -> tuple[int, Path] | None:
    """Open (creating if needed) the lock file; None when no lock file can be had."""
    candidates: list[Path] = []
    with contextlib.suppress(OSError):
        candidates.append(lock_path(root))
    candidates.append(fallback_lock_path(root, cache_dir))
    for path in candidates:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return _open(path), path
        except OSError as exc:
            if exc.errno not in _UNWRITABLE:
                raise
    return None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _note_holder(fd: int) -> None:
    """Write our pid into the lock file, so waiters can say whom they wait for."""
    note = f"{os.getpid()}\n".encode()
    with contextlib.suppress(OSError):
        os.pwrite(fd, note, 0)  # write, then cut: a waiter never reads an emptied file
        os.ftruncate(fd, len(note))


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f"process {int(os.pread(fd, 32, 0).decode().strip())}"
    return "another process"


def _open(path: Path) -> int:
    """Open (creating if needed) the lock file at ``path``, never through a link: it is
    truncated to note the holder, so a planted symlink or hard link must not reach
    another file (``side_files.py``)."""
    try:
        return side_files.open_existing(path, os.O_RDWR)
    except FileNotFoundError:
        pass
    try:
        return side_files.create(path, os.O_RDWR, replace=False)
    except FileExistsError:
        # Another puller created it in between: open theirs (checked like any other).
        return side_files.open_existing(path, os.O_RDWR)


def _still_there(fd: int, path: Path) -> bool:
    """Whether the locked ``fd`` is still the file at ``path`` (a holder that finished
    removed it, and a newcomer may have created another there since)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def _release(fd: int, path: Path) -> None:
    """Remove the lock file while still holding it, then let go."""
    with contextlib.suppress(OSError):  # e.g. a read-only directory: it stays, harmlessly
        os.unlink(path)
    os.close(fd)


@contextlib.asynccontextmanager
async def pull_lock(root: Path, cache_dir: Path, patience: float | None) -> AsyncIterator[None]:
    """Hold the exclusive pull lock of ``root`` for the body (waiting for it first).

    Raises:
        PullLockTimeout: ``patience`` seconds passed and another process still held it.
    """
    opened = await anyio.to_thread.run_sync(_open_lock, root, cache_dir)
    if opened is None:
        log.warning("pulling into %s without a lock: no lock file can be created", root)
        yield
        return
    fd, path = opened
    fd = await _acquire(fd, path, root, patience)
    try:
        await anyio.to_thread.run_sync(_note_holder, fd)
        yield
    finally:
        # Shielded: a cancelled pull still removes its lock file (in a thread, like every
        # file operation here). A killed process releases by the kernel closing ``fd``.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_release, fd, path)


async def _acquire(fd: int, path: Path, root: Path, patience: float | None) -> int:
    """Lock ``fd`` (or the file that replaced it at ``path``); return the locked descriptor."""
    started = time.monotonic()
    wait = _FIRST_POLL
    announced = False
    try:
        while True:
            if _try_lock(fd):  # never blocks: LOCK_NB
                if await anyio.to_thread.run_sync(_still_there, fd, path):
                    return fd
                os.close(fd)  # the holder finished and removed it: lock the current file
                fd = -1
                fd = await anyio.to_thread.run_sync(_open, path)
                continue
            waited = time.monotonic() - started
            if patience is not None and waited >= patience:
                holder = await anyio.to_thread.run_sync(_holder, fd)
                raise PullLockTimeout(
                    f"{holder} has been pulling into {root} for more than {patience:g}s "
                    f"(lock file {path}); raise ASYNCART_LOCK_TIMEOUT or unset it to wait "
                    "as long as it takes"
                )
            if not announced:
                announced = True
                log.warning(
                    "waiting for %s, which is pulling into %s (lock file %s)",
                    await anyio.to_thread.run_sync(_holder, fd),
                    root,
                    path,
                )
            nap = wait if patience is None else min(wait, max(patience - waited, 0.0))
            await anyio.sleep(nap)
            wait = min(wait * 2, _MAX_POLL)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
