"""``asyncart push PATH... --name NAME --type TYPE``: log files or directories as a version."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import click

from asyncart import aio
from asyncart.cli.aborting import Aborted, MovedBytes, push_advice
from asyncart.cli.common import client_options, open_api
from asyncart.cli.output import emit_json, plan_json, progress_for, quiet_option, version_json
from asyncart.client.progress import Fanout
from asyncart.core.humanize import count, human_size
from asyncart.sdk.planning import plan_log

EXAMPLES = """\b
Examples:
  asyncart push bicycle-data.h5 --name "bike dataset" --type dataset
  asyncart push checkpoints/ -n resnet -t model -a best       # a directory, alias 'best'
  asyncart push data/ -n "bike dataset" -t dataset --dry-run  # what would be uploaded
"""


@click.command(epilog=EXAMPLES)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Artifact name, e.g. 'bike dataset'.")
@click.option("--type", "-t", "type_", required=True, help="Artifact type, e.g. dataset, model.")
@click.option("--alias", "-a", "aliases", multiple=True, help="Alias to apply (repeatable).")
@click.option("--description", default=None, help="Version description.")
@click.option(
    "--dry-run", is_flag=True, help="Read the files and say what would be uploaded; store nothing."
)
@quiet_option
@client_options
def push(
    paths: tuple[Path, ...],
    name: str,
    type_: str,
    aliases: tuple[str, ...],
    description: str | None,
    dry_run: bool,
    quiet: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Push files and directories as a new version (or find the identical one).

    Only the chunks the store lacks are sent; an interrupted push resumes where it
    stopped when run again.
    """
    artifact = aio.Artifact(name=name, type=type_, description=description)
    # The CLI pushes and returns; nothing overwrites the files meanwhile: no snapshot copy
    # (which would also defeat the hash cache). A file changed anyway is a FileChangedError.
    for path in paths:
        if path.is_dir():
            artifact.add_dir(path, policy="immutable")
        else:
            artifact.add_file(path, policy="immutable")
    if dry_run:
        anyio.run(_dry_run, artifact, project, url, quiet, json_output)
        return
    moved = MovedBytes()
    try:
        anyio.run(_push, artifact, list(aliases), moved, quiet, project, url, json_output)
    except KeyboardInterrupt:
        raise Aborted(push_advice(moved.bytes)) from None


async def _dry_run(
    artifact: aio.Artifact, project: str | None, url: str | None, quiet: bool, json_output: bool
) -> None:
    async with open_api(url, project) as api:
        plan = await plan_log(artifact, api.client)
        where = api.default_project
    if json_output:
        emit_json({"name": artifact.name, "project": where, **plan_json(plan)})
    elif not quiet:
        click.echo(
            f"{where}/{artifact.name}: would upload {human_size(plan.bytes_to_move)} "
            f"({plan.files_to_move} of {count(plan.files, 'file')} with "
            f"bytes the store lacks, {human_size(plan.total_bytes)} in all); nothing stored"
        )


async def _push(
    artifact: aio.Artifact,
    aliases: list[str],
    moved: MovedBytes,
    quiet: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    started = time.perf_counter()
    bar = progress_for(quiet)
    run = await aio.init(job_type="push", project=project, url=url)
    async with run:
        await run.log_artifact(
            artifact, aliases=aliases, progress=moved if bar is None else Fanout(bar, moved)
        )
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
    elif not quiet:
        what = "created" if created else "unchanged, reused"
        click.echo(
            f"{artifact.project}/{artifact.name} {what} ({human_size(artifact.size)}, "
            f"{count(len(artifact.files()), 'file')}, {human_size(stats.bytes_uploaded)} "
            f"uploaded, {seconds:.1f}s) aliases: {', '.join(artifact.aliases)}"
        )
