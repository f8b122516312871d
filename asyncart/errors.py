"""The whole asyncart exception tree.

::

    AsyncartError
    ├── ConfigError(ValueError)                bad argument, name, path or setting
    │   ├── InvalidNameError                   an artifact/project/alias name that is not allowed
    │   ├── MissingDistributedId(TypeError)    upsert/finish_artifact without an id or a group
    │   ├── NotAModelError(AssertionError)     use_model/link_model: not a model (W&B's assert)
    │   ├── PayloadTooLarge                    413: a request body over the server's limit
    │   ├── RequestBodyTimeout                 408: a request body stalled (server side)
    │   └── UnsupportedEncoding                415: a pack upload sent Content-Encoded
    ├── TransportError                         the request did not get an answer (retryable)
    │   ├── ConnectError(ConnectionError)      (.final: not retried, e.g. an unknown host)
    │   ├── RequestTimeout(TimeoutError)
    │   └── ProtocolError                      a malformed or truncated answer
    ├── CertificateError                       the server's TLS certificate did not verify (final)
    ├── ServerError                            the server answered with an error:
    │   │                                      .status, .code, .request_id, .url
    │   ├── ServiceUnavailable                 429 / 5xx (retryable)
    │   ├── AuthError(PermissionError)         401, or 403 without a known code
    │   └── DirectTransferError                an object store refused a presigned request
    ├── Unauthenticated(PermissionError)       401 (server side): no valid API key
    ├── PermissionDenied(PermissionError)      403: the key's user lacks the role for this
    │   └── QuotaExceeded                      403: a push would take a project past its quota
    ├── NotFoundError(LookupError)
    │   ├── ArtifactNotFound
    │   ├── VersionNotFound
    │   ├── AliasNotFound
    │   ├── RunNotFound
    │   ├── EntryNotFound(KeyError, FileNotFoundError)  no such entry in an artifact
    │   └── ChunkMissing
    ├── ConflictError                          the request contradicts what is stored
    │   ├── TypeConflict(ValueError)           an artifact's type is not the collection's
    │   ├── DistributedConflict                two processes sent one path with other bytes
    │   └── PullLockTimeout(TimeoutError)      another process held a pull's target too long
    ├── IntegrityError                         a digest did not match the bytes
    │   ├── FileChangedError                   a source file changed while it was being read
    │   └── VerificationFailed(ValueError)     verify(): a directory is not the version
    ├── RetriesExhausted                       .attempts, .last_exception
    ├── PushWorkerError                        the background push process failed to start or died
    ├── StoreError                             server side
    │   ├── BlobStoreError(OSError)
    │   │   └── S3Error                        an object-store request failed: .s3_code
    │   ├── MetadataStoreError
    │   └── StoreRetry                         503: raced with store maintenance; retry
    └── DiskFullError(OSError)                 507: no room on a disk (final)

Builtins are mixed in so ``except OSError`` / ``except LookupError`` keep working.
(``tests/test_errors.py`` checks this drawing against the classes below.) A few modules
refine a class for their one raiser (e.g. ``MalformedAnswer(ProtocolError)`` in
``asyncart.client.answers``); they are not drawn here.

Each class names the ``code`` and HTTP status the server answers it with in its header
(``class ChunkMissing(NotFoundError, code="chunk_missing", http_status=409)``); one
without them keeps its base's. The server sends ``{"code", "message", "request_id"}``;
:func:`error_for_answer` is the one rule that turns an error answer's status and
``code`` back into a class.
"""

from __future__ import annotations

import errno


class AsyncartError(Exception):
    """Base class of every error asyncart raises on purpose."""

    code = "internal"
    http_status = 500

    def __init_subclass__(cls, *, code: str | None = None, http_status: int | None = None) -> None:
        """``class X(AsyncartError, code=..., http_status=...)`` sets the answer's code and
        status of a subclass (a subclass without them keeps its base's)."""
        super().__init_subclass__()
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status


class ConfigError(AsyncartError, ValueError, code="bad_request", http_status=400):
    """An argument, name, path or setting is not acceptable."""


class InvalidNameError(ConfigError, code="invalid_name"):
    """An artifact, project or alias name breaks the naming rules."""


