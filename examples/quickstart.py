"""The W&B Artifacts quick start, with ``wandb`` replaced by ``asyncart``.

Runs on the embedded store (``ASYNCART_DIR``, default ``~/.asyncart/store``);
set ``ASYNCART_URL`` to use an ``asyncart server`` instead. It works in a
fresh temporary directory (printed first): sample files and ``./artifacts/``
go there.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import asyncart as wandb

os.chdir(tempfile.mkdtemp(prefix="asyncart-quickstart-"))
print(f"working in {os.getcwd()}")
Path("bicycle-data.h5").write_bytes(os.urandom(8 << 20))
Path("model.h5").write_bytes(b"pretend these are weights")

# 1. Initialize a run
run = wandb.init(job_type="train")

# 2. Create an artifact
artifact = wandb.Artifact(type="dataset", name="bike dataset")
artifact.add_file("bicycle-data.h5")
run.log_artifact(artifact)
print(f"logged  {artifact.qualified_name}  aliases={artifact.aliases}  size={artifact.size}")

# 3. Use an artifact
artifact = run.use_artifact(type="dataset", name="bike dataset:latest")
artifact_dir = artifact.download()
print(f"used    {artifact.qualified_name}  -> {artifact_dir}")

# Using an artifact that has not been logged (idempotent)
artifact = wandb.Artifact(type="model", name="bike model")
artifact.add_file("model.h5")
run.use_artifact(artifact)

# A custom alias
artifact = wandb.Artifact(type="model", name="bike model")
artifact.add_file("model.h5")
run.log_artifact(artifact, aliases=["production"])
print(f"logged  {artifact.qualified_name}  aliases={artifact.aliases}")

run.finish()
for version in wandb.Api().artifact_versions("bike dataset"):
    print(f"history {version.qualified_name}  {version.digest[:12]}  aliases={list(version.aliases)}")
