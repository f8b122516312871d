"""A small logged pipeline for lineage tests.

``prepare`` logs ``rides:v0``; ``train`` uses it and ``labels:v0`` (logged by no run)
and logs ``bike model:v0``; ``evaluate`` uses the model and logs ``report:v0``::

    prepare -> rides:v0 --\\
                           train -> bike model:v0 -> evaluate -> report:v0
          labels:v0 ------/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asyncart import aio

PROJECT = "lineage demo"


@dataclass(frozen=True)
class Pipeline:
    project: str
    prepare: str  # run ids
    train: str
    evaluate: str


async def log_pipeline(project: str = PROJECT, url: str | None = None) -> Pipeline:
    """Log the pipeline (files are written to the cwd) and return its run ids."""
    Path("rides.csv").write_bytes(b"day,rides\n" + b"mon,12\n" * 500)
    Path("labels.csv").write_bytes(b"day,label\nmon,busy\n")
    Path("model.bin").write_bytes(bytes(range(256)) * 64)
    Path("report.txt").write_text("accuracy 0.93\n")
    labels = aio.Artifact("labels", type="dataset")
    labels.add_file("labels.csv")
    async with await aio.init(job_type="prepare", project=project, url=url) as prepare:
        rides = aio.Artifact("rides", type="dataset")
        rides.add_file("rides.csv")
        await prepare.log_artifact(rides)
    async with await aio.init(
        job_type="train", project=project, url=url, name="train-1"
    ) as train:
        await train.use_artifact("rides:latest")
        await train.use_artifact(labels)  # logged here (as an input) with no producing run
        model = aio.Artifact("bike model", type="model")
        model.add_file("model.bin")
        await train.log_artifact(model, aliases=["best"])
    async with await aio.init(job_type="evaluate", project=project, url=url) as evaluate:
        await evaluate.use_artifact("bike model:best")
        report = aio.Artifact("report", type="report")
        report.add_file("report.txt")
        await evaluate.log_artifact(report)
    return Pipeline(project, prepare.id, train.id, evaluate.id)
