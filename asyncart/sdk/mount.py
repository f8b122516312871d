"""A stored version as a read-only FUSE filesystem (``asyncart mount``), over ``mfusepy``.

The directory tree is built from the manifest's paths at once, so ``ls -l`` shows every
name and size before a byte of a file moves. Each ``open`` makes one lazy file
(:meth:`Artifact.open <asyncart.sdk.downloading.DownloadCore.open>`, ``sdk/lazy.py``);
a read at an offset is a seek and a read of that file, so only the chunks covering it
are fetched, each verified. Anything that would change the tree is refused with EROFS.

The kernel calls in from several threads: each open file has a lock of its own (a seek
and a read must not interleave with another thread's); the lazy files themselves run on
the process's one event loop (``sdk/portal.py``).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asyncart.core.manifest import ManifestEntry
from asyncart.errors import AsyncartError, ConfigError

if TYPE_CHECKING:
    from asyncart.sdk.artifact import Artifact
    from asyncart.sdk.lazy import ArtifactFile

#: Read-ahead of each open file's lazy reader. The kernel asks in 128 KiB requests, each
#: a hop onto the event loop; a lazy read that misses waits for its whole fetch, so the
#: window sets how often a streaming reader stalls on a round trip: at 1 MiB, ``cat`` of
#: a file took 2.1x a pull, at 8 MiB 1.0-1.6x (issue 18). The window only grows on
#: sequential reads (doubling from twice the read), so a reader of a slice still pays
#: for at most about as much again as it read. Memory: each open file keeps at most
#: ``2 * READ_AHEAD`` (16 MiB) of verified chunks (``client/lazy_file.py``).
READ_AHEAD = 8 << 20
FILE_MODE = stat.S_IFREG | 0o444
DIR_MODE = stat.S_IFDIR | 0o555


class MountUnavailable(ConfigError):
    """FUSE cannot be used here: no ``/dev/fuse``, or no libfuse to load."""


def load_fuse() -> Any:
    """The ``mfusepy`` module, with libfuse loaded.

    Raises:
        MountUnavailable: ``/dev/fuse`` is missing, ``mfusepy`` is not installed, or it
            finds no libfuse; the message names what to install.
    """
    if not os.path.exists("/dev/fuse"):
        raise MountUnavailable(
            "/dev/fuse does not exist: load the fuse kernel module (modprobe fuse), or in a "
            "container run it with --device /dev/fuse --cap-add SYS_ADMIN"
        )
    try:
        import mfusepy  # type: ignore[import-untyped]  # no stubs
    except ModuleNotFoundError:
        raise MountUnavailable("mounting needs mfusepy: pip install 'asyncart[mount]'") from None
    except (OSError, AttributeError) as exc:  # mfusepy at import: no libfuse, or a wrong one
        raise MountUnavailable(
            f"no usable libfuse ({exc}): install it, e.g. apt-get install fuse3 "
            "(Debian/Ubuntu), dnf install fuse3 (Fedora), or fuse-t / macFUSE (macOS)"
        ) from None
    return mfusepy


@dataclass
class _Dir:
    children: dict[str, _Dir | ManifestEntry] = field(default_factory=dict)


def build_tree(entries: list[ManifestEntry]) -> _Dir:
    """The directory tree of ``entries`` (normalized manifest paths: no ``..``, no empty
    components), directories implied by the paths.

    Raises:
        ConfigError: a path is both a file and a directory (a manifest the store should
            never have accepted).
    """
    root = _Dir()
    for entry in entries:
        *parents, leaf = entry.path.split("/")
        node = root
        for part in parents:
            child = node.children.setdefault(part, _Dir())
            if not isinstance(child, _Dir):
                raise ConfigError(f"manifest path {entry.path!r} runs through the file {part!r}")
            node = child
        if leaf in node.children:
            raise ConfigError(f"manifest path {entry.path!r} is both a file and a directory")
        node.children[leaf] = entry
    return root


def _created_ns(created_at: str | None) -> int:
    if not created_at:
        return 0
    return int(datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp() * 1e9)


@dataclass
class _Handle:
    file: ArtifactFile
    lock: threading.Lock = field(default_factory=threading.Lock)


def _io_error(fuse: Any, what: str, exc: AsyncartError) -> Exception:
    """EIO for the reader (all a file system can say); why, on the mount's stderr."""
    print(f"asyncart mount: {what} failed: {exc}", file=sys.stderr, flush=True)
    error: Exception = fuse.FuseOSError(errno.EIO)
    return error


