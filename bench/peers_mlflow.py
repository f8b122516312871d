"""MLflow peer: artifacts proxied by ``mlflow server --serve-artifacts``; see :mod:`bench.peers`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import CaseResult, Measurement, Service, service
from bench.peers_common import (
    CLIENT,
    PEERS_PYTHON,
    PEERS_VENV,
    PULL,
    PUSH,
    TreeProbe,
    discard,
    fill,
    free_port,
    last_json,
    measured_run,
    missing,
    reaping,
    settle,
    tool_version,
    venv_has,
    verify_copy,
    wait_http,
)

MLFLOW_ENV = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "3600", "PYTHONUNBUFFERED": "1"}
# The job runner (7 huey consumer processes by default in MLflow 3) has nothing to
# do with artifacts; disabled so the server tree measured is the artifact server.
WARM_CONNECTIONS = 8  # concurrent warm-up pushes (the server has 4 uvicorn workers)
MLFLOW_SERVER_ENV = {**MLFLOW_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def mlflow_case(name: str, group: str, size: int) -> CaseResult:
    """A MLflow case, skipped if the peers venv has no mlflow."""
    case = CaseResult(
        name=name,
        group=group,
        tool="mlflow",
        size=size,
        params={
            "server": "mlflow server --serve-artifacts (uvicorn, default workers), sqlite backend",
            "job_execution": False,
            "warm_up": f"{WARM_CONNECTIONS} concurrent untimed 1 KiB pushes",
            "client": "peers venv python, one process per run (wall includes import mlflow)",
        },
    )
    if not venv_has("mlflow"):
        case.skipped = missing("mlflow")
    else:
        case.params["version"] = tool_version(
            [str(PEERS_PYTHON), "-c", "import mlflow; print(mlflow.__version__)"]
        )
    return case


@contextmanager
def mlflow_server(work: Path) -> Iterator[tuple[Service, TreeProbe, Path]]:
    """A fresh MLflow tracking server proxying artifacts to ``work/artifacts``."""
    work.mkdir(parents=True, exist_ok=True)
    port, artifacts = free_port(), work / "artifacts"
    args = [
        str(PEERS_VENV / "bin" / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
        "--backend-store-uri",
        f"sqlite:///{work}/mlflow.db",
    ]
    with (
        service(
            args,
            ready="Uvicorn running on",
            url=f"http://127.0.0.1:{port}",
            env=MLFLOW_SERVER_ENV,
            timeout=300,
            cwd=work,
        ) as svc,
        reaping(svc),
    ):
        wait_http(svc.url + "/health", timeout=300, ok=lambda status: status == 200)
        probe = TreeProbe(svc)
        warm_up(svc.url, work, probe)
        yield svc, probe, artifacts


def warm_up(url: str, work: Path, probe: TreeProbe) -> None:
    """Untimed: tiny concurrent pushes, so every uvicorn worker has served requests.

    A worker's first artifact request costs ~1.5-2 s of server CPU (lazy
    imports); without this the first timed run pays it on whichever worker
    it lands on.
    """
    tiny = work / "warm-up.bin"
    tiny.write_bytes(os.urandom(1024))
    args = [str(PEERS_PYTHON), str(CLIENT), "mlflow-warm", url, str(tiny), str(WARM_CONNECTIONS)]
    subprocess.run(
        args,
        env={**os.environ, **MLFLOW_ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    settle(probe)


def mlflow_push_args(url: str, source: Path) -> list[str]:
    """Client command: create a run and log ``source`` under artifact dir ``data``."""
    return [str(PEERS_PYTHON), str(CLIENT), "mlflow-push", url, str(source), "data"]


def untimed_push(url: str, source: Path, probe: TreeProbe) -> str:
    """Push ``source`` without measuring (a pull's setup); return the run id once idle."""
    setup = subprocess.run(
        mlflow_push_args(url, source),
        env={**os.environ, **MLFLOW_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    settle(probe)
    return str(last_json(setup.stdout)["run_id"])


def stored_artifact(artifacts: Path, info: dict[str, Any], name: str) -> Path:
    """Where the server stored a pushed artifact (``mlflow-artifacts:/<exp>/<run>/artifacts``)."""
    uri = str(info["artifact_uri"])
    if not uri.startswith("mlflow-artifacts:"):
        raise RuntimeError(f"mlflow: run not proxied through the server: {uri}")
    return artifacts / uri.removeprefix("mlflow-artifacts:").lstrip("/") / "data" / name


def mlflow_push(work: Path, source: Path, repeats: int) -> CaseResult:
    """``mlflow.log_artifact`` of ``source`` in a new run, through the artifact proxy."""
    size = source.stat().st_size
    case = mlflow_case("mlflow push", PUSH, size)
    if case.skipped:
        return case
    with mlflow_server(work) as (svc, probe, artifacts):

        def once(i: int) -> Measurement:
            m, out = measured_run(mlflow_push_args(svc.url, source), probe, size, env=MLFLOW_ENV)
            info = last_json(out)
            m.extra["transfer_s"] = info["transfer_s"]
            stored = stored_artifact(artifacts, info, source.name)
            verify_copy(stored, source, "mlflow push")
            discard(stored.parent.parent.parent)  # the run's directory
            return m

        return fill(case, repeats, once)


def mlflow_pull(work: Path, source: Path, repeats: int) -> CaseResult:
    """``mlflow.artifacts.download_artifacts`` of a file pushed (untimed) beforehand."""
    size = source.stat().st_size
    case = mlflow_case("mlflow pull", PULL, size)
    if case.skipped:
        return case
    with mlflow_server(work) as (svc, probe, _):
        run_id = untimed_push(svc.url, source, probe)

        def once(i: int) -> Measurement:
            dst = work / f"out-{i}"
            dst.mkdir()
            args = [
                str(PEERS_PYTHON),
                str(CLIENT),
                "mlflow-pull",
                svc.url,
                run_id,
                f"data/{source.name}",
                str(dst),
            ]
            m, out = measured_run(args, probe, size, env=MLFLOW_ENV)
            info = last_json(out)
            m.extra["transfer_s"] = info["transfer_s"]
            verify_copy(Path(info["path"]), source, "mlflow pull")
            discard(dst)
            return m

        return fill(case, repeats, once)
