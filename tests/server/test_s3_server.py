"""End to end with the blobs in S3: ``asyncart server --root DIR --blobs s3://bucket/prefix``.

A real server subprocess (metadata in SQLite under DIR, packs and manifests in a bucket
of the SeaweedFS server the fixtures start on 127.0.0.1); the client pushes a file of a
few packs and pulls it back through the server (which reads the packs with ranged GETs),
verified; ``asyncart server fsck`` and ``gc`` run on the same store next to the server.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncart import aio
from tests.support.live_server import live_server
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

MiB = 1 << 20


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> S3Bucket:
    return request.getfixturevalue("s3_bucket")  # type: ignore[no-any-return]


def bucket_keys(bucket: S3Bucket) -> list[str]:
    client: Any = bucket.server.client()
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket.name)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", ()))
    finally:
        client.close()


def maintain(root: Path, bucket: S3Bucket, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCART_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "asyncart",
            "server",
            "--root",
            str(root),
            "--blobs",
            bucket.url,
            *args,
        ],
        capture_output=True,
        text=True,
        env={**env, **bucket.env},
        timeout=120,
        check=False,
    )


async def test_push_and_pull_through_a_server_with_s3_blobs(
    bucket: S3Bucket, tmp_path: Path
) -> None:
    root = tmp_path / "server-store"
    data = os.urandom(40 * MiB + 12345)  # two packs: 32 MiB and the rest
    source = tmp_path / "src"
    source.mkdir()
    (source / "weights.bin").write_bytes(data)
    (source / "small.txt").write_bytes(b"a small file next to it\n")

    with live_server(root, extra_args=["--blobs", bucket.url], extra_env=bucket.env) as srv:
        async with await aio.init(job_type="train", url=srv.url) as run:
            art = aio.Artifact("checkpoint", type="model")
            art.add_dir(source)
            await run.log_artifact(art)
        assert art.version == "v0"

        keys = bucket_keys(bucket)
        packs = [k for k in keys if k.startswith(f"{bucket.prefix}/packs/")]
        assert len(packs) >= 2
        assert [k for k in keys if k.startswith(f"{bucket.prefix}/manifests/")]
        assert not (root / "blobs" / "packs").exists()  # nothing local but the database

        async with aio.Api(url=srv.url) as api:
            pulled = Path(
                await (await api.artifact("checkpoint:latest")).download(tmp_path / "pulled")
            )
        got = (pulled / "weights.bin").read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        assert (pulled / "small.txt").read_bytes() == b"a small file next to it\n"

        # Store maintenance on the same S3 store, next to the running server.
        checked = maintain(root, bucket, "fsck")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        collected = maintain(root, bucket, "gc")
        assert collected.returncode == 0, collected.stdout + collected.stderr
        assert bucket_keys(bucket) == keys  # nothing was garbage
