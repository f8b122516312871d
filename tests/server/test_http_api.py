"""The HTTP API against a real ``asyncart server`` subprocess on 127.0.0.1.

One server serves the whole module (started and stopped by the ``live`` fixture) to keep
the file fast; every test works in its own project, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import asyncart
from asyncart.core import protocol as P
from asyncart.core.chunking import ChunkerSpec
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.core.pack import PackHeader
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import h, pack_body, ref_of

SPEC = ChunkerSpec.fixed(64)
STACK_TRACE_MARKERS = ("Traceback", 'File "', "site-packages", '.py", line', "aiohttp/web")


def entry_for(path: str, data: bytes) -> tuple[ManifestEntry, list[bytes]]:
    chunks = [data[i : i + SPEC.avg_size] for i in range(0, len(data), SPEC.avg_size)]
    return ManifestEntry.for_file(path, len(data), h(data), map(ref_of, chunks)), chunks


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("http-api") / "server-store") as srv:
        yield srv


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    """The module's server (overrides the per-test subprocess of tests/conftest.py)."""
    assert live.process.poll() is None, "".join(live.log)
    return live


@pytest.fixture
def project() -> str:
    return f"proj {secrets.token_hex(4)}"


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


async def error_of(resp: aiohttp.ClientResponse, status: int, code: str) -> dict[str, Any]:
    """Check the error shape every error answer has; return the body."""
    text = await resp.text()
    assert resp.status == status, text
    for marker in STACK_TRACE_MARKERS:
        assert marker not in text, f"stack trace text in an error response: {text}"
    body = json.loads(text)
    assert set(body) == {"code", "message", "request_id"}
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] and resp.headers[P.REQUEST_ID_HEADER] == body["request_id"]
    return body


async def upload(
    http: aiohttp.ClientSession, chunks: list[bytes], project: str | None = None
) -> dict[str, Any]:
    _, body = pack_body(chunks)
    params = {} if project is None else {P.PROJECT_PARAM: project}
    headers = {"Content-Type": P.PACK_MEDIA_TYPE}
    async with http.post(P.PACKS, data=body, headers=headers, params=params) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def commit(
    http: aiohttp.ClientSession, project: str, name: str, manifest: Any, **fields: Any
) -> aiohttp.ClientResponse:
    payload = {"type": "dataset", "manifest": manifest, **fields}
    return await http.post(P.path(P.VERSIONS, project=project, name=name), json=payload)


async def store_and_commit(
    http: aiohttp.ClientSession, project: str, name: str, files: dict[str, bytes], **fields: Any
) -> tuple[Manifest, dict[str, Any]]:
    entries, chunks = [], {}
    for path, data in files.items():
        entry, cs = entry_for(path, data)
        entries.append(entry)
        chunks.update({h(c): c for c in cs})
    await upload(http, list(chunks.values()))
    manifest = Manifest(entries=tuple(entries), chunker=SPEC)
    async with await commit(http, project, name, manifest.to_json(), **fields) as resp:
        assert resp.status in (200, 201), await resp.text()
        return manifest, await resp.json()


async def missing(http: aiohttp.ClientSession, hashes: list[str]) -> list[str]:
    async with http.post(P.CHUNKS_MISSING, json={"hashes": hashes}) as resp:
        assert resp.status == 200
        return (await resp.json())["missing"]  # type: ignore[no-any-return]


def pack_file(server: LiveServer, pack_id: str) -> Path:
    return server.root / "blobs" / "packs" / pack_id[:2] / pack_id


def temp_files(server: LiveServer) -> list[Path]:
    return list((server.root / "blobs" / "tmp").iterdir())


# -- health and the error shape ---------------------------------------------------------


async def test_health(http: aiohttp.ClientSession) -> None:
    async with http.get(P.HEALTH) as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "version": asyncart.__version__}
        assert resp.headers[P.REQUEST_ID_HEADER]


