"""What the store keeps of a distributed version being written (W&B's
``upsert_artifact``): the part one process sends, and everything sent so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asyncart.core.manifest import ManifestEntry


@dataclass(frozen=True)
class NewPart:
    """One process's contribution under ``(project, name, distributed_id)``; ``chunks``
    are the chunk hashes its entries' bytes need (validated, hex)."""

    project: str
    name: str
    type: str
    distributed_id: str
    entries: tuple[ManifestEntry, ...]
    chunks: tuple[str, ...]
    chunker: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class PendingContents:
    """Every part sent so far, merged: the version ``finish`` commits.

    ``aliases`` in the order first named; ``metadata`` each part's laid over the
    earlier ones'; ``description`` the last one given; ``runs`` every contributing run;
    ``last_part`` the newest part read (a part sent after it starts the next version).
    """

    type: str
    entries: tuple[ManifestEntry, ...]
    chunker: dict[str, Any]
    aliases: tuple[str, ...]
    metadata: dict[str, Any]
    description: str | None
    runs: tuple[str, ...]
    last_part: int
