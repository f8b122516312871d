"""``asyncart pull NAME[:VERSION|ALIAS] [-o DIR]``: download a version, verified."""

from __future__ import annotations

import time
from pathlib import Path

import click

from asyncart.cli.common import client_options, open_api, output_dir_option, run_in_event_loop
from asyncart.cli.output import emit_json, progress_for, version_json
from asyncart.core.humanize import human_size


@click.command()
@click.argument("name")
@output_dir_option("Directory to write into")
@click.option("--type", "-t", "type_", default=None, help="Require this artifact type.")
@client_options
@run_in_event_loop
async def pull(
    name: str,
    output: Path | None,
    type_: str | None,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Download a version; files already present with the right digest are kept."""
    started = time.perf_counter()
    async with open_api(url, project) as api:
        artifact = await api.artifact(name, type=type_)
        path = await artifact.download(output, progress=progress_for(json_output))
    seconds = time.perf_counter() - started
    stats = artifact.last_transfer
    assert stats is not None
    if json_output:
        emit_json(
            {
                **version_json(artifact),
                "path": path,
                "bytes_downloaded": stats.bytes_downloaded,
                "bytes_reused": stats.bytes_reused,
                "bytes_resumed": stats.bytes_resumed,
                "files_skipped": stats.files_skipped,
                "concurrency": stats.concurrency,
                "seconds": round(seconds, 3),
            }
        )
    else:
        kept = stats.bytes_reused + stats.bytes_resumed
        click.echo(
            f"{artifact.project}/{artifact.name} -> {path} ({human_size(artifact.size)}, "
            f"{len(artifact.files())} files, {human_size(stats.bytes_downloaded)} downloaded"
            + (f", {human_size(kept)} reused from local files" if kept else "")
            + f", {seconds:.1f}s)"
        )
