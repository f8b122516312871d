"""Hostile inputs against a real server: every one is a 4xx with the standard error body.

Body limits, JSON depth and constants, lone surrogates, huge numbers, bad ranges and
request ids, and slow clients (the server runs with 1-second header and body timeouts,
so the tests wait for the server's own verdict instead of measuring time).
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from asyncart.core import protocol as P
from asyncart.core.manifest import MAX_ENTRIES, Manifest
from asyncart.errors import ConfigError
from asyncart.server.routes.packs import MAX_PACK_BODY
from tests.server.test_http_api import error_of
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import pack_body

MANIFEST = Manifest(entries=()).to_json()
DIGEST = "0" * 64


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    args = ["--header-timeout", "1", "--body-timeout", "1"]
    root = tmp_path_factory.mktemp("hardening") / "server-store"
    with live_server(root, extra_args=args) as srv:
        yield srv


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=live.url) as session:
        yield session


def commit_url(project: str = "hardening", name: str = "n") -> str:
    return P.path(P.VERSIONS, project=project, name=name)


async def post_raw(
    http: aiohttp.ClientSession, url: str, body: bytes, **headers: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        url, data=body, headers={"Content-Type": "application/json", **headers}
    ) as resp:
        return resp.status, await error_of(resp, resp.status, (await resp.json())["code"])


async def head_of(live: LiveServer, request: bytes) -> bytes:
    """Send raw request bytes on a fresh connection; return the answer's status line+headers."""
    host, port = urlsplit(live.url).hostname, urlsplit(live.url).port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()


async def test_declared_json_body_over_the_limit_is_413_before_reading(live: LiveServer) -> None:
    head = await head_of(
        live,
        (
            f"POST {P.CHUNKS_MISSING} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {P.MAX_JSON_BODY + 1}\r\n\r\n"
        ).encode(),
    )
    assert head.startswith(b"HTTP/1.1 413"), head


async def test_gzip_bomb_is_413_after_decoding(http: aiohttp.ClientSession) -> None:
    raw = b'{"hashes": [], "pad": "' + b"0" * (P.MAX_JSON_BODY + 10) + b'"}'
    bomb = gzip.compress(raw, compresslevel=9)
    assert len(bomb) < 1 << 20
    status, err = await post_raw(http, P.CHUNKS_MISSING, bomb, **{"Content-Encoding": "gzip"})
    assert (status, err["code"]) == (413, "payload_too_large")


async def test_declared_pack_size_over_the_limit_is_413_before_reading(live: LiveServer) -> None:
    head = await head_of(
        live,
        (
            f"POST {P.PACKS} HTTP/1.1\r\nHost: x\r\nContent-Type: {P.PACK_MEDIA_TYPE}\r\n"
            f"Content-Length: {MAX_PACK_BODY + 1}\r\n\r\n"
        ).encode(),
    )
    assert head.startswith(b"HTTP/1.1 413"), head


@pytest.mark.parametrize("depth", [P.MAX_JSON_DEPTH + 1, 100_000])
async def test_deeply_nested_json_is_400(http: aiohttp.ClientSession, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"type": "t", "manifest": {json.dumps(MANIFEST)}, "metadata": {{"x": {nested}}}}}'
    status, err = await post_raw(http, commit_url(), body.encode())
    assert (status, err["code"]) == (400, "bad_request")
    assert "nested deeper" in err["message"]