def make_operations(artifact: Artifact) -> Any:
    """The ``mfusepy.Operations`` serving ``artifact`` (a stored version) read-only.

    References (entries whose bytes are not in the store) are left out of the tree;
    :func:`skipped_references` counts them.
    """
    fuse = load_fuse()
    _, manifest, _ = artifact._require_stored("mount")
    stored = [e for e in manifest if e.ref is None]
    tree = build_tree(stored)
    mtime = _created_ns(artifact.created_at)
    uid, gid = os.getuid(), os.getgid()

    def erofs(*_: object) -> Any:
        raise fuse.FuseOSError(errno.EROFS)

    class ArtifactFS(fuse.Operations):  # type: ignore[misc,name-defined]
        use_ns = True

        def __init__(self) -> None:
            self.started = False
            self._handles: dict[int, _Handle] = {}
            self._ids = itertools.count(1)
            self._lock = threading.Lock()

        def init(self, path: str) -> None:
            self.started = True  # mounted: from here on, libfuse's exit status is a signal's

        def _find(self, path: str) -> _Dir | ManifestEntry:
            node: _Dir | ManifestEntry = tree
            for part in path.strip("/").split("/") if path.strip("/") else []:
                if not isinstance(node, _Dir) or part not in node.children:
                    raise fuse.FuseOSError(errno.ENOENT)
                node = node.children[part]
            return node

        def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
            node = self._find(path)
            common = {
                "st_uid": uid,
                "st_gid": gid,
                "st_mtime": mtime,
                "st_ctime": mtime,
                "st_atime": mtime,
            }
            if isinstance(node, _Dir):
                subdirs = sum(isinstance(c, _Dir) for c in node.children.values())
                return {**common, "st_mode": DIR_MODE, "st_nlink": 2 + subdirs, "st_size": 0}
            blocks = (node.size + 511) // 512
            return {
                **common,
                "st_mode": FILE_MODE,
                "st_nlink": 1,
                "st_size": node.size,
                "st_blocks": blocks,
            }

        def readdir(self, path: str, fh: int) -> list[str]:
            node = self._find(path)
            if not isinstance(node, _Dir):
                raise fuse.FuseOSError(errno.ENOTDIR)
            return [".", "..", *node.children]

        def open(self, path: str, flags: int) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND):
                raise fuse.FuseOSError(errno.EROFS)
            node = self._find(path)
            if isinstance(node, _Dir):
                raise fuse.FuseOSError(errno.EISDIR)
            try:
                opened = artifact.open(node.path, read_ahead=READ_AHEAD)
            except AsyncartError as exc:
                raise _io_error(fuse, f"opening {node.path!r}", exc) from None
            with self._lock:
                fh = next(self._ids)
                self._handles[fh] = _Handle(opened)
            return fh

        def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
            with self._lock:
                handle = self._handles.get(fh)
            if handle is None:
                raise fuse.FuseOSError(errno.EBADF)
            with handle.lock:
                try:
                    handle.file.seek(offset)
                    return handle.file.read(size)
                except AsyncartError as exc:  # a chunk that failed its hash, or missing
                    raise _io_error(fuse, f"reading {path.lstrip('/')!r}", exc) from None

        def release(self, path: str, fh: int) -> int:
            with self._lock:
                handle = self._handles.pop(fh, None)
            if handle is not None:
                with handle.lock:
                    handle.file.close()
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

        create = mkdir = rmdir = unlink = rename = link = symlink = erofs
        write = truncate = chmod = chown = utimens = setxattr = removexattr = erofs

    return ArtifactFS()


def skipped_references(artifact: Artifact) -> int:
    """How many entries of ``artifact`` are references (not shown in the mount)."""
    return sum(1 for e in artifact._require_stored("mount")[1] if e.ref is not None)


def mount(artifact: Artifact, mountpoint: str, *, allow_other: bool = False) -> None:
    """Serve ``artifact`` read-only at ``mountpoint`` until it is unmounted (``fusermount
    -u``, ``asyncart unmount``) or the process gets SIGINT/SIGTERM; then return.

    Raises:
        MountUnavailable: no ``/dev/fuse`` or no libfuse.
        RuntimeError: (from mfusepy) the mount failed, e.g. ``mountpoint`` is busy.
    """
    fuse = load_fuse()
    operations = make_operations(artifact)
    try:
        fuse.FUSE(
            operations,
            mountpoint,
            foreground=True,
            ro=True,
            fsname="asyncart",
            subtype="asyncart",
            allow_other=allow_other,
        )
    except RuntimeError:
        # libfuse 3 returns non-zero when a signal (SIGINT, SIGTERM) ended the loop, after
        # unmounting; only a mount that never started is a failure.
        if not operations.started:
            raise
