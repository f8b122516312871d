"""Request bodies against a real server: authorization before the body, stored
amplification, pagination, and a body's overall deadline (issue 15, items 4b, 8, 13)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from asyncart.client.http_remote import HttpRemote
from asyncart.config import Settings
from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest
from asyncart.repo.access import Role
from tests.server.test_http_api import error_of
from tests.support.accounts import users_with_keys
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import pack_body

MANIFEST = Manifest(entries=()).to_json()
TIMING = ["--body-timeout", "30", "--body-grace", "1", "--body-min-rate", "2000"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("limits") / "store", extra_args=TIMING) as srv:
        yield srv


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=live.url) as session:
        yield session


def versions_url(project: str, name: str) -> str:
    return P.path(P.VERSIONS, project=project, name=name)


async def raw_request(
    live: LiveServer, head: str, body: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(live.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split()[1])
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    return status, json.loads(await reader.readexactly(length))


# -- 13: a trickled body is answered 408 and leaves nothing behind --------------------


@pytest.mark.parametrize("route", [P.PACKS, P.CHUNKS_MISSING])
async def test_a_trickled_body_is_408_after_the_grace_period(live: LiveServer, route: str) -> None:
    """One byte per 0.2 s never stalls the 30 s idle timer, but averages 5 B/s."""
    kind = P.PACK_MEDIA_TYPE if route == P.PACKS else "application/json"
    _, body = pack_body([b"x" * 50_000])
    reader, writer = await raw_request(
        live,
        (
            f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ),
    )
    try:
        answer = asyncio.ensure_future(read_answer(reader))
        for byte in body:
            if answer.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)
        status, err = await answer
    finally:
        writer.close()
    assert (status, err["code"]) == (408, "request_timeout")
    assert "bytes/s on average" in err["message"]
    tmp = live.root / "blobs" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []  # the partial pack is gone


# -- 8: stored amplification -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("metadata", {"x": "0" * (P.MAX_METADATA_BYTES + 1)}, P.MAX_METADATA_BYTES),
        ("description", "d" * (P.MAX_DESCRIPTION_BYTES + 1), P.MAX_DESCRIPTION_BYTES),
    ],
)
async def test_commit_metadata_and_description_are_bounded(
    http: aiohttp.ClientSession, field: str, value: Any, limit: int
) -> None:
    body = gzip.compress(json.dumps({"type": "t", "manifest": MANIFEST, field: value}).encode())
    async with http.post(
        versions_url("amp", "m"),
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ) as resp:
        err = await error_of(resp, 413, "payload_too_large")
    assert str(limit) in err["message"]


async def test_metadata_at_the_limit_is_accepted(http: aiohttp.ClientSession) -> None:
    metadata = {"x": "0" * (P.MAX_METADATA_BYTES - 10)}
    body = gzip.compress(
        json.dumps({"type": "t", "manifest": MANIFEST, "metadata": metadata}).encode()
    )
    async with http.post(
        versions_url("amp", "ok"),
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ) as resp:
        assert resp.status == 201, await resp.text()


async def test_run_config_is_bounded(http: aiohttp.ClientSession) -> None:
    config = {"x": "0" * (P.MAX_METADATA_BYTES + 1)}
    body = gzip.compress(json.dumps({"project": "amp", "job_type": "j", "config": config}).encode())
    async with http.post(
        P.RUNS, data=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
    ) as resp:
        err = await error_of(resp, 413, "payload_too_large")
    assert "run config" in err["message"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_content_encoded_pack_upload_is_415(
    http: aiohttp.ClientSession, encoding: str
) -> None:
    _, body = pack_body([b"\0" * 100_000])
    async with http.post(
        P.PACKS,
        data=gzip.compress(body),
        headers={"Content-Type": P.PACK_MEDIA_TYPE, "Content-Encoding": encoding},
    ) as resp:
        await error_of(resp, 415, "unsupported_media_type")


# -- 8: paginated lists ------------------------------------------------------------------


async def test_versions_are_paginated_and_the_client_follows_the_pages(
    live: LiveServer, http: aiohttp.ClientSession
) -> None:
    count = P.LIST_PAGE + 5
    for i in range(count):
        entry = {"path": f"f{i}", "size": 0, "digest": "0" * 64}
        async with http.post(
            versions_url("pages", "v"),
            json={"type": "t", "manifest": {**MANIFEST, "entries": [entry]}},
        ) as resp:
            assert resp.status == 201
    seen: list[int] = []
    cursor: str | None = None
    while True:
        query = {"limit": "30"} if cursor is None else {"limit": "30", "cursor": cursor}
        async with http.get(versions_url("pages", "v"), params=query) as resp:
            page = await resp.json()
        assert len(page["versions"]) <= 30
        seen += [v["index"] for v in page["versions"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(range(count))
    async with http.get(versions_url("pages", "v")) as resp:
        first = await resp.json()
    assert len(first["versions"]) == P.LIST_PAGE and first["next"] is not None
    remote = HttpRemote(Settings(url=live.url))
    try:
        assert [v.index for v in await remote.list_versions("pages", "v")] == seen
        assert "pages" in await remote.list_projects()
    finally:
        await remote.close()


async def test_projects_and_collections_pages(http: aiohttp.ClientSession) -> None:
    # Two projects at least, whichever other tests of this module ran on this server.
    for project, name in (("pcoll", "c"), ("pcoll", "a"), ("pcoll", "b"), ("pcoll2", "x")):
        async with http.post(
            versions_url(project, name), json={"type": "t", "manifest": MANIFEST}
        ) as resp:
            assert resp.status == 201
    names: list[str] = []
    cursor: str | None = None
    url = P.path(P.COLLECTIONS, project="pcoll")
    while True:
        params = {"limit": "1", **({} if cursor is None else {"cursor": cursor})}
        async with http.get(url, params=params) as resp:
            page = await resp.json()
        names += [c["name"] for c in page["collections"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert names == ["a", "b", "c"]
    async with http.get(P.PROJECTS, params={"limit": "1"}) as resp:
        page = await resp.json()
    assert len(page["projects"]) == 1 and page["next"] == page["projects"][0]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        f"limit={P.MAX_LIST_PAGE + 1}",
        "limit=x",
        "limit=%C2%B2",
        "cursor=",
        "cursor=abc",
        "cursor=%C2%B2",
    ],
)
async def test_bad_page_parameters_are_400(http: aiohttp.ClientSession, query: str) -> None:
    async with http.get(versions_url("pages", "v") + "?" + query) as resp:
        await error_of(resp, 400, "bad_request")


# -- 4b: authorization before the body ---------------------------------------------------


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    root = tmp_path_factory.mktemp("guarded") / "store"
    root.mkdir()
    keys = asyncio.run(users_with_keys(root, {"nobody": [], "reader": [("proj", Role.READ)]}))
    with live_server(root) as srv:
        yield srv, keys


RUN = "0123456789abcdef"
UNREAD = [  # (who, route, answer) for a body that never finishes
    ("nobody", P.CHUNKS_MISSING, 403),
    ("nobody", P.CHUNKS_LOCATE, 403),
    ("nobody", P.PACK_URLS, 403),
    ("nobody", P.PACKS, 403),
    ("nobody", P.PACKS_DIRECT, 403),
    ("nobody", P.PACKS_DIRECT_COMPLETE, 403),
    ("nobody", P.RUNS, 403),
    ("reader", P.RUNS, 403),
    ("nobody", P.path(P.VERSIONS, project="proj", name="n"), 404),
    ("reader", P.path(P.VERSIONS, project="proj", name="n"), 403),
    ("reader", P.path(P.RUN_FINISH, run_id=RUN), 404),
    ("reader", P.path(P.RUN_INPUTS, run_id=RUN), 404),
]


@pytest.mark.parametrize(("who", "route", "status"), UNREAD)
async def test_a_caller_without_the_role_is_refused_before_its_body_is_read(
    guarded: tuple[LiveServer, dict[str, str]], who: str, route: str, status: int
) -> None:
    srv, keys = guarded
    reader, writer = await raw_request(
        srv,
        (
            f"POST {route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {keys[who]}\r\n"
            "Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
        ),
        b'{"hashes": [',
    )  # and never the rest: the answer must not wait for it
    try:
        got, err = await asyncio.wait_for(read_answer(reader), 20)
    finally:
        writer.close()
    assert got == status, err
    assert err["code"].endswith({403: "forbidden", 404: "not_found"}[status])
