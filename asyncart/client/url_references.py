"""``http(s)://`` references: recorded by ETag and size when added, fetched when downloaded.

As W&B records them: adding one asks the URL once (a GET whose body is not read) and
keeps its ``Content-Length`` as the size and its ``ETag`` as what identifies the
bytes. The manifest's digest must be a blake3 hex digest, so the recorded digest is
:func:`etag_digest` of the URL and the ETag; a download asks again, and refuses bytes
whose ETag (or length) is not the recorded one. A URL answering without an ETag is
recorded as by ``checksum=False`` (its URI only: :func:`~asyncart.core.manifest.uri_digest`),
and a download then takes whatever it serves, as W&B does.

Sync (``urllib``): the caller runs these in a worker thread (the pull pipeline does);
``add_reference`` asks from the caller's thread, once, as W&B's does.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from http.client import HTTPResponse
from pathlib import Path
from typing import cast

import blake3

from asyncart.client.references import ReferenceNotFound, stream_into_place
from asyncart.core.manifest import ManifestEntry, uri_digest
from asyncart.errors import ConfigError, IntegrityError

SCHEMES = ("http", "https")
_ETAG_DOMAIN = b"asyncart.http-etag.v1\n"
_STEP = 1 << 20
#: Seconds to wait for a URL's answer (and between bytes of its body).
TIMEOUT = 60.0


def is_url(uri: str) -> bool:
    """Whether ``uri`` is an ``http(s)://`` reference."""
    return uri.partition(":")[0].lower() in SCHEMES


def etag_digest(uri: str, etag: str) -> str:
    """The digest recorded for ``uri`` answering with ``etag`` (quotes, ``W/`` kept as sent)."""
    return blake3.blake3(_ETAG_DOMAIN + f"{uri}\0{etag.strip()}".encode()).hexdigest()


def _open(uri: str) -> HTTPResponse:
    try:
        return cast(HTTPResponse, urllib.request.urlopen(uri, timeout=TIMEOUT))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (404, 410):
            raise ReferenceNotFound(f"reference {uri!r}: the server answered {exc.code}") from None
        raise ConfigError(
            f"reference {uri!r}: the server answered {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"reference {uri!r} cannot be reached: {reason}") from None


def _identity(uri: str, resp: HTTPResponse) -> tuple[int, str, bool]:
    """``(size, digest, checked)`` of an answer: by ETag, else by URI only (unchecked)."""
    length = resp.headers.get("Content-Length")
    size = int(length) if length is not None and length.isdigit() else 0
    etag = resp.headers.get("ETag")
    if etag:
        return size, etag_digest(uri, etag), True
    return size, uri_digest(uri), False


def probe_url(uri: str) -> tuple[int, str]:
    """The ``(size, digest)`` to record for ``uri`` (its headers; the body is not read).

    Raises:
        ReferenceNotFound: the server answered 404 or 410.
        ConfigError: it answered another error, or could not be reached.
    """
    with _open(uri) as resp:
        size, digest, _ = _identity(uri, resp)
    return size, digest


def fetch_url(entry: ManifestEntry, final: Path) -> None:
    """Download the URL ``entry.ref`` names to ``final``, held to the recorded ETag and size.

    Written to the part file beside ``final`` and renamed into place only when complete;
    removed on any failure.

    Raises:
        ReferenceNotFound: the server answered 404 or 410.
        IntegrityError: the ETag or length is not the recorded one (the URL changed).
        ConfigError: another error answer, or no answer.
    """
    assert entry.ref is not None
    with _open(entry.ref) as resp:
        _, digest, _ = _identity(entry.ref, resp)
        if entry.checksummed and digest != entry.digest:
            raise IntegrityError(
                f"reference {entry.ref!r} changed since it was logged (its ETag is not the one "
                "recorded)"
            )
        known = entry.checksummed and entry.size > 0  # an answer may carry no length
        stream_into_place(resp.read, entry, final, expect=entry.size if known else None)