async def test_error_body_shape_and_request_id(http: aiohttp.ClientSession, project: str) -> None:
    url = P.path(P.VERSION, project=project, name="nothing", ref="latest")
    async with http.get(url, headers={P.REQUEST_ID_HEADER: "req-from-client-42"}) as resp:
        body = await error_of(resp, 404, "artifact_not_found")
        assert body["request_id"] == "req-from-client-42"
    async with http.get(url) as first, http.get(url) as second:
        a = await error_of(first, 404, "artifact_not_found")
        b = await error_of(second, 404, "artifact_not_found")
    assert a["request_id"] != b["request_id"]  # generated per request


async def test_unknown_route_uses_the_error_shape(http: aiohttp.ClientSession) -> None:
    async with http.get("/v1/no/such/route") as resp:
        await error_of(resp, 404, "http_error")
    async with http.delete(P.HEALTH) as resp:
        await error_of(resp, 405, "http_error")


async def test_unknown_artifact_404_lists_existing_artifacts(
    http: aiohttp.ClientSession, project: str
) -> None:
    await store_and_commit(http, project, "bike dataset", {"a": b"a"})
    await store_and_commit(http, project, "car images", {"b": b"b"})
    async with http.get(P.path(P.VERSION, project=project, name="boat", ref="latest")) as resp:
        body = await error_of(resp, 404, "artifact_not_found")
    assert "'boat'" in body["message"]
    assert "bike dataset, car images" in body["message"]
    async with http.get(P.path(P.VERSIONS, project=project, name="boat")) as resp:
        await error_of(resp, 404, "artifact_not_found")


async def test_unknown_version_and_alias_list_what_exists(
    http: aiohttp.ClientSession, project: str
) -> None:
    await store_and_commit(http, project, "set", {"a": b"1"}, aliases=["production"])
    await store_and_commit(http, project, "set", {"a": b"2"})
    async with http.get(P.path(P.VERSION, project=project, name="set", ref="v5")) as resp:
        body = await error_of(resp, 404, "version_not_found")
    assert "v0, v1" in body["message"]
    async with http.get(P.path(P.VERSION, project=project, name="set", ref="staging")) as resp:
        body = await error_of(resp, 404, "alias_not_found")
    assert "production (v0)" in body["message"] and "latest (v1)" in body["message"]


# -- names with spaces ------------------------------------------------------------------


async def test_names_with_spaces_through_percent_escaped_urls(
    http: aiohttp.ClientSession, project: str
) -> None:
    project = f"my {project}"
    url = P.path(P.VERSIONS, project=project, name="bike dataset")
    assert "my%20proj%20" in url and "bike%20dataset" in url
    manifest, info = await store_and_commit(
        http,
        project,
        "bike dataset",
        {"dir with space/f.txt": b"hello world"},
        aliases=["best model"],
    )
    assert (info["project"], info["name"], info["version"]) == (project, "bike dataset", "v0")
    assert info["aliases"] == ["latest", "best model"]

    ref_url = P.path(P.VERSION, project=project, name="bike dataset", ref="best model")
    async with http.get(ref_url) as resp:
        assert resp.status == 200
        assert (await resp.json())["digest"] == manifest.digest
    async with http.get(P.path(P.MANIFEST, project=project, name="bike dataset", ref="v0")) as resp:
        assert resp.status == 200
        assert resp.content_type == P.MANIFEST_MEDIA_TYPE
        assert Manifest.decode(await resp.read()) == manifest
        assert json.loads(resp.headers[P.VERSION_INFO_HEADER])["digest"] == manifest.digest
    async with http.get(P.path(P.COLLECTIONS, project=project)) as resp:
        names = [c["name"] for c in (await resp.json())["collections"]]
    assert names == ["bike dataset"]
    async with http.get(P.PROJECTS) as resp:
        assert project in (await resp.json())["projects"]


