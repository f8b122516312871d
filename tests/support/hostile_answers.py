"""A corpus of hostile values for the fields of server answers, for tests of the client.

``VERSION_LIES`` holds ``(id, field, value)``: the ``VersionInfo`` answer of a version
with ``field`` set to ``value`` (``DROP``: the field left out). Every case must make a
pull fail with a ``ProtocolError`` naming the field, before anything is written: the
default download root ``artifacts/<name>:v<index>`` is built from ``name`` and
``index``, so a path in either would move the pull elsewhere.

``RECORD_LIES`` holds ``(id, record, field, value)`` for the other answers, applied to
the honest answer :data:`HONEST` of that record.
"""

from __future__ import annotations

from typing import Any

from tests.support.hostile_paths import PROBE_DIR

DROP = object()  # the field is left out of the answer
_ESCAPE = "0/../../../x"
_HEX = "ab" * 32

_NAME_LIES: list[tuple[str, Any]] = [
    ("dotdot-path", "../../../x"),
    ("slash", "a/b"),
    ("dotdot", ".."),
    ("dot", "."),
    ("absolute", f"{PROBE_DIR}/abs"),
    ("empty", ""),
    ("too-long", "n" * 129),
    ("nul", "a\x00b"),
    ("newline", "a\nb"),
    ("escape-sequence", "\x1b[31mred"),
    ("backslash", "..\\..\\x"),
    ("colon", "a:b"),
    ("padded", " x "),
    ("number", 5),
    ("null", None),
    ("list", ["x"]),
]

VERSION_LIES: list[tuple[str, str, Any]] = [
    ("index-path", "index", _ESCAPE),
    ("index-string", "index", "0"),
    ("index-negative", "index", -1),
    ("index-bool", "index", True),
    ("index-float", "index", 1.5),
    ("index-huge", "index", 1 << 70),
    ("index-past-v-names", "index", 10_000_000_000),
    ("index-null", "index", None),
    ("index-missing", "index", DROP),
    *[(f"name-{case}", "name", value) for case, value in _NAME_LIES],
    *[(f"project-{case}", "project", value) for case, value in _NAME_LIES[:8]],
    *[(f"type-{case}", "type", value) for case, value in _NAME_LIES[:6]],
    ("version-not-the-index", "version", "v0/../../x"),
    ("version-other-index", "version", "v7"),
    ("digest-path", "digest", "../" * 21 + "x"),
    ("digest-short", "digest", "0" * 63),
    ("digest-upper", "digest", "A" * 64),
    ("digest-number", "digest", 0),
    ("size-negative", "size", -1),
    ("size-string", "size", "24"),
    ("size-bool", "size", False),
    ("size-huge", "size", 1 << 63),
    ("file-count-negative", "file_count", -3),
    ("aliases-string", "aliases", "latest"),
    ("aliases-path", "aliases", ["../x"]),
    ("aliases-version-like", "aliases", ["v3"]),
    ("aliases-number", "aliases", [1]),
    ("aliases-object", "aliases", {"latest": True}),
    ("metadata-list", "metadata", ["x"]),
    ("metadata-string", "metadata", "x"),
    ("description-number", "description", 5),
    ("created-at-string", "created_at", "now"),
    ("created-at-negative", "created_at", -1.0),
    ("created-at-overflow", "created_at", 1e300),
    ("created-by-path", "created_by", "../x"),
    ("created-by-number", "created_by", 7),
    ("created-string", "created", "yes"),
    # A link's source names its default download root (artifacts/<source>:v<index>).
    ("source-name-path", "source", {"project": "project", "name": "../x", "index": 0}),
    ("source-project-slash", "source", {"project": "a/b", "name": "n", "index": 0}),
    ("source-index-negative", "source", {"project": "project", "name": "n", "index": -1}),
    ("source-index-string", "source", {"project": "project", "name": "n", "index": "0"}),
    ("source-missing-name", "source", {"project": "project", "index": 0}),
    ("source-string", "source", "project/n:v0"),
]

