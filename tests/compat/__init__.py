"""W&B compatibility: W&B's own artifact behaviour tests, ported (see docs/wandb-compat.md)."""
