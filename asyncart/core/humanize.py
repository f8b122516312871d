"""How sizes and times read to a person: the one formatter of each, for every report.

The CLI, the SDK's lineage drawing and the store's fsck/gc reports all print through
these, so ``1.5 MiB`` and ``2026-12-02 14:03:07`` look the same wherever they appear.
"""

from __future__ import annotations

import datetime

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
_UTC_FORMAT = _LOCAL_FORMAT + "Z"


def human_size(n: float) -> str:
    """``512 B``, ``1.5 MiB``, ``3.0 TiB`` (binary units; TiB is the largest)."""
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_rate(bytes_per_second: float) -> str:
    """``1.5 GiB/s``: :func:`human_size` per second (the same binary units)."""
    return f"{human_size(bytes_per_second)}/s"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``0 files``, ``3 files``; ``plural`` where adding an ``s`` is wrong."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def iso_time(ts: float) -> str:
    """``2026-12-02T14:03:07.123456Z``: ISO 8601 in UTC, for machine-readable output."""
    moment = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def human_time(ts: float, *, utc: bool = False) -> str:
    """``2026-12-02 14:03:07`` in local time for a Unix time, or ``...07Z`` in UTC."""
    if utc:
        return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%SZ"
        )
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
