"""The arithmetic of :mod:`bench.rotation`: per-rotation ratios, their medians, the verdicts.

Pure functions over plain numbers (no processes, no I/O), so they can be checked
on their own. Only ratios of figures measured within one rotation are formed:
this machine's kernel costs drift by 2x within an hour, so a figure from one
rotation divided by one from another means nothing.

The targets are issue 19's:

- pull >= 1.0x the best of curl, aria2c -x16 and hf_transfer from nginx;
  client + server CPU <= 2.0 s/GiB;
- push (cold store) >= 0.7x the bare aiohttp upload, or >= 0.9x the store disk's
  O_DIRECT+fsync write if that is lower; client + server CPU <= 2.5 s/GiB;
- embedded push and pull each >= 0.8x ``cp`` + ``sync``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Participants, by the names the rotation records them under.
PULL = "asyncart pull"
PUSH = "asyncart push"
EMBEDDED_PUSH = "asyncart push (embedded)"
EMBEDDED_PULL = "asyncart pull (embedded)"
CURL, ARIA2C, HF_TRANSFER = "curl", "aria2c -x16", "hf_transfer"
PEERS = (CURL, ARIA2C, HF_TRANSFER)
BARE_DOWNLOAD, BARE_UPLOAD = "aiohttp download", "aiohttp upload"
DIRECT_WRITE = "O_DIRECT write"
CP_SYNC = "cp + sync"

PUSH_VS_BARE, PUSH_VS_DIRECT = 0.7, 0.9
EMBEDDED_VS_CP = 0.8
PULL_CPU_LIMIT, PUSH_CPU_LIMIT = 2.0, 2.5  # client + server CPU s per GiB

GiB = 1 << 30
TIMES, DASH = "\N{MULTIPLICATION SIGN}", "\N{EN DASH}"  # as the report prints them


@dataclass(frozen=True)
class Figure:
    """What the ratios need of one participant's run: its rate and its CPU."""

    mb_s: float
    cpu_s: float | None = None  # client + server CPU seconds
    nbytes: int = 0

    @property
    def cpu_s_per_gib(self) -> float | None:
        """Client + server CPU seconds per GiB moved."""
        return self.cpu_s / (self.nbytes / GiB) if self.cpu_s is not None and self.nbytes else None


def _ratio(figures: Mapping[str, Figure], ours: str, theirs: str) -> float | None:
    a, b = figures.get(ours), figures.get(theirs)
    return a.mb_s / b.mb_s if a and b and a.mb_s > 0 and b.mb_s > 0 else None


def rotation_ratios(figures: Mapping[str, Figure]) -> dict[str, Any]:
    """The ratios of one rotation; a participant that is missing gives None for its ratios.

    ``push_vs_target`` is the push's rate over the rate the issue asks of it:
    the lower of 0.7x the bare upload and 0.9x the O_DIRECT write (``push_binding``
    names which one that was); >= 1 meets the target.
    """
    peers = {name: figures[name].mb_s for name in PEERS if name in figures}
    best_peer = max(peers, key=lambda name: peers[name]) if peers else None
    wanted = {
        name: share * figures[name].mb_s
        for name, share in ((BARE_UPLOAD, PUSH_VS_BARE), (DIRECT_WRITE, PUSH_VS_DIRECT))
        if name in figures and figures[name].mb_s > 0
    }
    binding = min(wanted, key=lambda name: wanted[name]) if wanted else None
    push = figures.get(PUSH)
    pull = figures.get(PULL)
    return {
        "best_peer": best_peer,
        "peers_present": sorted(peers),
        "pull_vs_best_peer": _ratio(figures, PULL, best_peer) if best_peer else None,
        "pull_vs_bare_download": _ratio(figures, PULL, BARE_DOWNLOAD),
        "pull_cpu_s_per_gib": pull.cpu_s_per_gib if pull else None,
        "push_vs_bare_upload": _ratio(figures, PUSH, BARE_UPLOAD),
        "push_vs_direct_write": _ratio(figures, PUSH, DIRECT_WRITE),
        "push_binding": binding,
        "push_vs_target": push.mb_s / wanted[binding] if push and binding else None,
        "push_cpu_s_per_gib": push.cpu_s_per_gib if push else None,
        "embedded_push_vs_cp_sync": _ratio(figures, EMBEDDED_PUSH, CP_SYNC),
        "embedded_pull_vs_cp_sync": _ratio(figures, EMBEDDED_PULL, CP_SYNC),
    }


