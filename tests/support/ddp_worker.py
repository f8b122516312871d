"""One process of a distributed job, as a W&B DDP rank runs it: its own run (same group),
its own file, ``upsert_artifact`` or ``finish_artifact`` (``tests/compat/test_distributed.py``).

Run as a script, in the directory it may write to, against the store the environment
names (``ASYNCART_URL`` or ``ASYNCART_DIR``)::

    python ddp_worker.py ACTION ARTIFACT GROUP ENTRY TEXT

``ACTION``: ``upsert``, ``finish``, or ``push-then-die`` (uploads the file's chunks, then
exits with status 3 before sending its part: a rank that died mid-log). ``TEXT`` is the
file's content, or ``repeat:C:N`` (``N`` times the character ``C``). Prints one JSON
line: the run id, the artifact's state and version.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncart
from asyncart.client.progress import TransferStats
from asyncart.client.remote_factory import open_remote
from asyncart.client.scan import FileIdentity
from asyncart.client.upload import SourceFile, push_files
from asyncart.config import Settings

DIED = 3


async def push_only(entry: str, local: Path) -> None:
    """Upload the chunks of ``local`` and nothing else (no part, no commit)."""
    settings = Settings.from_env()
    remote = await open_remote(settings)
    try:
        source = SourceFile(entry, local, FileIdentity.of(os.stat(local)))
        await push_files(remote, [source], settings, TransferStats())
    finally:
        await remote.close()


def main() -> None:
    action, name, group, entry, text = sys.argv[1:6]
    if text.startswith("repeat:"):  # repeat:C:N, N times C (a large file, a short argv)
        _, char, count = text.split(":")
        text = char * int(count)
    local = Path(entry)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(text)
    if action == "push-then-die":
        asyncio.run(push_only(entry, local))
        os._exit(DIED)
    with asyncart.init(job_type="ddp", group=group) as run:
        artifact = asyncart.Artifact(name, "dataset")
        artifact.add_file(str(local), entry)
        if action == "upsert":
            done = run.upsert_artifact(artifact)
        elif action == "finish":
            done = run.finish_artifact(artifact)
        else:
            raise SystemExit(f"unknown action {action!r}")
        version = None if done.is_draft else done.version
        print(json.dumps({"run": run.id, "state": done.state, "version": version}), flush=True)


if __name__ == "__main__":
    main()
