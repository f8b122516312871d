"""``python -m bench [--quick | --smoke]``: run every case; write results JSON and the docs.

``--smoke`` runs every case once at a toy size: it proves the suite runs end to end
(CI's use) and its figures mean nothing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import data
from bench.bytecode import compile_package
from bench.cases import (
    edited_round_trip,
    embedded_round_trip,
    server_round_trip,
    unchanged_repush,
)
from bench.measure import CaseResult, dump

ROOT = Path(__file__).resolve().parent.parent
MiB, GiB = 1 << 20, 1 << 30


@dataclass(frozen=True)
class Profile:
    sizes: tuple[int, ...]
    main: int
    repeats: int
    small_files: int
    sweep: tuple[int, ...]
    sweep_size: int
    pack_sweep: tuple[int, ...] = (8 * MiB, 16 * MiB, 32 * MiB, 64 * MiB)
    rtt_ms: float = 50.0
    rotations: int = 3  # interleaved rotations at the main size (bench.rotation)
    cache_size: int = 2 * GiB  # bench.cache_cases: the checkpoint's size
    cache_entries: int = 1_000_000  # bench.cache_eviction: entries pruned
    eviction_repeats: int = 3
    cache_rotations: int = 3
    cache_baselines: bool = True  # the eight pulls again with --no-cache


QUICK = Profile(
    sizes=(256 * MiB,),
    main=256 * MiB,
    repeats=3,
    small_files=20_000,
    sweep=(1, 2, 4, 8),
    sweep_size=256 * MiB,
    # bench.cache_cases in --quick: one rotation, adding about 40 s
    cache_size=64 * MiB,
    cache_entries=20_000,
    eviction_repeats=1,
    cache_rotations=1,
    cache_baselines=False,
)
SMOKE = Profile(
    sizes=(16 * MiB,),
    main=16 * MiB,
    repeats=1,
    small_files=500,
    sweep=(1, 4),
    sweep_size=16 * MiB,
    pack_sweep=(8 * MiB,),
    rotations=1,
    cache_size=16 * MiB,
    cache_entries=2_000,
    eviction_repeats=1,
    cache_rotations=1,
    cache_baselines=False,
)
FULL = Profile(
    sizes=(256 * MiB, 2 * GiB, 8 * GiB),
    main=2 * GiB,
    repeats=3,
    small_files=20_000,
    sweep=(1, 2, 4, 8, 16),
    sweep_size=2 * GiB,
)


def label(size: int) -> str:
    return f"{size // GiB} GiB" if size >= GiB else f"{size // MiB} MiB"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def distant_server(size_label: str, src: Path, work: Path, profile: Profile) -> list[CaseResult]:
    """A distant server: the adaptive limit against the fixed starting level."""
    results: list[CaseResult] = []
    for mode, env in (
        ("fixed 4", {"ASYNCART_CONCURRENCY": "4", "ASYNCART_MAX_CONCURRENCY": "4"}),
        ("adaptive", {}),
    ):
        log(f"{profile.rtt_ms:g} ms RTT, concurrency {mode} at {size_label}")
        results += server_round_trip(
            f"{size_label} at {profile.rtt_ms:g} ms RTT, concurrency {mode}",
            src,
            work,
            profile.repeats,
            env=env,
            params={"rtt_ms": profile.rtt_ms, "concurrency_mode": mode},
            rtt_ms=profile.rtt_ms,
        )
    return results


def run(profile: Profile, work: Path, peers: bool) -> tuple[list[CaseResult], dict[str, Any]]:
    """Every case; and the record of the interleaved rotations at the main size."""
    results: list[CaseResult] = []
    rotation: dict[str, Any] = {}
    for size in sorted(profile.sizes):
        src = data.random_file(work / f"random-{label(size).replace(' ', '')}.bin", size, seed=size)
        data.warm(src)
        if size == profile.main:
            from bench.ceilings import run_ceilings
            from bench.rotation import run_rotations

            log(f"{profile.rotations} interleaved rotations at {label(size)}")
            rotation, cases = run_rotations(src, work / "rotation", profile.rotations, peers=peers)
            results += cases
            log(f"ceilings at {label(size)}")
            results += run_ceilings(work, src, profile.repeats)
            if peers:
                from bench.peers import run_peer_pulls, run_peer_pushes

                # curl, aria2c and hf_transfer from nginx ran in the rotation, beside asyncart.
                log(f"other peers at {label(size)}")
                results += run_peer_pushes(work, src, profile.repeats)
                results += run_peer_pulls(work, src, profile.repeats, nginx_tools=("rclone",))
            log(f"asyncart embedded at {label(size)}")
            results += embedded_round_trip(label(size), src, work, profile.repeats)
        log(f"asyncart server at {label(size)}")
        results += server_round_trip(label(size), src, work, profile.repeats)
        if size == profile.sweep_size:
            # Fixed levels (start = ceiling), then packs at the adaptive default.
            sweeps = [
                (
                    "concurrency",
                    {"ASYNCART_CONCURRENCY": c, "ASYNCART_MAX_CONCURRENCY": c},
                    c,
                    str(c),
                )
                for c in profile.sweep
            ]
            sweeps += [("pack", {"ASYNCART_PACK_SIZE": p}, p, label(p)) for p in profile.pack_sweep]
            for knob, env, value, shown in sweeps:
                log(f"{knob} {shown} at {label(size)}")
                results += server_round_trip(
                    f"{label(size)} {knob} {shown}",
                    src,
                    work,
                    1,
                    env={k: str(v) for k, v in env.items()},
                    params={"concurrency" if knob == "concurrency" else "pack_size": value},
                )
            results += distant_server(label(size), src, work, profile)
            log(f"unchanged re-push at {label(size)}")
            results.append(unchanged_repush(label(size), src, work, profile.repeats))
        if size != profile.main:
            data.drop(src)
    ckpt = data.checkpoint_file(work / "checkpoint.safetensors", profile.main)
    data.warm(ckpt)
    log("checkpoint-like file")
    results += server_round_trip(f"checkpoint {label(profile.main)}", ckpt, work, profile.repeats)
    edited = work / "checkpoint-edited.safetensors"
    changed = data.edited_checkpoint(ckpt, edited)
    data.warm(edited)
    log("checkpoint edited: 2% of tensors rewritten, header grown")
    results += edited_round_trip(
        f"checkpoint {label(profile.main)}", ckpt, edited, changed, work, profile.repeats
    )
    data.drop(edited)
    data.drop(ckpt)
    tree = data.small_files(work / "small", profile.small_files)
    data.warm(tree)
    log(f"{profile.small_files} small files")
    results += server_round_trip(f"{profile.small_files} x 4 KiB", tree, work, profile.repeats)
    results += embedded_round_trip(f"{profile.small_files} x 4 KiB", tree, work, profile.repeats)
    # Last: its eviction case creates and removes many files (see data.drop on why).
    from bench.cache_cases import run_cache_cases

    log(f"cache, partial and lazy access at {label(profile.cache_size)} (issue 18)")
    results += run_cache_cases(
        work / "cache",
        profile.cache_size,
        profile.cache_rotations,
        profile.cache_entries,
        eviction_repeats=profile.eviction_repeats,
        concurrent_baseline=profile.cache_baselines,
    )
    return results, rotation


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="256 MiB only; under 5 minutes")
    size.add_argument(
        "--smoke", action="store_true", help="every case once at 16 MiB: no figures, ~1 minute"
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the peer tools")
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a new temp dir)")
    parser.add_argument(
        "--docs", action="store_true", help="regenerate docs/performance.md (default for full runs)"
    )
    args = parser.parse_args()
    compile_package()  # time the CLI as installed: with its .pyc files (bench/bytecode.py)
    mode = "--smoke" if args.smoke else "--quick" if args.quick else ""
    profile = SMOKE if args.smoke else QUICK if args.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="asyncart-bench-", dir=args.workdir))
    started = time.time()
    try:
        cases, rotation = run(profile, work, peers=not args.no_peers)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    host = socket.gethostname()
    date = datetime.date.today().isoformat()
    suffix = mode.replace("--", "-")
    meta = {
        "command": " ".join(
            part for part in ("python -m bench", mode, "--no-peers" * args.no_peers) if part
        ),
        "date": date,
        "host": host,
        "cpus": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / GiB,
        "python": platform.python_version(),
        "repeats": profile.repeats,
        "rotations": profile.rotations,
        "main_label": label(profile.main),
        "seconds": round(time.time() - started, 1),
        "notes": [],
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{date}-{host}{suffix}.json"
    results = {"meta": meta, "cases": [c.to_json() for c in cases], "rotation": rotation}
    dump(path, results)
    log(f"results: {path} ({meta['seconds']} s)")
    if args.docs or not mode:
        from bench.report import write_docs

        log(f"docs: {write_docs(path, ROOT / 'docs')}")
    else:
        from bench.report import render

        print(render(results, ROOT / "docs", path.name))


if __name__ == "__main__":
    main()