def _most_common(values: Sequence[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return Counter(present).most_common(1)[0][0] if present else None


def summarize(rotations: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over rotations of every numeric ratio (rotations lacking one are left out).

    ``best_peer`` and ``push_binding`` become the name seen most often, and
    ``*_counts`` how often each name was seen.
    """
    out: dict[str, Any] = {"rotations": len(rotations)}
    keys = [k for k in (rotations[0] if rotations else {}) if k not in ("peers_present",)]
    for key in keys:
        values = [r.get(key) for r in rotations]
        if key in ("best_peer", "push_binding"):
            out[key] = _most_common(values)
            out[f"{key}_counts"] = dict(Counter(v for v in values if v is not None))
            continue
        numbers = [float(v) for v in values if v is not None]
        out[key] = statistics.median(numbers) if numbers else None
    out["peers_present"] = sorted({p for r in rotations for p in r.get("peers_present", [])})
    return out


@dataclass(frozen=True)
class Verdict:
    """One target: what was measured (a median), what is wanted, and whether it was met."""

    target: str
    measured: float | None
    wanted: float
    higher_is_better: bool = True
    unit: str = TIMES
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True/False, or None when it could not be measured."""
        if self.measured is None:
            return None
        if self.higher_is_better:
            return self.measured >= self.wanted
        return self.measured <= self.wanted


def verdicts(summary: Mapping[str, Any]) -> list[Verdict]:
    """Issue 19's targets, judged on the medians of the per-rotation ratios."""
    peers = ", ".join(summary.get("peers_present") or []) or "none installed"
    best = summary.get("best_peer")
    binding = summary.get("push_binding")
    bind_note = (
        f"binds: {binding} ({PUSH_VS_BARE:g}{TIMES} bare upload vs "
        f"{PUSH_VS_DIRECT:g}{TIMES} O_DIRECT write; "
        f"per rotation: {_counts(summary.get('push_binding_counts'))}); push ÷ bare upload "
        f"{_fmt(summary.get('push_vs_bare_upload'))}, ÷ O_DIRECT write "
        f"{_fmt(summary.get('push_vs_direct_write'))}"
        if binding
        else "neither bare upload nor O_DIRECT write measured"
    )
    return [
        Verdict(
            "pull ÷ best peer from nginx",
            summary.get("pull_vs_best_peer"),
            1.0,
            note=f"best most often: {best or DASH} (of {peers}; "
            f"per rotation: {_counts(summary.get('best_peer_counts'))})",
        ),
        Verdict(
            "pull CPU, client + server",
            summary.get("pull_cpu_s_per_gib"),
            PULL_CPU_LIMIT,
            higher_is_better=False,
            unit=" s/GiB",
        ),
        Verdict(
            "push (cold store) ÷ the binding target rate",
            summary.get("push_vs_target"),
            1.0,
            note=bind_note,
        ),
        Verdict(
            "push CPU, client + server",
            summary.get("push_cpu_s_per_gib"),
            PUSH_CPU_LIMIT,
            higher_is_better=False,
            unit=" s/GiB",
        ),
        Verdict(
            "embedded push ÷ cp + sync",
            summary.get("embedded_push_vs_cp_sync"),
            EMBEDDED_VS_CP,
        ),
        Verdict(
            "embedded pull ÷ cp + sync",
            summary.get("embedded_pull_vs_cp_sync"),
            EMBEDDED_VS_CP,
        ),
    ]


def _counts(counts: object) -> str:
    """``{"curl": 2, "aria2c -x16": 1}`` as "curl 2, aria2c -x16 1"."""
    if not isinstance(counts, dict) or not counts:
        return DASH
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _fmt(value: object) -> str:
    return f"{value:.2f}{TIMES}" if isinstance(value, float) else DASH
