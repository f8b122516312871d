"""The issue-18 section of docs/performance.md (bench/cache_report.py) renders from a small
results dict: ratios within one rotation, bytes, a skipped mount, the fallback to the
newest standalone results file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.cache_report import TITLE, cache_lines, cache_section, rotation_ratio

GiB, MiB = 1 << 30, 1 << 20
X = "\N{MULTIPLICATION SIGN}"


def case(item: str, walls: list[float], size: int = 2 * GiB, **extra: Any) -> dict[str, Any]:
    return {
        "name": item,
        "group": "cache",
        "size": size,
        "params": {"item": item, "processes": 8, "entries": 1_000_000},
        "skipped": None,
        "runs": [
            {"wall_s": w, "client_peak_rss": 40 * MiB, "extra": {"rotation": i, **extra}}
            for i, w in enumerate(walls)
        ],
    }


def results(mount_skipped: str | None = None) -> dict[str, Any]:
    mount = case("mount", [6.0, 8.0, 7.0])
    mount["skipped"] = mount_skipped
    return {
        "meta": {
            "command": "python -m bench.cache_cases --size 2GiB",
            "date": "2026-12-03",
            "notes": ["the reading"],
        },
        "cases": [
            case("first", [20.0], server_bytes=2 * GiB, server_pack_bytes=2 * GiB),
            case("cp", [2.0, 4.0, 3.0]),
            case("hit", [4.0, 4.0, 9.0], server_bytes=10_000, server_pack_bytes=0),
            case("nocache", [8.0, 8.0, 9.0]),
            case("lazy", [1.0, 1.0, 1.0], 16 * MiB, server_bytes=20 * MiB, ttfb_s=0.5),
            mount,
            case("eight-cache", [30.0], server_bytes=2 * GiB, peak_disk_bytes=18 * GiB),
            case("eviction", [12.0, 11.0, 13.0], removed=500_000, index_bytes=90 * MiB),
            {"name": "push 2 GiB (server)", "group": "push", "params": {}, "runs": []},
        ],
    }


def test_ratios_are_formed_within_a_rotation() -> None:
    cases = {c["params"]["item"]: c for c in results()["cases"] if "item" in c["params"]}
    # hit/cp per rotation: 2.0, 1.0, 3.0 -> median 2.0 (the medians' ratio would be 4/3)
    assert rotation_ratio(cases["hit"], cases["cp"]) == 2.0


def test_the_section_renders_every_item() -> None:
    text = "\n".join(cache_lines(results(), "cache-access-2026-12-03.json"))
    assert text.startswith(TITLE)
    assert "`python -m bench.cache_cases --size 2GiB`" in text
    assert f"| second pull: wall | 4.00 s | cp 3.00 s: 2.00{X} of it" in text
    assert "9.8 KiB (0 B of packs)" in text
    assert f"1.00{X} the artifact" in text and f"9.00{X} the artifact" in text
    assert "`cat` of the file through `asyncart mount`" in text
    assert "removed 500,000" in text
    assert text.rstrip().endswith("- the reading")


def test_a_skipped_mount_says_why() -> None:
    text = "\n".join(cache_lines(results("no /dev/fuse"), "x.json"))
    assert "skipped: no /dev/fuse" in text


def test_the_section_comes_from_the_newest_standalone_file(tmp_path: Path) -> None:
    assert cache_section([], tmp_path, {}, "run.json") == []
    (tmp_path / "cache-access-2026-12-01.json").write_text(json.dumps({"meta": {}, "cases": []}))
    (tmp_path / "cache-access-2026-12-03.json").write_text(json.dumps(results()))
    (tmp_path / "cache-access-2026-12-04-quick.json").write_text(json.dumps({"cases": []}))
    lines = cache_section([], tmp_path, {}, "run.json")
    assert lines[0] == TITLE and "cache-access-2026-12-03.json" in lines[2]