async def test_escaped_slash_in_a_name_is_not_a_path_separator(
    http: aiohttp.ClientSession, project: str
) -> None:
    entry, chunks = entry_for("f", b"x")
    await upload(http, chunks)
    manifest = Manifest(entries=(entry,)).to_json()
    async with await commit(http, project, "a/b", manifest) as resp:
        body = await error_of(resp, 400, "invalid_name")
    assert "'a/b'" in body["message"]
    async with http.get(P.PROJECTS) as resp:
        assert project not in (await resp.json())["projects"]


# -- packs ------------------------------------------------------------------------------


async def test_pack_upload_then_locate_and_range_read(
    http: aiohttp.ClientSession, server: LiveServer
) -> None:
    rnd = random.Random(5)
    chunks = [rnd.randbytes(n) for n in (10, 300, 5000)]
    header, _body = pack_body(chunks)
    receipt = await upload(http, chunks)
    assert receipt == {"pack": header.pack_id, "chunks": 3, "new_chunks": 3, "size": 5310}
    assert await missing(http, [h(c) for c in chunks]) == []

    async with http.post(P.CHUNKS_LOCATE, json={"hashes": [h(chunks[1]), h(b"unknown")]}) as resp:
        locations = (await resp.json())["locations"]
    assert locations == {h(chunks[1]): [header.pack_id, 10, 300]}

    pack_url = P.path(P.PACK, pack=header.pack_id)
    async with http.get(pack_url, headers={"Range": "bytes=10-309"}) as resp:
        assert resp.status == 206
        assert await resp.read() == chunks[1]
    async with http.get(pack_url, headers={"Range": "bytes=5300-5309"}) as resp:
        assert resp.status == 206
        assert await resp.read() == chunks[2][-10:]
    async with http.get(pack_url) as resp:
        assert resp.status == 200
        assert await resp.read() == b"".join(chunks)
    assert pack_file(server, header.pack_id).read_bytes() == b"".join(chunks)


async def test_corrupted_pack_is_refused_with_422_and_nothing_is_stored(
    http: aiohttp.ClientSession, server: LiveServer
) -> None:
    chunks = [b"first chunk " * 10, b"second chunk " * 10]
    header, _ = pack_body(chunks)
    corrupted = header.encode() + chunks[0] + chunks[1][:-1] + b"!"
    headers = {"Content-Type": P.PACK_MEDIA_TYPE}
    async with http.post(P.PACKS, data=corrupted, headers=headers) as resp:
        body = await error_of(resp, 422, "integrity")
    assert h(chunks[1]) in body["message"]

    assert await missing(http, [h(c) for c in chunks]) == [h(c) for c in chunks]
    async with http.get(P.path(P.PACK, pack=header.pack_id)) as resp:
        await error_of(resp, 404, "not_found")
    assert not pack_file(server, header.pack_id).exists()
    assert temp_files(server) == []


MALFORMED_CHUNKS = [b"malformed body chunk one", b"malformed body chunk two"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage that is not a pack", id="garbage"),
        pytest.param(pack_body(MALFORMED_CHUNKS)[1][:-2], id="truncated"),
        pytest.param(pack_body(MALFORMED_CHUNKS)[1] + b"tail", id="overlong"),
        pytest.param(PackHeader(()).encode(), id="no-chunks"),
    ],
)
async def test_malformed_pack_bodies_are_400(
    http: aiohttp.ClientSession, server: LiveServer, body: bytes
) -> None:
    async with http.post(P.PACKS, data=body, headers={"Content-Type": P.PACK_MEDIA_TYPE}) as resp:
        await error_of(resp, 400, "bad_request")
    assert not pack_file(server, pack_body(MALFORMED_CHUNKS)[0].pack_id).exists()
    assert await missing(http, [h(c) for c in MALFORMED_CHUNKS]) == [h(c) for c in MALFORMED_CHUNKS]
    assert temp_files(server) == []


