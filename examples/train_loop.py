"""A training loop that logs a checkpoint every N steps without stalling.

Trains a tiny model on CPU (y = 3x + 1 plus noise): a one-weight PyTorch
``nn.Linear`` when PyTorch is installed, else a stand-in (a dict of floats
trained by hand, serialised with pickle). Every ``--every`` steps it writes the
checkpoint into an artifact with ``artifact.new_file('model.pt', mode='wb')``
and logs it: ``log_artifact`` returns at once and the upload goes on in the
background; ``latest`` follows the newest checkpoint and ``best`` the lowest
validation loss. Leaving the ``with`` block waits for the uploads still pending.

    python examples/train_loop.py --steps 200 --every 50
    python examples/eval_model.py            # pulls model:best and evaluates it
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
from typing import Any

import asyncart

try:
    import torch
except ImportError:  # PyTorch is optional: the stand-in below trains without it
    torch = None


def dataset(n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(x, 3.0 * x + 1.0 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(n))]


class StandIn:
    """y = w*x + b, trained with plain SGD; its checkpoint is a pickled dict."""

    def __init__(self) -> None:
        self.w, self.b = 0.0, 0.0

    def step(self, batch: list[tuple[float, float]], lr: float) -> None:
        gw = sum(2 * (self.w * x + self.b - y) * x for x, y in batch) / len(batch)
        gb = sum(2 * (self.w * x + self.b - y) for x, y in batch) / len(batch)
        self.w, self.b = self.w - lr * gw, self.b - lr * gb

    def loss(self, data: list[tuple[float, float]]) -> float:
        return sum((self.w * x + self.b - y) ** 2 for x, y in data) / len(data)

    def save(self, f: Any) -> None:
        pickle.dump({"w": self.w, "b": self.b}, f)


class TorchModel:
    """The same model as a PyTorch ``nn.Linear(1, 1)``; its checkpoint is a state_dict."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.net = torch.nn.Linear(1, 1)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=0.05)

    @staticmethod
    def _tensors(data: list[tuple[float, float]]) -> tuple[Any, Any]:
        return (torch.tensor([[x] for x, _ in data]), torch.tensor([[y] for _, y in data]))

    def step(self, batch: list[tuple[float, float]], lr: float) -> None:
        x, y = self._tensors(batch)
        self.opt.zero_grad()
        torch.nn.functional.mse_loss(self.net(x), y).backward()
        self.opt.step()

    def loss(self, data: list[tuple[float, float]]) -> float:
        x, y = self._tensors(data)
        with torch.no_grad():
            return float(torch.nn.functional.mse_loss(self.net(x), y))

    def save(self, f: Any) -> None:
        torch.save(self.net.state_dict(), f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=50, help="log a checkpoint every N steps")
    parser.add_argument("--name", default="model")
    args = parser.parse_args()

    train, val = dataset(256, seed=1), dataset(64, seed=2)
    model: StandIn | TorchModel = TorchModel() if torch is not None else StandIn()
    backend = "torch" if torch is not None else "pickle"
    rng = random.Random(3)
    best = float("inf")
    logged = []
    with asyncart.init(job_type="train", config={"steps": args.steps, "backend": backend}) as run:
        for step in range(1, args.steps + 1):
            model.step(rng.sample(train, 32), lr=0.05)
            if step % args.every and step != args.steps:
                continue
            loss = model.loss(val)
            metadata = {"step": step, "val_loss": loss, "backend": backend}
            art = asyncart.Artifact(args.name, type="model", metadata=metadata)
            with art.new_file("model.pt", mode="wb") as f:
                model.save(f)
            aliases = ["best"] if loss < best else []
            best = min(best, loss)
            run.log_artifact(art, aliases=aliases)  # returns at once; the upload goes on
            logged.append((step, loss, art))
            print(f"step {step}: val_loss {loss:.5f}{' (best)' if aliases else ''}", flush=True)
    # Leaving the block waited for every upload; versions are known now.
    print(json.dumps({
        "backend": backend,
        "checkpoints": [{"step": s, "val_loss": v, "version": a.version} for s, v, a in logged],
        "best_val_loss": best,
    }))


if __name__ == "__main__":
    main()
