"""A caller who may not read a whole pack gets exactly the checked bytes, whatever else
its request says (issue 15, item 1; docs/protocol.md §3.5, §6.4).

Setup (the ``leak`` fixture of test_dedup_leak): alice pushed a 3 MiB file to project
``secret``; its chunks share one pack. Mallory, who may write only ``public``, uploads
the bytes of ONE of alice's chunks herself (proof of possession). The index keeps
alice's copy, so mallory's permitted range lies inside alice's pack, between alice's
private chunks. Every header variant an HTTP server may interpret on its own
(conditionals, several ranges, suffix and open ranges, HEAD, encodings, odd numbers) is
sent with that range: the answer is either 206 with exactly the chunk, or an error
holding none of alice's bytes. The same read is audited as ``pack_read`` for ``secret``.

The old code answered ``If-Range`` with a date in the past by 200 and the whole pack.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.test_dedup_leak import Leak, leak_world
from tests.server.test_permissions import call
from tests.support.live_server import live_server
from tests.support.packs import pack_body
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def leak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leak]:
    """One server for the module: every test only reads (and re-uploads one chunk)."""
    with leak_world(tmp_path_factory.mktemp("exact")) as world:
        yield world


@dataclass
class Stolen:
    pack: str
    offset: int
    data: bytes
    pack_size: int


async def _mallory_owns_one_of_alices_chunks(leak: Leak) -> Stolen:
    alice_hash, pack, offset, chunk = leak.first_chunk()
    length = len(chunk)
    status, _, _ = await call(leak.world, "mallory", "POST", "/v1/packs",
                              data=pack_body([chunk])[1])
    assert status == 201
    status, found, _ = await call(leak.world, "mallory", "POST", "/v1/chunks/locate",
                                  json={"hashes": [alice_hash]})
    assert found["locations"][alice_hash] == [pack, offset, length]  # alice's copy
    pack_size = max(o + n for p, o, n in leak.locations.values() if p == pack)
    assert pack_size > length  # the pack holds more of alice's bytes around it
    return Stolen(pack, offset, chunk, pack_size)


def _range(s: Stolen) -> str:
    return f"bytes={s.offset}-{s.offset + len(s.data) - 1}"


# Headers sent WITH the permitted range: each once let an HTTP server widen the answer.
EXTRA_HEADERS = [
    pytest.param({"If-Range": "Mon, 01 Jan 1990 00:00:00 GMT"}, id="if-range-past"),
    pytest.param({"If-Range": "Fri, 01 Jan 2100 00:00:00 GMT"}, id="if-range-future"),
    pytest.param({"If-Range": '"some-etag"'}, id="if-range-etag"),
    pytest.param({"If-None-Match": "*"}, id="if-none-match-any"),
    pytest.param({"If-Match": '"nothing"'}, id="if-match"),
    pytest.param({"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}, id="if-modified"),
    pytest.param({"If-Unmodified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}, id="if-unmodified"),
    pytest.param({"Accept-Encoding": "gzip, br"}, id="accept-encoding"),
    pytest.param({"Cache-Control": "no-cache", "Pragma": "no-cache"}, id="no-cache"),
    pytest.param({"X-HTTP-Method-Override": "PUT"}, id="method-override"),
]

def _fullwidth(number: int) -> str:
    """``number`` in FULLWIDTH digits (every digit: a partial replacement could leave the
    permitted range itself, which is answered 206)."""
    return "".join(chr(0xFF10 + int(d)) for d in str(number))


# Ranges a restricted caller might send instead of (or around) the permitted one.
def _variants(s: Stolen) -> list[str]:
    first, last = s.offset, s.offset + len(s.data) - 1
    return [
        f"bytes={first}-{last},0-{s.pack_size - 1}",  # several ranges
        f"bytes=0-{s.pack_size - 1},{first}-{last}",
        f"bytes={first}-{last}, {first}-{last}",
        f"bytes=-{s.pack_size}",  # suffix
        f"bytes={first}-",  # open end
        "bytes=0-",
        f"bytes={first}-{last + 1}",  # one byte of alice's next chunk
        f"bytes={first - 1}-{last}",
        f"bytes={first}-99999999999999999999",  # past any integer a seek takes
        f"bytes=\N{SUPERSCRIPT TWO}-{last}",  # Unicode digits
        f"bytes={_fullwidth(first)}-{last}",  # Unicode digits int() would take
        f"items={first}-{last}",
        f"bytes = {first} - {last}",
        f"bytes={last}-{first}",
        "",
    ]


def _holds_none_of(body: object, leak: Leak, s: Stolen) -> bool:
    """No 64-byte window of alice's file except the stolen chunk's appears in ``body``."""
    raw = body if isinstance(body, bytes) else repr(body).encode()
    if not raw:
        return True
    data = leak.secret_file.read_bytes()
    at = data.find(s.data)
    private = data[:at] + b"\0" + data[at + len(s.data) :]
    return not any(private[i : i + 64] in raw for i in range(0, len(private) - 64, 4096))


@pytest.mark.parametrize("extra", EXTRA_HEADERS)
async def test_extra_headers_never_widen_a_permitted_range(
    leak: Leak, extra: dict[str, str]
) -> None:
    s = await _mallory_owns_one_of_alices_chunks(leak)
    status, body, headers = await call(leak.world, "mallory", "GET", f"/v1/packs/{s.pack}",
                                       headers={"Range": _range(s), **extra})
    assert status == 206, (status, body)
    assert body == s.data
    assert headers["Content-Range"] == f"{_range(s).replace('=', ' ')}/*"  # no pack size


def test_other_ranges_are_refused_without_a_byte(tmp_path: Path) -> None:
    import asyncio

    with leak_world(tmp_path) as leak:  # a world of its own: no earlier uploads
        asyncio.run(_refused_without_a_byte(leak))


async def _refused_without_a_byte(leak: Leak) -> None:
    s = await _mallory_owns_one_of_alices_chunks(leak)
    for rng in _variants(s):
        status, body, _ = await call(leak.world, "mallory", "GET", f"/v1/packs/{s.pack}",
                                     headers={"Range": rng})
        assert status in (400, 404), (rng, status)
        assert _holds_none_of(body, leak, s), rng


async def test_two_range_headers_are_refused(leak: Leak) -> None:
    import aiohttp
    from multidict import CIMultiDict

    s = await _mallory_owns_one_of_alices_chunks(leak)
    sent: CIMultiDict[str] = CIMultiDict()
    sent.add("Authorization", f"Bearer {leak.world.keys['mallory']}")
    sent.add("Range", _range(s))
    sent.add("Range", f"bytes=0-{s.pack_size - 1}")
    async with aiohttp.ClientSession() as http, http.get(
        f"{leak.world.server.url}/v1/packs/{s.pack}", headers=sent
    ) as resp:
        body = await resp.read()
        assert resp.status == 400
        assert _holds_none_of(body, leak, s)


async def test_head_answers_the_range_headers_and_no_body(leak: Leak) -> None:
    s = await _mallory_owns_one_of_alices_chunks(leak)
    for extra in ({}, {"If-Range": "Mon, 01 Jan 1990 00:00:00 GMT"}):
        status, body, headers = await call(leak.world, "mallory", "HEAD", f"/v1/packs/{s.pack}",
                                           headers={"Range": _range(s), **extra})
        assert status == 206 and body == b""
        assert int(headers["Content-Length"]) == len(s.data)
    status, body, headers = await call(leak.world, "mallory", "HEAD", f"/v1/packs/{s.pack}")
    assert status == 400 and "Content-Range" not in headers


async def test_a_read_into_another_projects_pack_is_audited(leak: Leak) -> None:
    world = leak.world
    s = await _mallory_owns_one_of_alices_chunks(leak)
    for _ in range(3):  # one pull reads many ranges: one event per user and pack
        status, _, _ = await call(world, "mallory", "GET", f"/v1/packs/{s.pack}",
                                  headers={"Range": _range(s)})
        assert status == 206
    # Mallory's reads of her own pack are not events.
    own = os.urandom(999)
    status, receipt, _ = await call(world, "mallory", "POST", "/v1/packs",
                                    data=pack_body([own])[1])
    status, _, _ = await call(world, "mallory", "GET", f"/v1/packs/{receipt['pack']}",
                              headers={"Range": "bytes=0-998"})
    assert status == 206
    events = await _events(root=world.server.root)
    reads = [e for e in events if e.action == "pack_read"]
    assert len(reads) == 1
    (event,) = reads
    assert (event.user, event.project) == ("mallory", "secret")
    assert event.detail == {"pack": s.pack, "first": s.offset, "last": s.offset + len(s.data) - 1}


async def _events(root: Path) -> list:  # type: ignore[type-arg]
    from asyncart.repo.audit import AuditLog
    from asyncart.repo.location import StoreLocation

    audit = AuditLog(StoreLocation.of(root).db)
    await audit.open()
    try:
        return await audit.query(limit=1000)
    finally:
        await audit.close()


# -- unrestricted callers: the same strict Range rules, no 500 ------------------------------


async def _unrestricted_pack(url: str) -> tuple[str, bytes]:
    import aiohttp

    data = os.urandom(5000)
    async with aiohttp.ClientSession() as http, http.post(
        f"{url}/v1/packs", data=pack_body([data])[1]
    ) as resp:
        assert resp.status == 201
        return (await resp.json())["pack"], data


async def _get(url: str, pack: str, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(
        f"{url}/v1/packs/{pack}", headers=headers
    ) as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Range")


HUGE = ["bytes=0-99999999999999999999", "bytes=99999999999999999999-99999999999999999999",
        "bytes=0-9223372036854775807", "bytes=9223372036854775800-9223372036854775807"]


@pytest.mark.parametrize("rng", HUGE)
async def test_huge_range_numbers_are_416_on_a_filesystem_store(
    tmp_path: Path, rng: str
) -> None:
    with live_server(tmp_path / "store") as server:
        pack, data = await _unrestricted_pack(server.url)
        status, body, content_range = await _get(server.url, pack, {"Range": rng})
        assert (status, body, content_range) == (416, b"", f"bytes */{len(data)}")
        status, body, _ = await _get(server.url, pack, {
            "Range": "bytes=10-19", "If-Range": "Mon, 01 Jan 1990 00:00:00 GMT"})
        assert (status, body) == (206, data[10:20])


async def test_huge_range_numbers_are_answered_on_an_s3_store(
    tmp_path: Path, s3_bucket: S3Bucket  # noqa: F811
) -> None:
    with live_server(tmp_path / "store", extra_args=["--blobs", s3_bucket.url],
                     extra_env=s3_bucket.env) as server:
        pack, data = await _unrestricted_pack(server.url)
        for rng in HUGE:
            status, body, _ = await _get(server.url, pack, {"Range": rng})
            assert status in (400, 416) and data not in body, rng  # never a 500
        for rng in ["bytes=-10", "bytes=10-", "bytes=0-1,3-4"]:
            status, _, _ = await _get(server.url, pack, {"Range": rng})
            assert status == 400, rng
        status, body, content_range = await _get(server.url, pack, {"Range": "bytes=10-19"})
        assert (status, body, content_range) == (206, data[10:20], f"bytes 10-19/{len(data)}")