class MissingDistributedId(ConfigError, TypeError):
    """``upsert_artifact``/``finish_artifact`` with no ``distributed_id`` and a run with no
    group (W&B raises ``TypeError``)."""


class NotAModelError(ConfigError, AssertionError):
    """``run.use_model`` / ``run.link_model`` were given an artifact whose type does not
    contain ``model``, or a registered-model name that is a path (W&B raises
    ``AssertionError``: it is one, and a ``ValueError`` as every ``ConfigError``)."""


class TransportError(AsyncartError, code="transport"):
    """The request got no (complete) answer; safe to retry."""


class ConnectError(TransportError, ConnectionError):
    """The server could not be reached.

    ``final``: asking again cannot help (an unknown host; ``https://`` to a plain-HTTP
    server or the reverse), so it is not retried. ``unanswered``: no request to that
    server has had an answer in this process yet (a wrong URL looks like this), so it is
    retried only for ``Settings.connect_patience`` seconds.
    """

    def __init__(self, message: str, *, final: bool = False, unanswered: bool = False) -> None:
        super().__init__(message)
        self.final = final
        self.unanswered = unanswered


class RequestTimeout(TransportError, TimeoutError):
    """No bytes moved for longer than the idle timeout."""


class ProtocolError(TransportError):
    """The answer was malformed or cut short."""


class CertificateError(AsyncartError, code="certificate"):
    """The server's TLS certificate could not be verified; not retried (it will not change)."""


