"""The async API: the same operations as coroutines, for use inside an asyncio program.

::

    from asyncart import aio
    async with await aio.init(job_type="train") as run:
        art = aio.Artifact(type="model", name="bike model")
        art.add_file("model.pt")
        await run.log_artifact(art, aliases=["best"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncart.sdk.api import AsyncApi as Api
from asyncart.sdk.artifact import AsyncArtifact as Artifact
from asyncart.sdk.async_run import AsyncRun

__all__ = ["Api", "Artifact", "AsyncRun", "init"]


async def init(
    job_type: str = "job",
    project: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    url: str | None = None,
    *,
    group: str | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
) -> AsyncRun[Artifact]:
    """Start a run (embedded store unless ``url`` or ``ASYNCART_URL`` is set), labelled
    with W&B's ``group``, ``tags`` and ``notes``."""
    return await AsyncRun.start(
        job_type,
        project,
        name,
        config,
        url,
        group=group,
        tags=tags,
        notes=notes,
        artifact_class=Artifact,
    )
