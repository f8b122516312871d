"""The seed document's code, with wandb replaced by asyncart, against both stores."""

from __future__ import annotations

import os
from pathlib import Path

import asyncart


def _write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


def test_seed_walkthrough(store: str) -> None:
    _write("bicycle-data.h5", os.urandom(3_000_000))
    _write("model.h5", b"weights-v1")

    # 1. Initialize a run
    run = asyncart.init(job_type="train")

    # 2. Create an artifact
    artifact = asyncart.Artifact(type="dataset", name="bike dataset")
    artifact.add_file("bicycle-data.h5")
    run.log_artifact(artifact)
    assert artifact.version == "v0"
    assert artifact.aliases == ["latest"]
    assert artifact.size == 3_000_000

    # 3. Use an artifact
    used = run.use_artifact(type="dataset", name="bike dataset:latest")
    artifact_dir = used.download()
    # W&B returns the directory as an absolute path: the same one, ./artifacts/<name>:<v>
    assert Path(artifact_dir) == Path.cwd() / "artifacts" / "bike dataset:v0"
    pulled = (Path(artifact_dir) / "bicycle-data.h5").read_bytes()
    assert pulled == Path("bicycle-data.h5").read_bytes()
    used.verify(artifact_dir)

    # Using an artifact that has not been logged: idempotent
    artifact = asyncart.Artifact(type="model", name="bike model")
    artifact.add_file("model.h5")
    first = run.use_artifact(artifact)
    artifact = asyncart.Artifact(type="model", name="bike model")
    artifact.add_file("model.h5")
    second = run.use_artifact(artifact)
    assert first.version == second.version == "v0"

    # Versions and aliases: same content -> same version; changed content -> v1
    again = asyncart.Artifact(type="dataset", name="bike dataset")
    again.add_file("bicycle-data.h5")
    run.log_artifact(again)
    assert again.version == "v0"

    with open("bicycle-data.h5", "ab") as f:
        f.write(b"one more row")
    changed = asyncart.Artifact(type="dataset", name="bike dataset")
    changed.add_file("bicycle-data.h5")
    run.log_artifact(changed)
    assert changed.version == "v1"
    assert run.use_artifact(type="dataset", name="bike dataset:latest").version == "v1"

    # A custom alias
    _write("model.h5", b"weights-v2")
    artifact = asyncart.Artifact(type="model", name="bike model")
    artifact.add_file("model.h5")
    run.log_artifact(artifact, aliases=["production"])
    assert artifact.version == "v1"
    assert sorted(artifact.aliases) == ["latest", "production"]
    prod = run.use_artifact(type="model", name="bike model:production")
    assert prod.version == "v1"
    run.finish()

    # Lineage, read back without a run
    api = asyncart.Api()
    v1 = api.artifact("bike dataset:v1")
    assert v1.logged_by().id == run.id
    assert run.id in [r.id for r in v1.used_by()]
    v0 = api.artifact("default/bike dataset:v0")
    assert v0.aliases == []
    versions = api.artifact_versions("bike dataset")
    assert [v.version for v in versions] == ["v0", "v1"]
    assert [v.aliases for v in versions] == [(), ("latest",)]
    names = sorted(c.name for c in api.artifact_collections())
    assert names == ["bike dataset", "bike model"]
    model_v0 = api.artifact("bike model:v0")
    assert model_v0.used_by()[0].id == run.id
    api.close()


def test_run_lineage_lists(store: str) -> None:
    _write("a.txt", b"a")
    with asyncart.init(job_type="prep") as prep:
        art = asyncart.Artifact("raw", type="dataset")
        art.add_file("a.txt")
        prep.log_artifact(art)
    with asyncart.init(job_type="train") as train:
        train.use_artifact("raw:latest")
        model = asyncart.Artifact("net", type="model")
        with model.new_file("weights.bin", mode="wb") as f:
            f.write(b"\x00" * 10)
        train.log_artifact(model, aliases=["best"])
        assert [v.name for v in train.used_artifacts()] == ["raw"]
        assert [v.name for v in train.logged_artifacts()] == ["net"]
    assert [v.name for v in prep.logged_artifacts()] == ["raw"]
    fetched = asyncart.Api().artifact("net:best")
    assert fetched.logged_by().job_type == "train"
    path = fetched.get_path("weights.bin").download(root="single")
    assert Path(path).read_bytes() == b"\x00" * 10