class ServerError(AsyncartError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 500,
        code: str = "internal",
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.url = url


class ServiceUnavailable(ServerError):
    """429 or 5xx: the server is overloaded or failing; safe to retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AuthError(ServerError, PermissionError):
    """The request lacked valid credentials or permission."""


class DirectTransferError(ServerError):
    """An object store refused a presigned request (e.g. the URL expired: 403)."""


class PermissionDenied(AsyncartError, PermissionError, code="forbidden", http_status=403):
    """The caller's key is valid but its user lacks the role the operation needs (403)."""


class QuotaExceeded(PermissionDenied, code="quota_exceeded"):
    """A push would take its project's deduplicated bytes past the quota a server admin
    set (docs/quotas.md); the message gives usage, quota and the versions whose deletion
    frees most. Final: asking again cannot help until versions are deleted (and gc run)
    or the quota raised."""


class Unauthenticated(AsyncartError, PermissionError, code="unauthenticated", http_status=401):
    """The request carried no valid API key (the server answers 401 ``unauthenticated``
    with a ``WWW-Authenticate`` challenge; the client sees :class:`AuthError`)."""


class NotFoundError(AsyncartError, LookupError, code="not_found", http_status=404):
    """Something named does not exist."""


class ArtifactNotFound(NotFoundError, code="artifact_not_found"):
    """No artifact of that name in the project."""


class VersionNotFound(NotFoundError, code="version_not_found"):
    """The artifact has no such version."""


class AliasNotFound(NotFoundError, code="alias_not_found"):
    """No version of the artifact carries that alias."""


class RunNotFound(NotFoundError, code="run_not_found"):
    """No run with that id (or none the caller may see)."""

    @classmethod
    def for_id(cls, run_id: str) -> RunNotFound:
        """The one answer for a run that does not exist or that the caller may not see."""
        return cls(f"no run with id {run_id!r}")


class EntryNotFound(NotFoundError, KeyError, FileNotFoundError):
    """An artifact has no entry of that name (``get_entry``, ``remove``).

    A ``KeyError`` and a ``FileNotFoundError`` too, as W&B's ``get_entry`` and
    ``remove`` raise those.
    """

    def __str__(self) -> str:  # not KeyError's repr of the message
        return str(self.args[0]) if self.args else ""


class ChunkMissing(NotFoundError, code="chunk_missing", http_status=409):
    """A manifest names chunks the store does not hold."""


class ConflictError(AsyncartError, code="conflict", http_status=409):
    """The request contradicts what is stored (a run id taken, a version holding aliases...)."""


class TypeConflict(ConflictError, ValueError, code="type_conflict"):
    """An artifact's type differs from its collection's (W&B's callers catch ``ValueError``)."""


class DistributedConflict(ConflictError, code="distributed_conflict"):
    """A process of a distributed job sent a path another already sent with other bytes."""


class PullLockTimeout(ConflictError, TimeoutError, code="lock_timeout"):
    """Another process kept pulling into the same directory past ``ASYNCART_LOCK_TIMEOUT``."""


class IntegrityError(AsyncartError, code="integrity", http_status=422):
    """Bytes did not match their digest."""


class FileChangedError(IntegrityError, code="file_changed"):
    """A source file changed while it was being read for upload."""


class VerificationFailed(IntegrityError, ValueError, code="verification_failed"):
    """``artifact.verify(root)``: a file under root is extra, missing or different."""


class RetriesExhausted(AsyncartError, code="retries_exhausted"):
    """Every retry failed; ``last_exception`` holds the final cause."""

    def __init__(self, message: str, *, attempts: int, last_exception: BaseException) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_exception = last_exception


class PushWorkerError(AsyncartError, code="push_worker"):
    """The worker process that pushes background uploads could not start or died mid-push."""


class StoreError(AsyncartError, code="store_error", http_status=500):
    """The store itself failed (server side)."""


class BlobStoreError(StoreError, OSError, code="blobstore_error"):
    """The blob store (a directory or an object store) failed."""


class S3Error(BlobStoreError):
    """A failed object-store request; ``s3_code`` is the S3 error code (or HTTP status)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.s3_code = code


class MetadataStoreError(StoreError, code="metastore_error"):
    """The metadata database failed."""


class StoreRetry(StoreError, code="store_retry", http_status=503):
    """The request raced with store maintenance (garbage collection); sending it again works.

    Answered as 503, which clients retry.
    """


class DiskFullError(AsyncartError, OSError, code="disk_full", http_status=507):
    """A disk (the store's or this machine's) has no room for the bytes; not retried."""


NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # EFBIG: a file size limit


class PayloadTooLarge(ConfigError, code="payload_too_large", http_status=413):
    """A request body is larger than the server accepts (413)."""


class RequestBodyTimeout(ConfigError, code="request_timeout", http_status=408):
    """No bytes of a request body arrived for the server's body idle timeout (408)."""


class UnsupportedEncoding(ConfigError, code="unsupported_media_type", http_status=415):
    """415: a pack upload sent with a Content-Encoding (packs are sent as they are)."""


_BY_CODE: dict[str, type[AsyncartError]] = {
    cls.code: cls
    for cls in (
        ConfigError,
        InvalidNameError,
        PayloadTooLarge,
        RequestBodyTimeout,
        NotFoundError,
        ArtifactNotFound,
        VersionNotFound,
        AliasNotFound,
        RunNotFound,
        ChunkMissing,
        ConflictError,
        TypeConflict,
        DistributedConflict,
        PermissionDenied,
        QuotaExceeded,
        IntegrityError,
        FileChangedError,
        DiskFullError,
    )
}


def is_retryable_status(status: int) -> bool:
    """429 and every 5xx: the server (or store) is overloaded or failing; asking again may work."""
    return status == 429 or status >= 500


def error_for_answer(
    status: int,
    message: str,
    *,
    code: str = "http_error",
    request_id: str | None = None,
    url: str | None = None,
    retry_after: float | None = None,
    object_store: bool = False,
) -> AsyncartError:
    """The one rule from an error answer (its HTTP ``status`` and ``code``) to an exception.

    * 429 / 5xx -> :class:`ServiceUnavailable` (retried; ``message`` gets ``url:`` in
      front), except a server's ``disk_full`` (507), which is final
    * from an object store (``object_store``, ``code`` is its own) -> :class:`DirectTransferError`
    * 401 -> :class:`AuthError`
    * a ``code`` of the table below -> the class the server raised (e.g. ``not_found``)
    * 403 with another code -> :class:`AuthError`
    * anything else -> :class:`ServerError`
    """

    def answered(cls: type[ServerError]) -> ServerError:
        return cls(message, status=status, code=code, request_id=request_id, url=url)

    if is_retryable_status(status) and (object_store or code != DiskFullError.code):
        return ServiceUnavailable(
            message if url is None else f"{url}: {message}",
            retry_after=retry_after,
            status=status,
            code=code,
            request_id=request_id,
            url=url,
        )
    if object_store:
        return answered(DirectTransferError)
    if status == 401:
        return answered(AuthError)
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    if status == 403:
        return answered(AuthError)
    return answered(ServerError)
