"""Several processes logging one artifact name at once: distinct, contiguous versions, none lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncart

WORKER = """
import sys, asyncart
path, content = sys.argv[1], sys.argv[2]
with open(path, "w") as f:
    f.write(content)
with asyncart.init(job_type="worker") as run:
    art = asyncart.Artifact("shared", type="dataset")
    art.add_file(path, name="data.txt")
    run.log_artifact(art)
    print(art.version, art.digest)
"""


def _run_workers(contents: list[str], tmp: Path) -> list[tuple[str, str]]:
    procs = []
    for i, content in enumerate(contents):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tmp / f"w{i}.txt"), content],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(os.environ),
            )
        )
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            version, digest = out.split()
            results.append((version, digest))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_distinct_contents_get_contiguous_versions(store: str, tmp_path: Path) -> None:
    n = 8
    results = _run_workers([f"content {i}" for i in range(n)], tmp_path)
    assert sorted(int(v[1:]) for v, _ in results) == list(range(n))
    assert len({d for _, d in results}) == n
    versions = asyncart.Api().artifact_versions("shared")
    assert [v.version for v in versions] == [f"v{i}" for i in range(n)]
    assert {v.digest for v in versions} == {d for _, d in results}
    assert versions[-1].aliases == ("latest",)


def test_identical_contents_make_one_version(store: str, tmp_path: Path) -> None:
    results = _run_workers(["same"] * 6, tmp_path)
    assert {v for v, _ in results} == {"v0"}
    assert [v.version for v in asyncart.Api().artifact_versions("shared")] == ["v0"]