async def test_bad_pack_ids_are_refused(http: aiohttp.ClientSession) -> None:
    for bad in ("xyz", "../../meta.db", "0" * 64 + "\n", "A" * 64):
        async with http.get(P.path(P.PACK, pack=bad)) as resp:
            await error_of(resp, 400, "bad_request")
    async with http.get(P.path(P.PACK, pack="0" * 64)) as resp:
        await error_of(resp, 404, "not_found")


# -- commits ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_path", ["../evil", "/abs", "a/../../x", "C:\\x", ""])
async def test_commit_with_an_unsafe_entry_path_is_400_and_creates_nothing(
    http: aiohttp.ClientSession, project: str, bad_path: str
) -> None:
    entry, chunks = entry_for("placeholder", b"payload")
    await upload(http, chunks)
    wire = Manifest(entries=(entry,), chunker=SPEC).to_json()
    wire["entries"][0]["path"] = bad_path
    async with await commit(http, project, "set", wire) as resp:
        await error_of(resp, 400, "bad_request")
    async with http.get(P.path(P.VERSIONS, project=project, name="set")) as resp:
        await error_of(resp, 404, "artifact_not_found")


async def test_commit_naming_an_unknown_chunk_is_409(
    http: aiohttp.ClientSession, project: str
) -> None:
    entry, _ = entry_for("never-uploaded.bin", b"bytes the server never saw")
    async with await commit(http, project, "set", Manifest(entries=(entry,)).to_json()) as resp:
        body = await error_of(resp, 409, "chunk_missing")
    assert "upload them" in body["message"]
    async with http.get(P.path(P.VERSIONS, project=project, name="set")) as resp:
        await error_of(resp, 404, "artifact_not_found")


async def test_commit_twice_is_201_then_200_with_the_same_version(
    http: aiohttp.ClientSession, project: str
) -> None:
    entry, chunks = entry_for("f", b"same content")
    await upload(http, chunks)
    wire = Manifest(entries=(entry,)).to_json()
    async with await commit(http, project, "set", wire) as first:
        assert first.status == 201
        one = await first.json()
    async with await commit(http, project, "set", wire, aliases=["again"]) as second:
        assert second.status == 200
        two = await second.json()
    assert (one["version"], one["created"]) == ("v0", True)
    assert (two["version"], two["created"]) == ("v0", False)
    assert two["aliases"] == ["latest", "again"]


async def test_type_conflicts_are_409(http: aiohttp.ClientSession, project: str) -> None:
    await store_and_commit(http, project, "set", {"f": b"1"})
    entry, chunks = entry_for("f", b"2")
    await upload(http, chunks)
    async with await commit(
        http, project, "set", Manifest(entries=(entry,)).to_json(), type="model"
    ) as resp:
        await error_of(resp, 409, "type_conflict")
    url = P.path(P.VERSION, project=project, name="set", ref="latest")
    async with http.get(url, params={"type": "model"}) as resp:
        await error_of(resp, 409, "type_conflict")
    async with http.get(url, params={"type": "dataset"}) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{not json", id="broken"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
    ],
)
async def test_invalid_json_bodies_are_400(
    http: aiohttp.ClientSession, project: str, payload: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    for url in (P.path(P.VERSIONS, project=project, name="n"), P.CHUNKS_MISSING, P.RUNS):
        async with http.post(url, data=payload, headers=headers) as resp:
            await error_of(resp, 400, "bad_request")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"type": "dataset"}, id="no-manifest"),
        pytest.param({"type": "dataset", "manifest": {"format": 1, "entries": "x"}}, id="entries"),
        pytest.param({"type": "dataset", "manifest": {"format": 9, "entries": []}}, id="format"),
        pytest.param(
            {
                "type": "dataset",
                "manifest": {
                    "format": 1,
                    "entries": [],
                    "chunker": {"kind": "cdc", "avg_size": "big", "min_size": 64, "max_size": 1024},
                },
            },
            id="chunker-not-a-number",
        ),
        pytest.param(
            {
                "type": "dataset",
                "manifest": {
                    "format": 1,
                    "entries": [],
                    "chunker": {"kind": "cdc", "avg_size": 64, "min_size": 64, "max_size": 64},
                },
            },
            id="chunker-out-of-range",
        ),
        pytest.param(
            {"type": "dataset", "aliases": "latest", "manifest": Manifest(entries=()).to_json()},
            id="aliases-not-a-list",
        ),
    ],
)
async def test_malformed_commit_payloads_are_400(
    http: aiohttp.ClientSession, project: str, payload: dict[str, Any]
) -> None:
    async with http.post(P.path(P.VERSIONS, project=project, name="n"), json=payload) as resp:
        await error_of(resp, 400, "bad_request")


