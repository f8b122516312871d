"""Sections of docs/performance.md drawn from the other benchmarks' results files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MiB = 1 << 20


def training_section(results_dir: Path) -> list[str]:
    """The ``python -m bench.training_overhead`` runs of the newest date (issue 8)."""
    from bench.training_overhead import format_table

    runs = [
        (p, json.loads(p.read_text())) for p in sorted(results_dir.glob("training-overhead*.json"))
    ]
    if not runs:
        return []
    newest = max(data["date"] for _, data in runs)
    out = [
        "## A training loop while a checkpoint uploads (issue 8)",
        "",
        "A CPU-bound loop's steps/s while `run.log_artifact` uploads in the background, "
        "against its own rate before and after; `push worker` is `ASYNCART_PUSH_WORKER`. "
        "What the figures mean: `docs/performance-notes.md`.",
        "",
    ]
    for path, data in runs:
        if data["date"] == newest:
            command = data.get("command", "python -m bench.training_overhead")
            note = [data["note"], ""] if data.get("note") else []
            out += [
                f"`{command}` (`bench/results/{path.name}`):",
                "",
                *note,
                format_table(data),
                "",
            ]
    return out


def pack_writes_section(results_dir: Path) -> list[str]:
    """The newest ``python -m bench.pack_writes`` run: the store's writes, O_DIRECT or not."""
    from bench.pack_writes import format_table

    runs = sorted(results_dir.glob("pack-writes-*.json"))
    if not runs:
        return []
    data = json.loads(runs[-1].read_text())
    return [
        "## Writing packs: O_DIRECT or the page cache",
        "",
        f"`{data['command']}` on {data['date']} (`bench/results/{runs[-1].name}`); why the "
        'store writes packs with O_DIRECT: `docs/design.md`, "Writing packs past the page '
        'cache".',
        "",
        format_table(data),
        "",
    ]


def backends_section(results_dir: Path) -> list[str]:
    """The newest ``python -m bench.store_backends`` run (issue 7), if there is one."""
    runs = sorted(results_dir.glob("store-backends-*.json"))
    if not runs:
        return []
    data = json.loads(runs[-1].read_text())
    out = [
        "## Store backends (issue 7)",
        "",
        f"`python -m bench.store_backends` on {data['date']} (`bench/results/{runs[-1].name}`): "
        "one server over each store, SeaweedFS and PostgreSQL on this same machine; medians.",
        "",
    ]
    transfer = data.get("transfer")
    if transfer:
        out += [
            f"Push then pull of one {transfer['size'] // MiB} MiB file, {transfer['repeats']} "
            "repeats, the stores alternating:",
            "",
            "| store | push MB/s | pull MB/s | push ÷ filesystem | pull ÷ filesystem |",
            "|---|---|---|---|---|",
        ]
        rows: dict[str, dict[str, Any]] = {}
        for row in transfer["rows"]:
            rows.setdefault(row["store"], {})[row["op"]] = row
        for store, ops in rows.items():
            out.append(
                f"| {store} | {ops['push']['mb_per_s']:.0f} | {ops['pull']['mb_per_s']:.0f} "
                f"| {ops['push']['vs_filesystem']:.2f} | {ops['pull']['vs_filesystem']:.2f} |"
            )
        out.append("")
    out += [
        "Metadata operations per second (commits of 100-entry manifests to one artifact, "
        "then resolves of `name:latest`), by concurrent clients:",
        "",
        "| metadata store | clients | commits/s | resolves/s |",
        "|---|---|---|---|",
    ]
    for row in data["metadata"]["rows"]:
        out.append(
            f"| {row['store']} | {row['clients']} | {row['commit_per_s_median']:.0f} "
            f"| {row['resolve_per_s_median']:.0f} |"
        )
    return [*out, ""]
