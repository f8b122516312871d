"""``python -m bench.auth_overhead``: what keys, roles and leak-free dedup cost a server.

Two servers run side by side on 127.0.0.1: one over a store without users (no
checks at all) and one over a store with users, reached with the key of a user who
has ``write`` on the project (every request looks the key and its grants up; every
chunk answer is filtered by visibility; pulls and pushes are audited). Each
measurement alternates between the two within a repeat (A, B, B, A, ...), and the
figure is the median over repeats of the per-repeat ratio ``with users ÷ without``,
so machine drift cancels out:

* ``resolve``: ``GET …/versions/latest`` requests per second, 16 at a time;
* ``missing``: one ``chunks/missing`` query of 20,000 present hashes (seconds);
* ``push small`` / ``pull small``: N x 4 KiB files through the real client;
* ``push big`` / ``pull big``: one random file through the real client.

Writes ``bench/results/auth-overhead-<date>.json`` and prints a Markdown table.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import blake3

from asyncart.core.manifest import ChunkRef
from asyncart.core.pack import PackHeader
from asyncart.repo.access import Role
from asyncart.repo.accounts import AccountStore
from bench.data import random_file, small_files
from bench.measure import python_module, run_measured, service

ROOT = Path(__file__).resolve().parent.parent
MiB = 1 << 20
PROJECT = "default"


@dataclass
class Target:
    """One server and how to reach it."""

    label: str
    url: str
    key: str | None

    @property
    def env(self) -> dict[str, str]:
        env = {"ASYNCART_HASH_CACHE": "0"}
        if self.key:
            env["ASYNCART_API_KEY"] = self.key
        return env

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def _make_key(root: Path) -> str:
    async def work() -> str:
        accounts = await AccountStore.open_dir(root)
        try:
            await accounts.create_user("bench")
            await accounts.grant("bench", PROJECT, Role.WRITE)
            return (await accounts.create_key("bench"))[1]
        finally:
            await accounts.close()

    return asyncio.run(work())


@contextmanager
def targets(work: Path) -> Iterator[list[Target]]:
    """The two servers: without users, with users (and the key to use)."""
    open_root, users_root = work / "store-open", work / "store-users"
    users_root.mkdir(parents=True)
    key = _make_key(users_root)
    with ExitStack() as stack:
        found = []
        for label, root, k in (("no users", open_root, None), ("users", users_root, key)):
            srv = stack.enter_context(service(
                python_module("asyncart", "server", "--root", str(root), "--init", "--host",
                              "127.0.0.1", "--port", "0"),
                ready="asyncart server listening on",
            ))
            found.append(Target(label, srv.url, k))
        yield found


def client(target: Target, *args: str) -> float:
    """Run the bench client worker against ``target``; its wall seconds."""
    wall, _, _, _ = run_measured(
        python_module("bench.client_worker", *args, "--url", target.url), env=target.env
    )
    return wall


async def resolve_rate(target: Target, requests: int) -> float:
    url = f"{target.url}/v1/projects/{PROJECT}/artifacts/small/versions/latest"
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(headers=target.headers) as http:

        async def one() -> None:
            async with gate, http.get(url) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start)


async def upload_chunks(target: Target, count: int) -> list[str]:
    """Upload ``count`` small chunks (one pack); their hashes."""
    chunks = [os.urandom(64) + i.to_bytes(4, "little") for i in range(count)]
    header = PackHeader(tuple(ChunkRef(blake3.blake3(c).hexdigest(), len(c)) for c in chunks))
    body = header.encode() + b"".join(chunks)
    async with (
        aiohttp.ClientSession(headers=target.headers) as http,
        http.post(f"{target.url}/v1/packs", data=body) as r,
    ):
        assert r.status == 201, await r.text()
    return [ref.hash for ref in header.chunks]


async def missing_seconds(target: Target, hashes: list[str]) -> float:
    async with aiohttp.ClientSession(headers=target.headers) as http:
        start = time.perf_counter()
        async with http.post(f"{target.url}/v1/chunks/missing", json={"hashes": hashes}) as r:
            body = await r.json()
        seconds = time.perf_counter() - start
    assert body["missing"] == [], "the uploader must see its own chunks"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-files", type=int, default=5000)
    parser.add_argument("--big", type=int, default=256, help="MiB")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows: dict[str, dict[str, list[float]]] = {}

    def record(name: str, label: str, value: float) -> None:
        rows.setdefault(name, {}).setdefault(label, []).append(value)

    with tempfile.TemporaryDirectory(prefix="asyncart-auth-bench-") as tmp:
        work = Path(tmp)
        small = small_files(work / "small", args.small_files)
        big = random_file(work / "big.bin", args.big * MiB)
        with targets(work) as both:
            hashes = {t.label: asyncio.run(upload_chunks(t, 20_000)) for t in both}
            for i in range(args.repeats):
                order = both if i % 2 == 0 else both[::-1]
                for t in order:
                    record("push small (s)", t.label,
                           client(t, "push", str(small), "--name", "small"))
                for t in order[::-1]:
                    out = work / f"pulled-{t.label}"
                    record("pull small (s)", t.label,
                           client(t, "pull", "small", "--out", str(out)))
                    shutil.rmtree(out)
                for t in order:
                    record("push big (s)", t.label, client(t, "push", str(big), "--name", "big"))
                for t in order[::-1]:
                    out = work / f"pulled-big-{t.label}"
                    record("pull big (s)", t.label, client(t, "pull", "big", "--out", str(out)))
                    shutil.rmtree(out)
                for t in order:
                    record("resolve (req/s)", t.label, asyncio.run(resolve_rate(t, args.requests)))
                    record("missing 20k (s)", t.label,
                           asyncio.run(missing_seconds(t, hashes[t.label])))
                print(f"repeat {i + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    table: list[dict[str, Any]] = []
    for name, by in rows.items():
        ratios = [u / o for u, o in zip(by["users"], by["no users"], strict=True)]
        table.append({
            "measure": name,
            "no_users_median": statistics.median(by["no users"]),
            "users_median": statistics.median(by["users"]),
            "ratio_median": statistics.median(ratios),
            "ratios": ratios,
            "raw": by,
        })
    date = datetime.date.today().isoformat()
    out = args.out or ROOT / "bench" / "results" / f"auth-overhead-{date}.json"
    out.write_text(json.dumps({
        "date": date, "repeats": args.repeats, "small_files": args.small_files,
        "big_mib": args.big, "requests": args.requests, "cpus": os.cpu_count(),
        "results": table,
    }, indent=1) + "\n")
    print("| measure | no users | users | users ÷ no users (median of per-repeat ratios) |")
    print("|---|---|---|---|")
    for row in table:
        print(f"| {row['measure']} | {row['no_users_median']:.3g} | {row['users_median']:.3g} "
              f"| {row['ratio_median']:.3f} |")
    print(f"written {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
