"""``asyncart push PATH... --name NAME --type TYPE``: log files or directories as a version."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import click

from asyncart import aio
from asyncart.cli.common import client_options
from asyncart.cli.output import emit_json, progress_for, version_json
from asyncart.core.humanize import human_size


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Artifact name, e.g. 'bike dataset'.")
@click.option("--type", "-t", "type_", required=True, help="Artifact type, e.g. dataset, model.")
@click.option("--alias", "-a", "aliases", multiple=True, help="Alias to apply (repeatable).")
@click.option("--description", default=None, help="Version description.")
@client_options
def push(
    paths: tuple[Path, ...],
    name: str,
    type_: str,
    aliases: tuple[str, ...],
    description: str | None,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Push files and directories as a new version (or find the identical one)."""
    anyio.run(_push, paths, name, type_, list(aliases), description, project, url, json_output)


async def _push(
    paths: tuple[Path, ...],
    name: str,
    type_: str,
    aliases: list[str],
    description: str | None,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    artifact = aio.Artifact(name=name, type=type_, description=description)
    # The CLI pushes and returns; nothing overwrites the files meanwhile: no snapshot copy
    # (which would also defeat the hash cache). A file changed anyway is a FileChangedError.
    for path in paths:
        if path.is_dir():
            artifact.add_dir(path, policy="immutable")
        else:
            artifact.add_file(path, policy="immutable")
    started = time.perf_counter()
    run = await aio.init(job_type="push", project=project, url=url)
    async with run:
        await run.log_artifact(artifact, aliases=aliases, progress=progress_for(json_output))
    seconds = time.perf_counter() - started
    stats = artifact.last_transfer
    assert stats is not None
    created = bool(artifact.is_new_version)
    if json_output:
        emit_json(
            {
                **version_json(artifact),
                "aliases": artifact.aliases,
                "created": created,
                "bytes_uploaded": stats.bytes_uploaded,
                "bytes_skipped": stats.bytes_skipped,
                "bytes_read": stats.bytes_read,
                "files_cached": stats.files_cached,
                "packs_uploaded": stats.packs_uploaded,
                "concurrency": stats.concurrency,
                "seconds": round(seconds, 3),
            }
        )
    else:
        what = "created" if created else "unchanged, reused"
        click.echo(
            f"{artifact.project}/{artifact.name} {what} ({human_size(artifact.size)}, "
            f"{len(artifact.files())} files, {human_size(stats.bytes_uploaded)} uploaded, "
            f"{seconds:.1f}s) aliases: {', '.join(artifact.aliases)}"
        )
