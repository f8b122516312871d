"""Pull ``model:best`` (logged by ``examples/train_loop.py``) and evaluate it.

Loads the checkpoint with PyTorch when it was saved by PyTorch, else with pickle
(the stand-in model), and prints the validation loss as JSON.

    python examples/eval_model.py [--ref model:best]
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

from train_loop import dataset  # the same validation data the training loop used

import asyncart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="model:best")
    args = parser.parse_args()
    val = dataset(64, seed=2)
    with asyncart.init(job_type="eval") as run:
        art = run.use_artifact(args.ref, type="model")
        path = Path(art.download()) / "model.pt"
        if art.metadata.get("backend") == "torch":
            import torch

            state = torch.load(path, weights_only=True)
            w, b = float(state["weight"].flatten()[0]), float(state["bias"][0])
        else:
            with open(path, "rb") as f:
                params = pickle.load(f)  # our own checkpoint: trusted
            w, b = params["w"], params["b"]
    loss = sum((w * x + b - y) ** 2 for x, y in val) / len(val)
    print(json.dumps({
        "version": art.version,
        "step": art.metadata["step"],
        "val_loss": loss,
        "logged_val_loss": art.metadata["val_loss"],
        "w": w,
        "b": b,
    }))


if __name__ == "__main__":
    main()
