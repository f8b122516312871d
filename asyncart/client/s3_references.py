"""``s3://`` references: recorded by ETag (and version id) when added, fetched when downloaded.

As W&B's S3 handler records them: adding ``s3://bucket/key`` asks for the object's
``ETag``, ``ContentLength`` and, in a versioned bucket, ``VersionId``; a key that is
no object is a prefix, and every object below it becomes an entry (at most
``max_objects``). The manifest's digest must be blake3 hex, so the recorded digest is
:func:`s3_digest` of the URI, the ETag and the version id; a version id is kept in
the reference's URI (``s3://bucket/key?versionId=...``; W&B keeps it beside the URI),
so a download fetches that very version even after the key was overwritten. Without
one, a download of an object whose ETag changed is refused.

Credentials and endpoint come from the environment as for any AWS client
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``...). Sync (botocore): the pull pipeline
calls :func:`fetch_s3` in a worker thread; ``add_reference`` asks from the caller's.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

import blake3

from asyncart.client.references import ReferenceNotFound, stream_into_place
from asyncart.core.manifest import ManifestEntry
from asyncart.errors import ConfigError, IntegrityError

_S3_DOMAIN = b"asyncart.s3-etag.v1\n"
_STEP = 1 << 20
_NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket"}
_local = threading.local()


def is_s3(uri: str) -> bool:
    return uri.partition(":")[0].lower() == "s3"


def s3_digest(uri: str, etag: str, version_id: str | None) -> str:
    """The digest recorded for the object ``uri`` names, by its ETag and version id."""
    text = f"{uri}\0{etag}\0{version_id or ''}"
    return blake3.blake3(_S3_DOMAIN + text.encode()).hexdigest()


def parse_s3(uri: str) -> tuple[str, str, str | None]:
    """``(bucket, key, version id or None)`` of ``s3://bucket/key[?versionId=...]``."""
    parsed = urlparse(uri)
    if not parsed.netloc:
        raise ConfigError(f"reference {uri!r} names no bucket; expected s3://bucket/key")
    versions = parse_qs(parsed.query).get("versionId")
    return parsed.netloc, unquote(parsed.path.lstrip("/")), versions[0] if versions else None


def _client() -> Any:
    """A botocore S3 client configured from the environment, one per thread and setting."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    key = (endpoint, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_PROFILE"))
    clients: dict[tuple[str | None, ...], Any] = _local.__dict__.setdefault("clients", {})
    client = clients.get(key)
    if client is None:
        import botocore.session  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        session = botocore.session.get_session()
        region = session.get_config_variable("region") or "us-east-1"
        config = Config(
            s3={"addressing_style": "path"} if endpoint else {},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        client = clients[key] = session.create_client(
            "s3", endpoint_url=endpoint, region_name=region, config=config
        )
    return client


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(error.get("Code") or status or "")
    return ""


def _call(uri: str, method: str, **kwargs: Any) -> Any:
    """``client.method(**kwargs)``; S3's "no such key" becomes ReferenceNotFound."""
    try:
        return getattr(_client(), method)(**kwargs)
    except Exception as exc:
        code = _code(exc)
        if code in _NOT_FOUND:
            raise ReferenceNotFound(f"reference {uri!r}: no such object ({code})") from None
        raise ConfigError(f"reference {uri!r}: S3 answered {code or type(exc).__name__}") from None


def _version_of(answer: dict[str, Any]) -> str | None:
    """The object's version id; None in an unversioned bucket (S3 may say ``null``)."""
    vid = answer.get("VersionId")
    return None if vid in (None, "", "null") else str(vid)


def _ref_uri(bucket: str, key: str, version_id: str | None) -> str:
    uri = f"s3://{bucket}/{quote(key)}"
    return uri if version_id is None else f"{uri}?versionId={quote(version_id)}"


def probe_s3(uri: str, max_objects: int) -> tuple[bool, list[tuple[str, str, int, str]]]:
    """Whether ``uri`` names an object, and ``(relative name, reference URI, size, digest)``
    for that object, or (no such object) for every object below it as a prefix, by key.

    Raises:
        ReferenceNotFound: neither an object nor a prefix holding any.
        ConfigError: more than ``max_objects`` objects, or S3 refused.
    """
    bucket, key, version = parse_s3(uri)
    if key and not key.endswith("/"):
        try:
            extra = {"VersionId": version} if version else {}
            head = _call(uri, "head_object", Bucket=bucket, Key=key, **extra)
        except ReferenceNotFound:
            if version:
                raise
        else:
            vid = _version_of(head)
            ref = _ref_uri(bucket, key, vid)
            size = int(head["ContentLength"])
            return True, [(key.rpartition("/")[2], ref, size, s3_digest(ref, head["ETag"], vid))]
    prefix = key if not key or key.endswith("/") else key + "/"
    found: list[tuple[str, str, int, str]] = []
    token: dict[str, str] = {}
    while True:
        page = _call(uri, "list_objects_v2", Bucket=bucket, Prefix=prefix, **token)
        for obj in page.get("Contents", []):
            if len(found) >= max_objects:
                raise ConfigError(
                    f"reference {uri!r} holds more than {max_objects} objects; "
                    "pass a larger max_objects to add_reference"
                )
            ref = _ref_uri(bucket, obj["Key"], None)
            rel = obj["Key"][len(prefix) :]
            found.append((rel, ref, int(obj["Size"]), s3_digest(ref, obj["ETag"], None)))
        if not page.get("IsTruncated"):
            break
        token = {"ContinuationToken": page["NextContinuationToken"]}
    if not found:
        raise ReferenceNotFound(f"reference {uri!r}: no such object, nor objects below it")
    return False, found


def fetch_s3(entry: ManifestEntry, final: Path) -> None:
    """Download the object ``entry.ref`` names to ``final``, held to the recorded ETag.

    Raises:
        ReferenceNotFound: no such object (or version).
        IntegrityError: its ETag or size is not the recorded one (the key was overwritten).
        ConfigError: S3 refused.
    """
    assert entry.ref is not None
    bucket, key, version = parse_s3(entry.ref)
    extra = {"VersionId": version} if version else {}
    answer = _call(entry.ref, "get_object", Bucket=bucket, Key=key, **extra)
    body = answer["Body"]
    try:
        digest = s3_digest(entry.ref, answer["ETag"], _version_of(answer) if version else None)
        if entry.checksummed and digest != entry.digest:
            raise IntegrityError(
                f"reference {entry.ref!r} changed since it was logged (its ETag is not the one "
                "recorded)"
            )
        stream_into_place(body.read, entry, final, expect=entry.size if entry.checksummed else None)
    finally:
        body.close()
