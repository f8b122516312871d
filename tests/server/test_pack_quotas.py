"""Pack uploads count against the quota of the project they name (docs/quotas.md "Pack
uploads"), end to end: a real server, a raw HTTP client that uploads and never commits,
the quota set with ``asyncart server admin quota``, gc run with ``asyncart server gc``."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import aiohttp

from asyncart.core import protocol as P
from asyncart.core.manifest import Manifest
from tests.server.test_http_api import SPEC, entry_for, error_of, upload
from tests.server.test_quotas import PROJECT, admin
from tests.support.cli import run_cli
from tests.support.live_server import LiveServer
from tests.support.packs import pack_body
from tests.support.stores import data as random_bytes
from tests.support.stores import pack_files


async def post_pack(
    http: aiohttp.ClientSession, body: bytes, project: str | None
) -> aiohttp.ClientResponse:
    params = {} if project is None else {P.PROJECT_PARAM: project}
    return await http.post(P.PACKS, data=body, params=params)


async def declared_only(server: LiveServer, length: int) -> tuple[int, dict[str, str]]:
    """POST a pack upload that declares ``length`` bytes and sends none of them: the
    answer the server gives before reading the body."""
    url = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            (
                f"POST {P.PACKS}?{P.PROJECT_PARAM}={PROJECT} HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\nContent-Type: {P.PACK_MEDIA_TYPE}\r\n"
                f"Content-Length: {length}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        status = int(head.split()[1])
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        body = await reader.readexactly(int(fields["Content-Length"]))
        return status, json.loads(body)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_uncommitted_uploads_past_the_quota_are_refused_before_they_are_stored(
    server: LiveServer,
) -> None:
    async with aiohttp.ClientSession(base_url=server.url) as http:
        # No quota anywhere: a client that names no project (an older one) is served.
        async with await post_pack(http, pack_body([random_bytes("old", 100)])[1], None) as r:
            assert r.status == 201, await r.text()
        admin(server.root, "5000")
        async with await post_pack(http, pack_body([random_bytes("o2", 100)])[1], None) as r:
            body = await error_of(r, 400, "bad_request")
        assert "?project=" in body["message"] and "upgrade asyncart" in body["message"]

        entries = []
        for name in ("a", "b"):
            entry, chunks = entry_for(f"{name}.bin", random_bytes(name, 2000))
            await upload(http, chunks, project=PROJECT)
            entries.append(entry)
        stored = pack_files(server.root)
        assert len(stored) == 3
        _, third = pack_body([random_bytes("c", 2000)])
        async with await post_pack(http, third, PROJECT) as r:
            body = await error_of(r, 403, "quota_exceeded")
        assert "uploaded but not committed" in body["message"], body
        assert "this pack upload adds" in body["message"], body
        assert pack_files(server.root) == stored  # refused before a byte was stored
        async with http.get(P.path(P.QUOTA, project=PROJECT)) as r:
            seen = await r.json()
        assert (seen["stored_bytes"], seen["pending_bytes"]) == (0, 4000), seen
        assert "3.9 KiB more uploaded but not committed" in admin(server.root)
        # Refused on its declared length, before the body is read at all.
        status, refused = await declared_only(server, 10 << 20)
        assert (status, refused["code"]) == (403, "quota_exceeded"), refused
        assert pack_files(server.root) == stored

        # The commit referencing them releases their charge: they are its usage now.
        manifest = Manifest(entries=tuple(entries), chunker=SPEC).to_json()
        url = P.path(P.VERSIONS, project=PROJECT, name="x")
        async with http.post(url, json={"type": "dataset", "manifest": manifest}) as r:
            assert r.status == 201, await r.text()
        async with http.get(P.path(P.QUOTA, project=PROJECT)) as r:
            seen = await r.json()
        assert (seen["stored_bytes"], seen["pending_bytes"]) == (4000, 0), seen
        _, later = entry_for("d.bin", random_bytes("d", 1000))
        await upload(http, later, project=PROJECT)  # 4000 used + 1000 charged: full
        _, more = pack_body([random_bytes("e", 500)])
        async with await post_pack(http, more, PROJECT) as r:
            await error_of(r, 403, "quota_exceeded")

        # gc removes the uncommitted pack, and its charge with it.
        proc = run_cli("server", "gc", "--root", str(server.root), "--grace", "0", "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["deleted_packs"] == 2  # d's and the older client's
        async with await post_pack(http, more, PROJECT) as r:
            assert r.status == 201, await r.text()