#: Honest answers of the records other than VersionInfo (the client's view of them).
HONEST: dict[str, dict[str, Any]] = {
    "collection": {
        "project": "project",
        "name": "name",
        "type": "dataset",
        "version_count": 1,
        "created_at": 1.0,
        "updated_at": 2.0,
        "description": "text",
        "tags": ["reviewed"],
    },
    "run": {
        "id": "0123abcd",
        "project": "project",
        "job_type": "train",
        "name": None,
        "config": {"lr": 0.1},
        "status": "running",
        "started_at": 1.0,
        "finished_at": None,
        "group": "job-7",
        "tags": ["baseline"],
        "notes": "first try",
    },
    "pending": {
        "project": "project",
        "name": "name",
        "type": "dataset",
        "distributed_id": "job-7",
        "file_count": 2,
        "size": 10,
        "parts": 2,
        "runs": ["0123abcd"],
        "created_at": 1.0,
        "updated_at": 2.0,
        "state": "PENDING",
    },
    "missing": {"missing": [_HEX], "direct": False},
    "locate": {"locations": {_HEX: [_HEX, 0, 10]}, "direct": False},
    "receipt": {"pack": _HEX, "chunks": 1, "new_chunks": 1, "size": 10},
    "pack_urls": {"offered": True, "urls": {_HEX: "https://bucket/x?sig=1"}, "expires_in": 3600},
    "direct_offer": {"url": "https://bucket/x?sig=1", "key": "incoming/x", "expires_in": 3600},
    "version_header": {"digest": _HEX, "index": 0},
    "projects": {"projects": ["project"]},
}

RECORD_LIES: list[tuple[str, str, str, Any]] = [
    *[(f"collection-name-{c}", "collection", "name", v) for c, v in _NAME_LIES[:8]],
    ("collection-count-negative", "collection", "version_count", -1),
    ("collection-count-string", "collection", "version_count", "1"),
    ("collection-updated-string", "collection", "updated_at", "today"),
    ("collection-missing-type", "collection", "type", DROP),
    ("collection-tags-invalid", "collection", "tags", ["no:colons"]),
    ("collection-tags-string", "collection", "tags", "tag"),
    ("collection-description-number", "collection", "description", 5),
    ("run-id-path", "run", "id", "../x"),
    ("run-id-short", "run", "id", "abc"),
    ("run-project-path", "run", "project", "../x"),
    ("run-job-type-slash", "run", "job_type", "a/b"),
    ("run-name-nul", "run", "name", "a\x00b"),
    ("run-config-list", "run", "config", [1]),
    ("run-status-unknown", "run", "status", "hacked"),
    ("run-finished-string", "run", "finished_at", "never"),
    ("run-group-too-long", "run", "group", "g" * 129),
    ("run-tags-not-a-list", "run", "tags", "baseline"),
    ("run-tag-empty", "run", "tags", [""]),
    ("run-notes-number", "run", "notes", 3),
    ("pending-name-path", "pending", "name", "../x"),
    ("pending-parts-zero", "pending", "parts", 0),
    ("pending-runs-path", "pending", "runs", ["../x"]),
    ("pending-state-committed", "pending", "state", "COMMITTED"),
    ("pending-id-empty", "pending", "distributed_id", ""),
    ("missing-not-hex", "missing", "missing", ["../x"]),
    ("missing-not-a-list", "missing", "missing", _HEX),
    ("missing-direct-string", "missing", "direct", "true"),
    ("locate-pack-path", "locate", "locations", {_HEX: ["../../x", 0, 10]}),
    ("locate-offset-negative", "locate", "locations", {_HEX: [_HEX, -1, 10]}),
    ("locate-length-zero", "locate", "locations", {_HEX: [_HEX, 0, 0]}),
    ("locate-length-huge", "locate", "locations", {_HEX: [_HEX, 0, 1 << 40]}),
    ("locate-offset-bool", "locate", "locations", {_HEX: [_HEX, True, 10]}),
    ("locate-past-max-size", "locate", "locations", {_HEX: [_HEX, (1 << 62) - 2, 10]}),
    ("locate-key-not-hex", "locate", "locations", {"../x": [_HEX, 0, 10]}),
    ("receipt-pack-path", "receipt", "pack", "../x"),
    ("receipt-chunks-zero", "receipt", "chunks", 0),
    ("receipt-size-huge", "receipt", "size", 1 << 40),
    ("pack-urls-not-http", "pack_urls", "urls", {_HEX: "file:///etc/passwd"}),
    ("pack-urls-key-not-hex", "pack_urls", "urls", {"x": "https://bucket/x"}),
    ("pack-urls-offered-string", "pack_urls", "offered", "yes"),
    ("direct-offer-url-not-http", "direct_offer", "url", "ftp://x"),
    ("direct-offer-no-key", "direct_offer", "key", None),
    ("direct-offer-key-too-long", "direct_offer", "key", "k" * 201),
    ("version-header-digest-path", "version_header", "digest", "../x"),
    ("version-header-index-path", "version_header", "index", _ESCAPE),
    ("projects-path", "projects", "projects", ["../x"]),
    ("projects-number", "projects", "projects", [3]),
]


def with_field(answer: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """A copy of ``answer`` with ``field`` set to ``value`` (or left out, for ``DROP``)."""
    out = dict(answer)
    if value is DROP:
        out.pop(field, None)
    else:
        out[field] = value
    return out