async def test_invalid_names_are_400_invalid_name(
    http: aiohttp.ClientSession, project: str
) -> None:
    wire = Manifest(entries=()).to_json()
    async with await commit(http, project, "n", wire, type="") as resp:
        await error_of(resp, 400, "invalid_name")
    async with await commit(http, project, "n", wire, aliases=["v2"]) as resp:
        await error_of(resp, 400, "invalid_name")
    async with await commit(http, project, " padded", wire) as resp:
        await error_of(resp, 400, "invalid_name")


async def test_bad_hash_queries_are_400(http: aiohttp.ClientSession) -> None:
    for payload in ({"hashes": "abc"}, {"hashes": [1, 2]}, {}, {"hashes": ["zz"]}):
        async with http.post(P.CHUNKS_MISSING, json=payload) as resp:
            await error_of(resp, 400, "bad_request")


async def test_create_run_with_client_id_is_idempotent_and_fields_are_checked(server) -> None:  # type: ignore[no-untyped-def]
    import aiohttp

    body = {"id": "0123456789ab", "project": "idem", "job_type": "train", "config": {}}
    async with aiohttp.ClientSession() as s:
        first = await s.post(f"{server.url}/v1/runs", json=body)
        again = await s.post(f"{server.url}/v1/runs", json=body)
        assert first.status == again.status == 201
        run_id = (await first.json())["id"]
        assert (await again.json())["id"] == run_id  # per-project id: the answer's counts
        clash = await s.post(f"{server.url}/v1/runs", json={**body, "job_type": "other"})
        assert clash.status == 409
        missing = await s.post(
            f"{server.url}/v1/runs/{run_id}/inputs", json={"project": "idem", "name": "x"}
        )
        assert missing.status == 400
        assert (await missing.json())["code"] == "bad_request"
        assert "ref" in (await missing.json())["message"]


async def test_delete_routes(http: aiohttp.ClientSession, project: str) -> None:
    await store_and_commit(http, project, "set", {"a": b"first"}, aliases=["gold"])
    await store_and_commit(http, project, "set", {"a": b"second"})
    v0 = P.path(P.VERSION, project=project, name="set", ref="v0")
    async with http.delete(v0) as resp:
        body = await error_of(resp, 409, "conflict")
    assert "gold" in body["message"] and "delete_aliases" in body["message"]
    async with http.delete(v0 + "?delete_aliases=maybe") as resp:
        await error_of(resp, 400, "bad_request")
    async with http.delete(v0 + "?delete_aliases=true") as resp:
        assert resp.status == 200, await resp.text()
        deleted = await resp.json()
    assert (deleted["version"], deleted["aliases"]) == ("v0", ["gold"])
    async with http.delete(v0) as resp:  # not idempotent: it is gone
        await error_of(resp, 404, "version_not_found")

    collection = P.path(P.COLLECTION, project=project, name="set")
    async with http.delete(collection) as resp:
        assert resp.status == 200, await resp.text()
        assert [v["version"] for v in (await resp.json())["versions"]] == ["v1"]
    async with http.get(P.path(P.VERSIONS, project=project, name="set")) as resp:
        await error_of(resp, 404, "artifact_not_found")
    async with http.delete(collection) as resp:
        await error_of(resp, 404, "artifact_not_found")
