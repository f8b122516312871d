"""Interleaved rotations: asyncart and what it is judged against, in one shuffled order.

One rotation runs every participant (:mod:`bench.rotation_participants`) once,
in an order shuffled for that rotation (``random.Random(seed + rotation)``; the
seed and every order are in the results). Only ratios between figures of the
same rotation are formed (:mod:`bench.rotation_ratios`): on this VM kernel
costs drift by 2x within an hour, so a push timed at 16:00 against an upload
timed at 16:20 says nothing. The targets are judged on the medians of the
per-rotation ratios.

Alone, for an engineer measuring a change::

    python -m bench.rotation FILE [--rotations 3] [--seed 19] [--workdir DIR] [--json OUT]

prints the per-rotation table, the medians and the verdicts. ``python -m bench``
runs it at its main size (:func:`run_rotations`; 2 GiB, or 256 MiB with
``--quick``) and the report puts it first in ``docs/performance.md``
(:mod:`bench.rotation_report`). That file is regenerated only from a full run:
``python -m bench`` writes it, or ``python -m bench.report bench/results/FILE.json
docs`` redraws it from a full run's results.

A peer that is not installed (nginx, curl, aria2c, hf_transfer: ``bench/setup-peers.sh``)
is a skipped participant; the pull is then judged against the peers present,
and the report says which those were. ``ASYNCART_BENCH_PEERS_VENV`` points to
the venv holding hf_transfer when it is not ``bench/.venv-peers``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.bytecode import compile_package
from bench.data import warm
from bench.measure import CaseResult, Measurement, dump
from bench.rotation_participants import Participant, participants
from bench.rotation_ratios import Figure, rotation_ratios, summarize, verdicts

DEFAULT_SEED = 19
GROUP = "rotation"  # the CaseResult group of every participant


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] rotation: {msg}", file=sys.stderr, flush=True)


def figure(m: Measurement) -> Figure:
    """The rate and client + server CPU of one run."""
    cpu = None if m.client_cpu_s is None else m.client_cpu_s + (m.server_cpu_s or 0.0)
    return Figure(mb_s=m.mb_s, cpu_s=cpu, nbytes=m.nbytes)


def shuffled(names: Sequence[str], seed: int, rotation: int) -> list[str]:
    """The order of one rotation: ``names`` shuffled by a generator seeded for it."""
    order = list(names)
    random.Random(seed + rotation).shuffle(order)
    return order


def one_rotation(
    active: dict[str, Participant], seed: int, index: int, total: int
) -> dict[str, Any]:
    """Run every active participant once, in this rotation's order; its runs and ratios."""
    order = shuffled(sorted(active), seed, index)
    runs: dict[str, Measurement] = {}
    for name in order:
        run = active[name].run
        assert run is not None
        runs[name] = run(index)
        log(f"{index + 1}/{total} {name}: {runs[name].mb_s:.0f} MB/s")
    ratios = rotation_ratios({name: figure(m) for name, m in runs.items()})
    return {
        "rotation": index,
        "order": order,
        "runs": {name: asdict(m) for name, m in runs.items()},
        "mb_s": {name: m.mb_s for name, m in runs.items()},
        "cpu_s_per_gib": {name: figure(m).cpu_s_per_gib for name, m in runs.items()},
        "ratios": ratios,
    }


def run_rotations(
    source: Path, work: Path, rotations: int, seed: int = DEFAULT_SEED, peers: bool = True
) -> tuple[dict[str, Any], list[CaseResult]]:
    """``rotations`` rotations over ``source`` (in the page cache); the record and the cases.

    ``work`` is scratch space on the store's filesystem, removed when done.

    The record (``results["rotation"]``) has the seed, each rotation's order, runs
    and ratios, the medians and the verdicts; the cases (group ``rotation``) hold
    each participant's runs for the report's table of all cases. Without ``peers``
    the nginx clients are skipped.
    """
    size = source.stat().st_size
    warm(source)
    records: list[dict[str, Any]] = []
    try:
        with ExitStack() as stack:
            log(f"setting up in {work}")
            everyone = participants(stack, source, work, peers)
            active = {p.name: p for p in everyone if p.run is not None}
            for index in range(rotations):
                records.append(one_rotation(active, seed, index, rotations))
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the servers' stores: gigabytes
        os.sync()
    summary = summarize([r["ratios"] for r in records])
    record = {
        "size": size,
        "seed": seed,
        "shuffle": "random.Random(seed + rotation).shuffle(sorted participant names)",
        "timing": "process wall of each command, start-up included (as its user runs it)",
        "participants": [
            {
                "name": p.name,
                "group": p.group,
                "tool": p.tool,
                "skipped": p.skipped,
                "params": p.params,
            }
            for p in everyone
        ],
        "rotations": records,
        "summary": summary,
        "verdicts": [{**asdict(v), "met": v.met} for v in verdicts(summary)],
    }
    cases = [
        CaseResult(
            name=f"{p.name} (rotation)",
            group=GROUP,
            tool=p.tool,
            size=size,
            runs=[Measurement(**r["runs"][p.name]) for r in records if p.name in r["runs"]],
            skipped=p.skipped,
            params={**p.params, "rotation_group": p.group},
        )
        for p in everyone
    ]
    return record, cases


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.rotation FILE [--rotations N]``: run, print the tables."""
    from bench.rotation_report import rotation_lines

    parser = argparse.ArgumentParser(prog="python -m bench.rotation", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--rotations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workdir", type=Path, help="scratch parent (default: beside FILE)")
    parser.add_argument("--json", type=Path, help="also write the record and cases as JSON")
    parser.add_argument("--no-peers", action="store_true", help="skip curl, aria2c, hf_transfer")
    args = parser.parse_args(argv)
    compile_package()  # time the CLI as installed: with its .pyc files (bench/bytecode.py)
    source = args.file.resolve()
    work = Path(tempfile.mkdtemp(prefix="asyncart-rotation-", dir=args.workdir or source.parent))
    record, cases = run_rotations(source, work, args.rotations, args.seed, peers=not args.no_peers)
    print("\n".join(rotation_lines(record)))
    if args.json:
        dump(args.json, {"rotation": record, "cases": [c.to_json() for c in cases]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
