"""The "Cache, partial and lazy access (issue 18)" section of docs/performance.md.

The results file's ``meta["notes"]`` (the reading of a run, added by hand to the
committed file) follow the table as a list.

:func:`cache_lines` is a pure function of a results dict (``{"meta", "cases"}``,
cases as :meth:`CaseResult.to_json` writes them, found by ``params["item"]``);
:func:`cache_section` picks the cases of a ``python -m bench`` run, else the newest
``bench/results/cache-access-*.json``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

MiB, GiB = 1 << 20, 1 << 30
TITLE = "## Cache, partial and lazy access (issue 18)"

Case = dict[str, Any]


def by_item(cases: list[Case]) -> dict[str, Case]:
    return {
        c["params"]["item"]: c
        for c in cases
        if c.get("group") == "cache" and "item" in c.get("params", {})
    }


def _runs(case: Case | None) -> list[dict[str, Any]]:
    return [] if case is None or case.get("skipped") else list(case.get("runs", []))


def _med(values: list[float | int | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return statistics.median(present) if present else None


def wall(case: Case | None) -> float | None:
    return _med([r["wall_s"] for r in _runs(case)])


def extra(case: Case | None, key: str) -> float | None:
    return _med([r.get("extra", {}).get(key) for r in _runs(case)])


def rss(case: Case | None) -> float | None:
    return _med([r.get("client_peak_rss") for r in _runs(case)])


def rotation_ratio(a: Case | None, b: Case | None) -> float | None:
    """Median over rotations of ``a``'s wall ÷ ``b``'s wall in the same rotation."""
    walls = {r["extra"].get("rotation"): r["wall_s"] for r in _runs(b)}
    ratios = [
        r["wall_s"] / walls[r["extra"]["rotation"]]
        for r in _runs(a)
        if walls.get(r["extra"].get("rotation"))
    ]
    return statistics.median(ratios) if ratios else None


def _s(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f} s"


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def _bytes(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= GiB:
        return f"{v / GiB:.2f} GiB"
    if v >= MiB:
        return f"{v / MiB:.1f} MiB"
    return f"{v / 1024:.1f} KiB" if v >= 1024 else f"{v:.0f} B"


def _rows(items: dict[str, Case]) -> list[tuple[str, str, str]]:
    first, hit, nocache, cp = (items.get(k) for k in ("first", "hit", "nocache", "cp"))
    size = (first or hit or nocache or {}).get("size")
    rows = [
        (
            "second pull into a new directory (cache hit): bytes from the server",
            f"{_bytes(extra(hit, 'server_bytes'))} "
            f"({_bytes(extra(hit, 'server_pack_bytes'))} of packs)",
            f"first pull (empty cache): {_bytes(extra(first, 'server_bytes'))}",
        ),
        (
            "second pull: wall",
            _s(wall(hit)),
            f"cp {_s(wall(cp))}: {_x(rotation_ratio(hit, cp))} of it; "
            f"pull --no-cache {_s(wall(nocache))}: {_x(rotation_ratio(hit, nocache))} of it",
        ),
    ]
    eight, eight_off = items.get("eight-cache"), items.get("eight-nocache")
    if eight:
        n = eight["params"].get("processes", 8)
        served = extra(eight, "server_bytes")
        disk = extra(eight, "peak_disk_bytes")
        rows += [
            (
                f"{n} concurrent pulls, cache on: bytes from the server",
                _bytes(served),
                _x(served / size if served is not None and size else None) + " the artifact",
            ),
            (
                f"{n} concurrent pulls, cache on: peak disk (the pulls' and the cache's files)",
                _bytes(disk),
                _x(disk / size if disk is not None and size else None)
                + " the artifact; the file system's used space rose "
                + _bytes(extra(eight, "peak_fs_delta_bytes")),
            ),
            (
                f"{n} concurrent pulls, cache on: wall, peak RSS of any one",
                f"{_s(wall(eight))}, {_bytes(rss(eight))}",
                f"--no-cache: {_s(wall(eight_off))}, "
                f"peak disk {_bytes(extra(eight_off, 'peak_disk_bytes'))}",
            ),
        ]
    lazy = items.get("lazy")
    if lazy:
        rows += [
            (
                "lazy read of one 16 MiB tensor: bytes from the server",
                _bytes(extra(lazy, "server_bytes")),
                f"full pull: {_bytes(extra(first, 'server_bytes'))}",
            ),
            (
                "lazy read: time to first byte (from `Api()`), tensor in hand, process wall",
                f"{_s(extra(lazy, 'ttfb_s'))}, {_s(extra(lazy, 'tensor_s'))}, {_s(wall(lazy))}",
                f"pull --no-cache {_s(wall(nocache))}: {_x(rotation_ratio(lazy, nocache))} of it",
            ),
        ]
    mount = items.get("mount")
    if mount and mount.get("skipped"):
        rows.append(("`cat` through `asyncart mount`", f"skipped: {mount['skipped']}", ""))
    elif mount:
        rows.append(
            (
                "`cat` of the file through `asyncart mount` (mount ready before timing)",
                _s(wall(mount)),
                f"pull --no-cache: {_x(rotation_ratio(mount, nocache))} of it; "
                f"mount ready in {_s(extra(mount, 'mount_ready_s'))}",
            )
        )
    prune, ls = items.get("eviction"), items.get("eviction-ls")
    if prune:
        entries = prune["params"].get("entries")
        rows.append(
            (
                f"`asyncart cache prune` of {entries:,} entries to half: wall, peak RSS",
                f"{_s(wall(prune))}, {_bytes(rss(prune))}",
                f"removed {extra(prune, 'removed'):,.0f}; `cache ls` peak RSS {_bytes(rss(ls))}; "
                f"index {_bytes(extra(prune, 'index_bytes'))}",
            )
        )
    return rows


def _load(meta: dict[str, Any]) -> str:
    before, after = meta.get("load_before"), meta.get("load_after")
    if not before or not after:
        return ""
    return f" (1-minute load average {before[0]:.1f} before, {after[0]:.1f} after)"


def cache_lines(results: dict[str, Any], source: str) -> list[str]:
    """The section, from a results dict; [] if it holds no issue-18 case."""
    items = by_item(results.get("cases", []))
    if not items:
        return []
    meta = results.get("meta", {})
    some = items.get("first") or items.get("nocache") or next(iter(items.values()))
    runs = max(
        (len(_runs(c)) for k, c in items.items() if k in ("cp", "hit", "nocache")), default=0
    )
    out = [
        TITLE,
        "",
        f"`{meta.get('command', 'python -m bench.cache_cases')}` on {meta.get('date', '?')} "
        f"({meta.get('host', '?')}, {meta.get('cpus', '?')} cores, {meta.get('filesystem', '?')}; "
        f"`bench/results/{source}`): one {_bytes(some.get('size'))} safetensors-like checkpoint "
        "on a server on this machine. Client commands are subprocesses (wall includes start-up). "
        f"Compared commands ran in {runs} interleaved rotation{'' if runs == 1 else 's'} "
        "(order shuffled per rotation); "
        "figures are medians, ratios medians of per-rotation ratios. Bytes from the server: "
        "response bodies counted by the fault proxy (tests/support/fault_proxy.py) in front of "
        "the server; `--no-cache` pulls and the mount went to the server directly, fetching "
        "the whole file. The machine was shared with other sessions running tests"
        + _load(meta)
        + ". How each is measured: `bench/cache_cases.py`.",
        "",
        "| measured | figure | against |",
        "|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} |" for a, b, c in _rows(items)]
    notes = meta.get("notes") or []
    return [*out, "", *(f"- {n}" for n in notes), *([""] if notes else [])]


def cache_section(
    cases: list[Case], results_dir: Path, meta: dict[str, Any], results_name: str
) -> list[str]:
    """The section from a ``python -m bench`` run's cases, else the newest standalone run."""
    if by_item(cases):
        return cache_lines({"meta": meta, "cases": cases}, results_name)
    runs = sorted(results_dir.glob("cache-access-*.json"))
    runs = [p for p in runs if not p.name.endswith("-quick.json")]
    if not runs:
        return []
    return cache_lines(json.loads(runs[-1].read_text()), runs[-1].name)
