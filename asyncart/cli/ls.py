"""``asyncart ls [NAME]``: collections of a project, or versions of one artifact."""

from __future__ import annotations

import click

from asyncart.cli.common import client_options, open_api, run_in_event_loop
from asyncart.cli.output import emit_json
from asyncart.core.humanize import human_size, human_time


@click.command()
@click.argument("name", required=False)
@client_options
@run_in_event_loop
async def ls(name: str | None, project: str | None, url: str | None, json_output: bool) -> None:
    """List artifact collections, or the versions of NAME with aliases, size, files, date."""
    async with open_api(url, project) as api:
        if name is None:
            cols = await api.artifact_collections()
            if json_output:
                emit_json([c.to_json() for c in cols])
                return
            if not cols:
                click.echo(f"no artifacts in project {api.project!r}")
            for c in cols:
                click.echo(
                    f"{c.name}\t{c.type}\t{c.version_count} version(s)\t{human_time(c.updated_at)}"
                )
            return
        versions = await api.artifact_versions(name.split(":")[0])
        if json_output:
            emit_json([v.to_json() for v in versions])
            return
        for v in versions:
            click.echo(
                f"{v.version}\t{','.join(v.aliases) or '-'}\t{human_size(v.size)}\t"
                f"{v.file_count} file(s)\t{human_time(v.created_at)}\t{v.digest[:12]}"
            )
