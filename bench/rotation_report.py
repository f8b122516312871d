"""The "Rotation" section of docs/performance.md (also what ``python -m bench.rotation`` prints)."""

from __future__ import annotations

import statistics
from typing import Any

from bench.rotation_ratios import (
    EMBEDDED_VS_CP,
    PULL_CPU_LIMIT,
    PUSH_CPU_LIMIT,
    PUSH_VS_BARE,
    PUSH_VS_DIRECT,
)

MiB = 1 << 20

#: (key in a rotation's ratios, how the table names it, its unit)
RATIO_ROWS = (
    ("pull_vs_best_peer", "pull ÷ best peer", "×"),
    ("best_peer", "best peer", ""),
    ("pull_vs_bare_download", "pull ÷ bare aiohttp download", "×"),
    ("pull_cpu_s_per_gib", "pull CPU s/GiB (client + server)", ""),
    ("push_vs_bare_upload", "push ÷ bare aiohttp upload", "×"),
    ("push_vs_direct_write", "push ÷ O_DIRECT + fsync write", "×"),
    ("push_binding", "push target binds on", ""),
    ("push_vs_target", "push ÷ binding target rate", "×"),
    ("push_cpu_s_per_gib", "push CPU s/GiB (client + server)", ""),
    ("embedded_push_vs_cp_sync", "embedded push ÷ cp + sync", "×"),
    ("embedded_pull_vs_cp_sync", "embedded pull ÷ cp + sync", "×"),
)


def _cell(value: object, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return str(value)


def _peak(runs: list[dict[str, Any]], key: str) -> str:
    """The largest ``key`` over the runs, in MiB (a dash if none was measured)."""
    values = [r[key] for r in runs if r.get(key)]
    return f"{max(values) / MiB:.0f}" if values else "–"


def _verdict(met: bool | None) -> str:
    return "–" if met is None else ("pass" if met else "**miss**")


def rotation_lines(record: dict[str, Any]) -> list[str]:
    """Markdown: targets with medians and verdicts, then the per-rotation tables."""
    rotations = record["rotations"]
    heads = [f"rotation {r['rotation'] + 1}" for r in rotations]
    skipped = [p for p in record["participants"] if p["skipped"]]
    present = record["summary"].get("peers_present") or []
    out = [
        "## Rotation (issue 19)",
        "",
        f"{len(rotations)} rotation{'' if len(rotations) == 1 else 's'} over one "
        f"{record['size'] / MiB:.0f} MiB random file. "
        "Each rotation runs every participant once, in its own shuffled order "
        f"(seed {record['seed']}; orders below); every figure is the process wall time of "
        "the command as its user runs it (start-up, and the CLI's verify and rename, "
        "included), and every output was checked byte for byte outside the timing. Only "
        "ratios within one rotation are formed, and the targets are judged on their "
        "medians: this VM's kernel costs drift by 2× within an hour.",
        "",
        f"Pull peers present: {', '.join(present) or 'none'} (from nginx, sendfile). "
        + (
            "Skipped: " + "; ".join(f"{p['name']} ({p['skipped']})" for p in skipped) + "."
            if skipped
            else "No participant skipped."
        ),
        "",
        "Targets: pull ≥ 1.0× the best of curl, aria2c -x16 and hf_transfer, client + server "
        f"CPU ≤ {PULL_CPU_LIMIT:g} s/GiB; push to a cold store ≥ {PUSH_VS_BARE:g}× the bare "
        f"aiohttp upload, or ≥ {PUSH_VS_DIRECT:g}× the store disk's O_DIRECT + fsync write if "
        f"that is lower (the binding one is named), CPU ≤ {PUSH_CPU_LIMIT:g} s/GiB; embedded "
        f"push and pull each ≥ {EMBEDDED_VS_CP:g}× `cp` + `sync`. No regression elsewhere "
        "(20,000 × 4 KiB files, peak RSS, the edited-checkpoint and resume figures): see the "
        "sections below.",
        "",
        "| target | median | wanted | verdict | note |",
        "|---|---|---|---|---|",
    ]
    for v in record["verdicts"]:
        sign = "≥" if v["higher_is_better"] else "≤"
        unit = v["unit"]
        out.append(
            f"| {v['target']} | {_cell(v['measured'], unit)} | {sign} {v['wanted']:.1f}{unit} "
            f"| {_verdict(v['met'])} | {v['note']} |"
        )
    out += [
        "",
        "Per-rotation ratios:",
        "",
        "| ratio | " + " | ".join(heads) + " | median |",
        "|---|" + "---|" * (len(heads) + 1),
    ]
    summary = record["summary"]
    for key, label, unit in RATIO_ROWS:
        cells = [_cell(r["ratios"].get(key), unit) for r in rotations]
        out.append(f"| {label} | " + " | ".join(cells) + f" | {_cell(summary.get(key), unit)} |")
    out += [
        "",
        "Per-rotation MB/s (CPU s/GiB, client + server):",
        "",
        "| participant | group | " + " | ".join(heads) + " | peak RSS MiB, client / server |",
        "|---|---|" + "---|" * (len(heads) + 1),
    ]
    for p in record["participants"]:
        if p["skipped"]:
            continue
        cells = []
        for r in rotations:
            rate, cpu = r["mb_s"].get(p["name"]), r["cpu_s_per_gib"].get(p["name"])
            cells.append("–" if rate is None else f"{rate:.0f} ({_cell(cpu)})")
        runs = [r["runs"][p["name"]] for r in rotations if p["name"] in r["runs"]]
        rss = " / ".join(_peak(runs, key) for key in ("client_peak_rss", "server_peak_rss"))
        out.append(f"| {p['name']} | {p['group']} | " + " | ".join(cells) + f" | {rss} |")
    startup = []
    for p in record["participants"]:
        spent = [
            r["runs"][p["name"]]["extra"]["start_up_and_exit_s"]
            for r in rotations
            if "start_up_and_exit_s" in r["runs"].get(p["name"], {}).get("extra", {})
        ]
        if spent:
            startup.append(f"{p['name']} {statistics.median(spent):.2f} s")
    if startup:
        out += [
            "",
            "Of the asyncart commands' wall time, start-up, imports and exit (the process "
            "wall minus the transfer seconds the CLI reports), medians: "
            + ", ".join(startup)
            + ".",
        ]
    out += ["", "Orders:", ""]
    out += [f"{i + 1}. {' → '.join(r['order'])}" for i, r in enumerate(rotations)]
    return [*out, ""]
