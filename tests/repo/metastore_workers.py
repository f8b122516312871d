"""Process entry points for the cross-process metadata-store tests.

They live in an importable module (not the test file) because the ``spawn``
start method imports the target function by name in each child.
"""

from __future__ import annotations

import asyncio
import os
import traceback
from collections.abc import Sequence
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from asyncart.core.models import RunInfo
from asyncart.repo.metastores import NewVersion, SqlMetaStore


async def _commit_all(
    url: str, project: str, name: str, digests: Sequence[str], start: Barrier
) -> list[tuple[int, bool]]:
    store = SqlMetaStore(url)
    await store.open()  # concurrent first opens also race on the migrations
    try:
        run_id = f"worker-{os.getpid()}"
        await store.create_run(RunInfo(id=run_id, project=project, job_type="test"))
        await asyncio.to_thread(start.wait)  # every process commits at the same moment
        # With a run id, commit_version reads (the run) before it writes: on SQLite only
        # a write lock taken at BEGIN keeps concurrent processes from failing; on
        # PostgreSQL the collection row lock orders them.
        new = [
            NewVersion(project, name, "dataset", digest, size=1, file_count=1, run_id=run_id)
            for digest in digests
        ]
        infos = await asyncio.gather(*(store.commit_version(n) for n in new))
        return [(info.index, info.created) for info in infos]
    finally:
        await store.close()


def commit_versions(
    url: str,
    project: str,
    name: str,
    digests: Sequence[str],
    start: Barrier,
    results: Queue[Any],
) -> None:
    """Open a store on ``url``, wait at ``start``, commit every digest concurrently.

    Puts ``("ok", [(index, created), ...])`` or ``("error", traceback)`` on ``results``.
    """
    try:
        outcome = asyncio.run(_commit_all(url, project, name, digests, start))
    except BaseException:
        results.put(("error", traceback.format_exc()))
        raise
    results.put(("ok", outcome))
