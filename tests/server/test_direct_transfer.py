"""Direct transfer: pack bytes go between the client and the object store by presigned URL.

A real server over an S3 bucket (SeaweedFS on 127.0.0.1), reached through our proxy so
the test can count what went through the server: with direct transfer, no pack upload
and no range read touch it; the server verifies each directly uploaded pack before it
is indexed, refuses bytes that do not match, and hands a restricted key URLs only for
packs it may read whole.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from asyncart import aio
from asyncart.repo.access import Role
from tests.server.test_quotas import PROJECT, admin
from tests.support.accounts import users_with_keys
from tests.support.fault_proxy import FaultProxy
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import h, pack_body
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

SIZE = 6 << 20


@pytest.fixture
def s3_live(tmp_path: Path, s3_bucket: S3Bucket) -> Iterator[LiveServer]:  # noqa: F811
    with live_server(
        tmp_path / "store", extra_args=["--blobs", s3_bucket.url], extra_env=s3_bucket.env
    ) as server:
        yield server


@pytest.fixture
async def proxy(s3_live: LiveServer) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(s3_live.url) as p:
        yield p


async def round_trip(url: str, tmp_path: Path, name: str) -> bytes:
    data = os.urandom(SIZE)
    src = tmp_path / f"{name}.bin"
    src.write_bytes(data)
    async with await aio.init(job_type="train", url=url) as run:
        art = aio.Artifact(name, type="model")
        art.add_file(src)
        await run.log_artifact(art)
    async with aio.Api(url=url) as api:
        got = await api.artifact(f"{name}:latest")
        out = await got.download(tmp_path / f"pulled-{name}")
    assert (Path(out) / f"{name}.bin").read_bytes() == data
    return data


async def test_pack_bytes_bypass_the_server(proxy: FaultProxy, tmp_path: Path) -> None:
    await round_trip(proxy.url, tmp_path, "direct")
    assert proxy.count("POST", "/v1/packs/direct/complete") >= 1
    assert proxy.count("POST", "/v1/packs/urls") == 1
    uploads_via_server = proxy.count("POST", "/v1/packs") - proxy.count("POST", "/v1/packs/")
    assert uploads_via_server == 0
    assert proxy.count("GET", "/v1/packs/") == 0  # every range came from the object store


async def test_switched_off_the_server_carries_the_bytes(
    proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_DIRECT_TRANSFER", "0")
    await round_trip(proxy.url, tmp_path, "proxied")
    assert proxy.count("POST", "/v1/packs/direct") == 0
    assert proxy.count("GET", "/v1/packs/") >= 1


async def test_bytes_that_do_not_match_the_header_are_refused(s3_live: LiveServer) -> None:
    chunk = os.urandom(5000)
    header, _ = pack_body([chunk])
    encoded = base64.b64encode(header.encode()).decode()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{s3_live.url}/v1/packs/direct", json={"header": encoded}) as r:
            offer = await r.json()
        assert offer["url"] and offer["key"].startswith(f"incoming/{header.pack_id}-")
        wrong = bytearray(chunk)
        wrong[100] ^= 1
        async with http.put(offer["url"], data=bytes(wrong)) as r:
            assert r.status == 200, await r.text()
        done = f"{s3_live.url}/v1/packs/direct/complete"
        async with http.post(done, json={"header": encoded, "key": offer["key"]}) as r:
            assert r.status == 422 and (await r.json())["code"] == "integrity"
        async with http.post(f"{s3_live.url}/v1/chunks/missing", json={"hashes": [h(chunk)]}) as r:
            assert (await r.json())["missing"] == [h(chunk)]
        # A key of another pack, or none at all, is refused before any byte is read.
        other = offer["key"].replace(header.pack_id, "0" * 64)
        async with http.post(done, json={"header": encoded, "key": other}) as r:
            assert r.status == 400
        # Done right, the same pack is accepted.
        async with http.post(f"{s3_live.url}/v1/packs/direct", json={"header": encoded}) as r:
            offer = await r.json()
        async with http.put(offer["url"], data=chunk) as r:
            assert r.status == 200
        async with http.post(done, json={"header": encoded, "key": offer["key"]}) as r:
            assert r.status == 201 and (await r.json())["new_chunks"] == 1


async def test_restricted_keys_get_urls_only_for_packs_they_may_read_whole(
    tmp_path: Path,
    s3_bucket: S3Bucket,  # noqa: F811
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    keys = await users_with_keys(
        root, {"owner": [("a", Role.WRITE)], "stranger": [("b", Role.WRITE)]}
    )
    owner, stranger = keys["owner"], keys["stranger"]
    with live_server(
        root, extra_args=["--blobs", s3_bucket.url], extra_env=s3_bucket.env
    ) as server:
        chunk = os.urandom(4000)
        header, body = pack_body([chunk])

        async def post(key: str, path: str, **kw: object) -> tuple[int, dict[str, object]]:
            headers = {"Authorization": f"Bearer {key}"}
            async with (
                aiohttp.ClientSession(headers=headers) as http,
                http.post(
                    server.url + path,
                    **kw,  # type: ignore[arg-type]
                ) as r,
            ):
                return r.status, await r.json()

        assert (await post(owner, "/v1/packs", data=body))[0] == 201
        manifest = {
            "format": 1,
            "hash": "blake3",
            "chunker": {"kind": "cdc", "avg_size": 262144, "min_size": 65536, "max_size": 1048576},
            "entries": [{"path": "x.bin", "size": len(chunk), "digest": h(chunk)}],
        }
        status, _ = await post(
            owner,
            "/v1/projects/a/artifacts/x/versions",
            json={"type": "data", "manifest": manifest},
        )
        assert status == 201
        status, mine = await post(owner, "/v1/packs/urls", json={"packs": [header.pack_id]})
        assert status == 200 and mine["offered"] and header.pack_id in mine["urls"]  # type: ignore[operator]
        status, theirs = await post(stranger, "/v1/packs/urls", json={"packs": [header.pack_id]})
        assert status == 200 and theirs["offered"] and theirs["urls"] == {}
        url = mine["urls"][header.pack_id]  # type: ignore[index]
        async with aiohttp.ClientSession() as http, http.get(url) as r:
            assert r.status == 200 and await r.read() == chunk


def test_a_filesystem_store_does_not_offer_it(server: LiveServer) -> None:
    async def ask() -> dict[str, object]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{server.url}/v1/packs/urls", json={"packs": ["a" * 64]}) as r,
        ):
            return await r.json()  # type: ignore[no-any-return]

    answer = asyncio.run(ask())
    assert answer["offered"] is False and answer["urls"] == {}


async def test_direct_uploads_are_charged_to_the_project_they_name(
    s3_live: LiveServer,
    s3_bucket: S3Bucket,  # noqa: F811
) -> None:
    """The quota is checked before a URL is given, and again at completion, where an
    upload begun for another project cannot slip a pack into a full one."""
    admin(s3_live.root, "8000")
    begin, done = f"{s3_live.url}/v1/packs/direct", f"{s3_live.url}/v1/packs/direct/complete"
    chunks = [os.urandom(5000), os.urandom(5000), os.urandom(4000)]
    headers = [base64.b64encode(pack_body([c])[0].encode()).decode() for c in chunks]
    for_quota, elsewhere = {"project": PROJECT}, {"project": "unlimited"}
    async with aiohttp.ClientSession() as http:
        async with http.post(begin, json={"header": headers[0]}, params=for_quota) as r:
            offer = await r.json()
        assert offer["url"], offer
        async with http.put(offer["url"], data=chunks[0]) as r:
            assert r.status == 200
        async with http.post(
            done, json={"header": headers[0], "key": offer["key"]}, params=for_quota
        ) as r:
            assert r.status == 201, await r.text()
        async with http.post(begin, json={"header": headers[1]}, params=for_quota) as r:
            refused = await r.json()
        assert (r.status, refused["code"]) == (403, "quota_exceeded"), refused
        # Begun for a project without a quota, completed for the full one: refused there,
        # and the uploaded bytes are deleted, nothing indexed.
        async with http.post(begin, json={"header": headers[2]}, params=elsewhere) as r:
            offer = await r.json()
        async with http.put(offer["url"], data=chunks[2]) as r:
            assert r.status == 200
        async with http.post(
            done, json={"header": headers[2], "key": offer["key"]}, params=for_quota
        ) as r:
            refused = await r.json()
        assert (r.status, refused["code"]) == (403, "quota_exceeded"), refused
        async with http.post(
            f"{s3_live.url}/v1/chunks/missing", json={"hashes": [h(chunks[2])]}
        ) as r:
            assert (await r.json())["missing"] == [h(chunks[2])]
    client: Any = s3_bucket.server.client()
    try:
        listed = client.list_objects_v2(Bucket=s3_bucket.name)
        keys = [o["Key"] for o in listed.get("Contents", ())]
    finally:
        client.close()
    assert not [k for k in keys if "incoming/" in k], keys
