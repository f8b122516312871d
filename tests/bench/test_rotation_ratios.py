"""The arithmetic of the benchmark's rotations (bench/rotation_ratios.py): ratios within
one rotation, the binding push target, medians over rotations and the verdicts."""

from __future__ import annotations

import pytest

from bench import rotation_ratios as rr
from bench.rotation_ratios import Figure, rotation_ratios, summarize, verdicts

GiB = 1 << 30


def figures(**rates: float) -> dict[str, Figure]:
    names = {
        "pull": rr.PULL,
        "push": rr.PUSH,
        "curl": rr.CURL,
        "aria": rr.ARIA2C,
        "hf": rr.HF_TRANSFER,
        "down": rr.BARE_DOWNLOAD,
        "up": rr.BARE_UPLOAD,
        "direct": rr.DIRECT_WRITE,
        "epush": rr.EMBEDDED_PUSH,
        "epull": rr.EMBEDDED_PULL,
        "cp": rr.CP_SYNC,
    }
    return {names[k]: Figure(mb_s=v, cpu_s=2.0, nbytes=2 * GiB) for k, v in rates.items()}


def test_pull_is_divided_by_the_fastest_peer_of_its_own_rotation() -> None:
    ratios = rotation_ratios(figures(pull=900, curl=600, aria=1000, hf=800, down=1200))
    assert ratios["best_peer"] == rr.ARIA2C
    assert ratios["peers_present"] == sorted([rr.ARIA2C, rr.CURL, rr.HF_TRANSFER])
    assert ratios["pull_vs_best_peer"] == pytest.approx(0.9)
    assert ratios["pull_vs_bare_download"] == pytest.approx(0.75)
    assert ratios["pull_cpu_s_per_gib"] == pytest.approx(1.0)


def test_missing_peers_leave_the_ones_present_or_no_ratio() -> None:
    assert rotation_ratios(figures(pull=500, curl=1000))["pull_vs_best_peer"] == 0.5
    none = rotation_ratios(figures(pull=500))
    assert none["best_peer"] is None
    assert none["pull_vs_best_peer"] is None


@pytest.mark.parametrize(
    ("up", "direct", "binding", "wanted"),
    [
        (1000.0, 2000.0, rr.BARE_UPLOAD, 700.0),  # 0.7 x 1000 < 0.9 x 2000
        (1000.0, 500.0, rr.DIRECT_WRITE, 450.0),  # 0.9 x 500 < 0.7 x 1000
    ],
)
def test_the_push_target_binds_on_the_lower_of_the_two_rates(
    up: float, direct: float, binding: str, wanted: float
) -> None:
    ratios = rotation_ratios(figures(push=630, up=up, direct=direct))
    assert ratios["push_binding"] == binding
    assert ratios["push_vs_target"] == pytest.approx(630 / wanted)
    assert ratios["push_vs_bare_upload"] == pytest.approx(630 / up)
    assert ratios["push_vs_direct_write"] == pytest.approx(630 / direct)


def test_only_the_bare_upload_measured_still_gives_a_binding_target() -> None:
    ratios = rotation_ratios(figures(push=350, up=1000))
    assert ratios["push_binding"] == rr.BARE_UPLOAD
    assert ratios["push_vs_target"] == pytest.approx(0.5)


def test_medians_are_of_the_per_rotation_ratios_not_of_the_rates() -> None:
    # Rates drift 2x between rotations; the per-rotation ratio stays at 0.5.
    rotations = [
        rotation_ratios(figures(pull=500, curl=1000, epush=400, cp=500)),
        rotation_ratios(figures(pull=250, aria=500, epush=100, cp=250)),
        rotation_ratios(figures(pull=1000, aria=2000, epush=900, cp=1000)),
    ]
    summary = summarize(rotations)
    assert summary["pull_vs_best_peer"] == pytest.approx(0.5)
    assert summary["embedded_push_vs_cp_sync"] == pytest.approx(0.8)
    assert summary["best_peer"] == rr.ARIA2C
    assert summary["best_peer_counts"] == {rr.CURL: 1, rr.ARIA2C: 2}
    assert summary["peers_present"] == sorted([rr.CURL, rr.ARIA2C])
    assert summary["push_vs_target"] is None


def test_verdicts_pass_miss_and_unmeasured() -> None:
    summary = summarize([rotation_ratios(figures(pull=1100, curl=1000, push=600, up=1000))])
    by_target = {v.target: v for v in verdicts(summary)}
    assert by_target["pull ÷ best peer from nginx"].met is True
    assert by_target["push (cold store) ÷ the binding target rate"].met is False
    assert by_target["embedded pull ÷ cp + sync"].met is None
    cpu = by_target["pull CPU, client + server"]
    assert cpu.measured == pytest.approx(1.0)
    assert cpu.met is True  # lower is better: 1.0 <= 2.0
