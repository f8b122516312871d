"""examples/train_loop.py logs checkpoints (latest, best); examples/eval_model.py pulls the best.

Runs with PyTorch when it is installed, with the pickled stand-in model otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncart

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, *args: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_train_loop_logs_checkpoints_and_eval_pulls_the_best(store: str) -> None:
    trained = _run("train_loop.py", "--steps", "60", "--every", "20")
    checkpoints = trained["checkpoints"]
    assert isinstance(checkpoints, list)
    assert [c["step"] for c in checkpoints] == [20, 40, 60]
    assert [c["version"] for c in checkpoints] == ["v0", "v1", "v2"]
    best = min(checkpoints, key=lambda c: c["val_loss"])
    api = asyncart.Api()
    assert api.artifact("model:latest").version == "v2"
    assert api.artifact("model:best").version == best["version"]
    evaluated = _run("eval_model.py", "--ref", "model:best")
    assert evaluated["version"] == best["version"] and evaluated["step"] == best["step"]
    assert abs(float(evaluated["val_loss"]) - float(best["val_loss"])) < 1e-4  # type: ignore[arg-type]
    assert evaluated["val_loss"] < 0.5  # type: ignore[operator]  # it learned y = 3x + 1
    producer = api.artifact("model:best").logged_by()
    assert producer is not None and producer.job_type == "train"
    assert [r.job_type for r in api.artifact("model:best").used_by()] == ["eval"]
