"""How sizes and times read to a person: the one formatter of each, for every report.

The CLI, the SDK's lineage drawing and the store's fsck/gc reports all print through
these, so ``1.5 MiB`` and ``2026-12-02 14:03:07`` look the same wherever they appear.
"""

from __future__ import annotations

import datetime
import re

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


_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "t": 1000**4, "tb": 1000**4,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}  # fmt: skip
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str, *, what: str = "size") -> int:
    """``20GB`` (decimal), ``500MiB`` (binary), ``1.5G``, ``4096``: a number of bytes.

    Raises:
        ValueError: naming ``what`` and the units accepted.
    """
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        raise ValueError(
            f"{what} {text!r} is not a size: use bytes or a number with a unit, e.g. "
            "500MiB, 20GB, 1.5GiB (KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024)"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw]?)\s*")


def parse_duration(text: str, *, what: str = "duration") -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds: a number of seconds.

    Raises:
        ValueError: naming ``what`` and the units accepted.
    """
    match = _DURATION.fullmatch(text.lower())
    if match is None:
        raise ValueError(
            f"{what} {text!r} is not a duration: use a number with s, m, h, d or w (e.g. 30d)"
        )
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
