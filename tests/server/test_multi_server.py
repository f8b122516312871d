"""Several stateless servers over one PostgreSQL database and one S3 bucket.

Two ``asyncart server`` processes on different ports share a PostgreSQL metadata
database and an S3-compatible bucket (both started by the fixtures on 127.0.0.1). 16
clients push to one server and read through the other, alternating: every version
is numbered contiguously across both servers, a commit through one is visible
through the other at once, and every pull is verified.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncart import aio
from tests.support.live_server import LiveServer, live_server
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

CLIENTS = 16
ROUNDS = 2


@pytest.fixture
def two_servers(
    tmp_path: Path,
    postgres_url: str,
    s3_bucket: S3Bucket,  # noqa: F811
) -> Iterator[tuple[LiveServer, LiveServer]]:
    args = ["--db", postgres_url, "--blobs", s3_bucket.url]
    with (
        live_server(tmp_path / "a", extra_args=args, extra_env=s3_bucket.env) as first,
        live_server(tmp_path / "b", extra_args=args, extra_env=s3_bucket.env) as second,
    ):
        yield first, second


async def test_sixteen_clients_through_two_servers_see_one_store(
    two_servers: tuple[LiveServer, LiveServer], tmp_path: Path
) -> None:
    urls = [s.url for s in two_servers]
    committed: dict[int, str] = {}  # version index -> artifact digest

    async def client(n: int) -> None:
        push_url, read_url = urls[n % 2], urls[(n + 1) % 2]
        for r in range(ROUNDS):
            source = tmp_path / f"c{n}-r{r}"
            source.mkdir()
            data = os.urandom(200_000 + 1000 * n) + bytes([n, r])
            (source / "weights.bin").write_bytes(data)
            async with await aio.init(job_type="train", url=push_url) as run:
                art = aio.Artifact("shared", type="model")
                art.add_dir(source)
                await run.log_artifact(art, aliases=[f"client-{n}"])
            assert art.version is not None and art.digest is not None
            index = int(art.version[1:])
            assert index not in committed
            committed[index] = art.digest
            # Through the other server, at once: the same version, alias and bytes.
            async with aio.Api(url=read_url) as api:
                seen = await api.artifact(f"shared:client-{n}")
                assert (seen.version, seen.digest) == (art.version, art.digest)
                out = await seen.download(tmp_path / f"pulled-c{n}-r{r}")
            pulled = (Path(out) / "weights.bin").read_bytes()
            assert hashlib.sha256(pulled).digest() == hashlib.sha256(data).digest()

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))

    assert sorted(committed) == list(range(CLIENTS * ROUNDS))  # contiguous, none twice
    listings = []
    for url in urls:
        async with aio.Api(url=url) as api:
            versions = await api.artifact_versions("shared")
            listings.append([(v.version, v.digest) for v in versions])
            latest = await api.artifact("shared:latest")
            assert latest.version == f"v{CLIENTS * ROUNDS - 1}"
    assert listings[0] == listings[1]
    assert [d for _, d in listings[0]] == [committed[i] for i in range(CLIENTS * ROUNDS)]
