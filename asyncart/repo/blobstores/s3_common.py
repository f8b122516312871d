"""What the S3 blob store's modules share: limits, error codes and their mapping, helpers."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from asyncart.errors import ConfigError, S3Error

MiB = 1 << 20
#: How long a maintenance lock survives without renewal (seconds).
DEFAULT_LOCK_LEASE = 120.0
NOT_FOUND = {"NoSuchKey", "404", "NotFound", "NoSuchUpload"}
PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
DENIED = {
    "AccessDenied",
    "403",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}


def md5_b64(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code is None:
            code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return None if code is None else str(code)
    return None


def is_precondition(exc: BaseException) -> bool:
    return isinstance(exc, S3Error) and exc.s3_code in PRECONDITION


def expiry(expires: float) -> int:
    seconds = int(expires)
    if not 1 <= seconds <= 7 * 24 * 3600:
        raise ConfigError("a presigned URL must expire within 1 second to 7 days")
    return seconds


def configured_endpoint(session: Any) -> str | None:
    """The endpoint botocore would use from the environment or config files, if any."""
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        value = session.get_config_variable("endpoint_url")
    except Exception:
        value = None
    return str(value) if value else None


def describe(exc: BaseException) -> str:
    """A short, credential-free reason."""
    code = error_code(exc)
    if code is not None:
        message = getattr(exc, "response", {}).get("Error", {}).get("Message") or ""
        return f"{code}: {message}".rstrip(": ")
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name
