"""Checks on what a store answered, beyond the shape of its record (``answers.py``).

A record can be well-formed and still wrong for the request: a ``missing`` answer
naming hashes nobody asked about, a receipt for another pack, a range of the wrong
length, a manifest that is not the version's, a list whose ``next`` cursor loops. Each
check raises :class:`MalformedAnswer` (or :class:`IntegrityError` for a manifest whose
digest differs) naming the store, so a broken or hostile server cannot steer the
client with an answer that merely parses.
"""

from __future__ import annotations

from collections.abc import Sequence

import blake3

from asyncart.client.answers import MalformedAnswer, PackReceipt
from asyncart.core.manifest import Manifest, ManifestTooLarge
from asyncart.errors import ConfigError, IntegrityError, ProtocolError


def check_missing(missing: Sequence[str], asked: Sequence[str], store: str) -> None:
    """A ``chunks/missing`` answer names only hashes that were asked about."""
    unasked = set(missing).difference(asked)
    if unasked:
        raise MalformedAnswer(
            f"{store} answered chunks/missing with hash {min(unasked)}, which was not asked about"
        )


def check_receipt(receipt: PackReceipt, parts: Sequence[bytes | memoryview], store: str) -> None:
    """The receipt names the pack sent (its id is the BLAKE3 of its header, ``parts[0]``)."""
    sent = blake3.blake3(parts[0]).hexdigest()
    if receipt.pack != sent:
        raise MalformedAnswer(
            f"{store} answered the upload of pack {sent} with a receipt for pack {receipt.pack}"
        )


def check_range_answer(pack: str, status: int, content_length: int | None, length: int) -> None:
    """A range read is answered ``206`` with exactly the ``length`` bytes asked for."""
    if status != 206 or content_length != length:
        raise ProtocolError(
            f"range read of pack {pack} answered status {status} with "
            f"{content_length} bytes, expected 206 with {length}"
        )


def check_range_received(pack: str, received: int, length: int) -> None:
    """The range's body carried every byte its ``Content-Length`` promised."""
    if received != length:
        raise ProtocolError(f"range read of pack {pack} ended after {received} bytes")


def checked_manifest(blob: bytes | bytearray, digest: str) -> Manifest:
    """The manifest ``blob`` decodes to, if its digest is ``digest``."""
    manifest = Manifest.decode(blob)
    if manifest.digest != digest:
        raise IntegrityError(
            f"manifest does not match its version's digest ({manifest.digest} != {digest})"
        )
    return manifest


def served_manifest(blob: bytes | bytearray, digest: str, store: str, version: str) -> Manifest:
    """:func:`checked_manifest` of a manifest ``store`` served for ``version``
    (``project/name:ref``): an unusable one is an error that says where it came from."""
    try:
        return checked_manifest(blob, digest)
    except ManifestTooLarge as exc:
        raise MalformedAnswer(f"{store} sent an unusable manifest for {version}: {exc}") from None
    except ConfigError as exc:  # a hostile or broken server: say where the manifest came from
        raise type(exc)(f"{store} sent an unusable manifest for {version}: {exc}") from None


def check_next_cursor(cursor: str, seen: set[str], store: str, what: str) -> None:
    """A paginated list never repeats a ``next`` cursor (it would page forever);
    remembers ``cursor`` in ``seen``."""
    if cursor in seen:
        raise MalformedAnswer(f"{store}: the {what} repeats a 'next' cursor")
    seen.add(cursor)