async def test_json_at_the_depth_limit_is_accepted(http: aiohttp.ClientSession) -> None:
    inner = P.MAX_JSON_DEPTH - 2  # body object, metadata object, then the arrays
    nested = "[" * inner + "]" * inner
    body = f'{{"type": "t", "manifest": {json.dumps(MANIFEST)}, "metadata": {{"x": {nested}}}}}'
    async with http.post(
        commit_url(name="deep ok"), data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 201, await resp.text()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_json_constants_are_400(http: aiohttp.ClientSession, constant: str) -> None:
    body = f'{{"type": "t", "manifest": {json.dumps(MANIFEST)}, "metadata": {{"x": {constant}}}}}'
    status, err = await post_raw(http, commit_url(), body.encode())
    assert (status, err["code"]) == (400, "bad_request")


@pytest.mark.parametrize(
    "field",
    ['"description": "\\ud800"', '"metadata": {"\\udfff": 1}', '"run_id": "\\ud800abcdef"'],
)
async def test_lone_surrogates_are_400(http: aiohttp.ClientSession, field: str) -> None:
    body = f'{{"type": "t", "manifest": {json.dumps(MANIFEST)}, {field}}}'
    status, err = await post_raw(http, commit_url(), body.encode())
    assert (status, err["code"]) == (400, "bad_request")


async def test_lone_surrogate_in_an_entry_path_is_400(http: aiohttp.ClientSession) -> None:
    entry = f'{{"path": "a\\udc80.txt", "size": 0, "digest": "{DIGEST}"}}'
    manifest = json.dumps(MANIFEST)[:-3] + entry + "]}"
    body = f'{{"type": "t", "manifest": {manifest}}}'
    status, err = await post_raw(http, commit_url(), body.encode())
    assert (status, err["code"]) == (400, "bad_request")


async def test_emoji_as_surrogate_pair_escapes_are_fine(http: aiohttp.ClientSession) -> None:
    body = json.dumps({"type": "t", "manifest": MANIFEST, "description": "bikes \U0001f6b2"})
    assert "\\ud83d" in body
    async with http.post(
        commit_url(name="emoji"), data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["description"] == "bikes \U0001f6b2"


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(
            {**MANIFEST, "entries": [{"path": "a", "size": 10**30, "digest": DIGEST}]},
            id="huge-size",
        ),
        pytest.param(
            {**MANIFEST, "entries": [{"path": "a", "size": 1 << 25, "digest": DIGEST}]},
            id="implied-chunk-over-16MiB",
        ),
        pytest.param(
            {
                **MANIFEST,
                "entries": [
                    {"path": "a", "size": 5, "digest": DIGEST, "chunks": [[DIGEST, 0], [DIGEST, 5]]}
                ],
            },
            id="zero-size-chunk",
        ),
        pytest.param(
            {**MANIFEST, "chunker": {**MANIFEST["chunker"], "avg_size": 1e400}},
            id="infinite-chunker-size",
        ),
        pytest.param({**MANIFEST, "entries": [["a", 1]]}, id="entry-not-an-object"),
    ],
)
async def test_out_of_range_manifest_numbers_are_400(
    http: aiohttp.ClientSession, manifest: dict[str, Any]
) -> None:
    body = json.dumps({"type": "t", "manifest": manifest}).replace("Infinity", "1e400")
    status, err = await post_raw(http, commit_url(), body.encode())
    assert (status, err["code"]) == (400, "bad_request")


def test_manifest_entry_count_limit() -> None:
    with pytest.raises(ConfigError, match="the limit is"):
        Manifest.from_json({**MANIFEST, "entries": [{}] * (MAX_ENTRIES + 1)})


async def test_too_many_hashes_is_400(http: aiohttp.ClientSession) -> None:
    body = gzip.compress(json.dumps({"hashes": [DIGEST] * 100_001}).encode())
    status, err = await post_raw(http, P.CHUNKS_LOCATE, body, **{"Content-Encoding": "gzip"})
    assert (status, err["code"]) == (400, "bad_request")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/runs/x%00y",
        "/v1/runs/not-hex-at-all",
        "/v1/projects/p%3Aq/artifacts",
        "/v1/projects/%20p/artifacts",
    ],
)
async def test_bad_path_parameters_are_400(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as resp:
        assert resp.status == 400, await resp.text()
        await error_of(resp, 400, (await resp.json())["code"])


@pytest.mark.parametrize("rng", ["bytes=9-3x", "bytes=5-2", "garbage", "bytes=100-200"])
async def test_malformed_or_unsatisfiable_range_is_a_bare_416(
    http: aiohttp.ClientSession, rng: str
) -> None:
    _, body = pack_body([b"hello world"])
    async with http.post(P.PACKS, data=body) as resp:
        pack = (await resp.json())["pack"]
    async with http.get(P.path(P.PACK, pack=pack), headers={"Range": rng}) as resp:
        assert resp.status == 416
        assert resp.headers["Content-Range"] == "bytes */11"
        assert await resp.read() == b""


async def test_an_unsafe_request_id_is_replaced(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/nowhere", headers={P.REQUEST_ID_HEADER: "a b<script>"}) as resp:
        body = await error_of(resp, 404, "http_error")
    assert body["request_id"] != "a b<script>"


async def test_a_stalled_body_is_answered_408(live: LiveServer) -> None:
    host, port = urlsplit(live.url).hostname, urlsplit(live.url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"POST {P.CHUNKS_MISSING} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        'Content-Length: 100\r\n\r\n{"hashes":'.encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")  # the server gives up on the body (1 s)
    assert head.startswith(b"HTTP/1.1 408"), head
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    assert json.loads(await reader.readexactly(length))["code"] == "request_timeout"
    writer.close()


async def test_slow_headers_get_the_connection_closed(live: LiveServer) -> None:
    host, port = urlsplit(live.url).hostname, urlsplit(live.url).port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    await writer.drain()
    assert await reader.read() == b""  # the server closed it (after its 1 s header timeout)
    writer.close()
