"""Pulling a ``file://`` reference: copy exactly the recorded bytes, verified, or nothing.

A reference's URI comes from the manifest, that is from the server. It must name a
regular file (a symlink to one is followed; to a device, FIFO, socket or directory
it is refused) of exactly the recorded size. At most that many bytes are copied,
into the part file beside the target (opened as every side file is,
``side_files.py``), hashed on the way; the part file is renamed into place only if
the digest matches, and removed on any failure: no partial file is left.

A reference recorded by URI only (``add_reference(checksum=False)``) has no size or
digest to hold the file to: it is copied as it is when downloaded.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import blake3

from asyncart.client import side_files
from asyncart.core.manifest import ManifestEntry
from asyncart.core.paths import RESERVED_SUFFIX, sidecar_path
from asyncart.errors import ConfigError, IntegrityError, NotFoundError

_STEP = 1 << 20


class ReferenceNotFound(NotFoundError, FileNotFoundError):
    """What a reference names is not there (a download may skip it:
    ``allow_missing_references``)."""


def reference_source(entry: ManifestEntry) -> Path:
    """The local file a ``file://`` reference names.

    Raises:
        ConfigError: another scheme, or a host other than this one.
    """
    assert entry.ref is not None
    parsed = urlparse(entry.ref)
    if parsed.scheme != "file":
        raise ConfigError(f"reference {entry.ref!r}: only file:// references can be downloaded")
    if parsed.netloc not in ("", "localhost"):
        raise ConfigError(
            f"reference {entry.ref!r} names host {parsed.netloc!r}; only local files can be copied"
        )
    return Path(unquote(parsed.path))


def copy_reference(entry: ManifestEntry, final: Path) -> None:
    """Copy the file ``entry.ref`` names to ``final``, verified against the entry.

    Raises:
        ReferenceNotFound: the file is not there.
        ConfigError: the reference is not a readable regular file.
        IntegrityError: its size or digest is not the recorded one.
    """
    source = reference_source(entry)
    try:
        src = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ReferenceNotFound(f"referenced file {entry.ref!r} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"reference {entry.ref!r} cannot be read: {exc.strerror}") from None
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(
                f"reference {entry.ref!r} is not a regular file (a device, FIFO, socket or "
                "directory); only files can be referenced"
            )
        if entry.checksummed and st.st_size != entry.size:
            raise IntegrityError(
                f"referenced file {entry.ref!r} has {st.st_size} bytes, the artifact records "
                f"{entry.size}: it changed since it was logged"
            )
        os.set_blocking(src, True)
        _copy_verified(src, entry, sidecar_path(final, RESERVED_SUFFIX), final)
    finally:
        os.close(src)


def _copy_verified(src: int, entry: ManifestEntry, part: Path, final: Path) -> None:
    with _into_place(part, final) as dst:
        hasher = blake3.blake3()
        unchecked = not entry.checksummed
        left = entry.size
        while left or unchecked:
            data = os.read(src, _STEP if unchecked else min(_STEP, left))
            if not data:
                break
            hasher.update(data)
            _write_all(dst, data)
            left = max(0, left - len(data))
        if not unchecked and (left or hasher.hexdigest() != entry.digest):
            raise IntegrityError(f"referenced file {entry.ref!r} changed since it was logged")


def stream_into_place(
    read: Callable[[int], bytes], entry: ManifestEntry, final: Path, *, expect: int | None
) -> None:
    """Write what ``read(n)`` returns (until it returns nothing) to ``final``'s side file,
    then rename it into place; with ``expect``, exactly that many bytes must come.

    For remote references (``http(s)://``, ``s3://``) whose identity was checked already.

    Raises:
        IntegrityError: the source sent another number of bytes than recorded.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    with _into_place(sidecar_path(final, RESERVED_SUFFIX), final) as dst:
        written = 0
        while data := read(_STEP):
            _write_all(dst, data)
            written += len(data)
        if expect is not None and written != expect:
            raise IntegrityError(
                f"reference {entry.ref!r} sent {written} bytes; the artifact records {expect}"
            )


@contextlib.contextmanager
def _into_place(part: Path, final: Path) -> Iterator[int]:
    """The side file ``part`` (created, never through a link), open for writing: renamed
    to ``final`` when the block completes, removed when it raises."""
    dst = side_files.create(part)
    try:
        try:
            yield dst
        finally:
            os.close(dst)
        os.replace(part, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(part)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
