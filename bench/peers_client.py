"""Client side of the Python peers, run by ``bench/.venv-peers/bin/python`` (not the project venv).

Usage (each prints one JSON line with what the caller needs, e.g. the run id):

    peers_client.py mlflow-push TRACKING_URI SOURCE ARTIFACT_DIR
    peers_client.py mlflow-warm TRACKING_URI SMALL_FILE CONCURRENCY
    peers_client.py mlflow-pull TRACKING_URI RUN_ID ARTIFACT_PATH DST_DIR
    peers_client.py hf-pull URL FILENAME MAX_FILES CHUNK_SIZE PARALLEL_FAILURES MAX_RETRIES

Only the standard library and the peer package are imported, so the process's
CPU and memory are the peer's. ``transfer_s`` times the transfer call alone
(without interpreter start-up and imports), for comparison with the wall time.
"""

from __future__ import annotations

import json
import sys
import time


def mlflow_push(tracking_uri: str, source: str, artifact_dir: str) -> dict[str, object]:
    """Create a run and log ``source`` as an artifact under ``artifact_dir``."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("asyncart-bench")
    with mlflow.start_run() as run:
        start = time.perf_counter()
        mlflow.log_artifact(source, artifact_path=artifact_dir)
        transfer = time.perf_counter() - start
    info = run.info
    return {"run_id": info.run_id, "artifact_uri": info.artifact_uri, "transfer_s": transfer}


def mlflow_warm(tracking_uri: str, source: str, concurrency: str) -> dict[str, object]:
    """Create runs, log ``source`` and download it back from concurrent threads.

    Each thread has its own connection.

    The server's uvicorn workers are separate processes that each pay a one-off
    cost on their first requests; concurrent connections reach most of them.
    """
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment("asyncart-bench").experiment_id
    client = MlflowClient()

    def one(i: int) -> str:
        run = client.create_run(experiment)
        client.log_artifact(run.info.run_id, source, artifact_path=f"warm-{i}")
        client.set_terminated(run.info.run_id)
        with tempfile.TemporaryDirectory() as tmp:
            client.download_artifacts(run.info.run_id, f"warm-{i}", tmp)
        return str(run.info.run_id)

    with ThreadPoolExecutor(int(concurrency)) as pool:
        runs = list(pool.map(one, range(int(concurrency))))
    return {"runs": runs}


def mlflow_pull(tracking_uri: str, run_id: str, artifact_path: str, dst: str) -> dict[str, object]:
    """Download one artifact of a run into ``dst``."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    start = time.perf_counter()
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=artifact_path, dst_path=dst
    )
    return {"path": path, "transfer_s": time.perf_counter() - start}


def hf_pull(
    url: str,
    filename: str,
    max_files: str,
    chunk_size: str,
    parallel_failures: str,
    max_retries: str,
) -> dict[str, object]:
    """Download ``url`` with hf_transfer's parallel ranged GETs."""
    import hf_transfer

    start = time.perf_counter()
    hf_transfer.download(
        url,
        filename,
        int(max_files),
        int(chunk_size),
        parallel_failures=int(parallel_failures),
        max_retries=int(max_retries),
    )
    return {"path": filename, "transfer_s": time.perf_counter() - start}


COMMANDS = {
    "mlflow-push": mlflow_push,
    "mlflow-warm": mlflow_warm,
    "mlflow-pull": mlflow_pull,
    "hf-pull": hf_pull,
}


def main(argv: list[str]) -> None:
    """Dispatch ``argv[0]`` to its command and print its result as JSON."""
    result = COMMANDS[argv[0]](*argv[1:])
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
