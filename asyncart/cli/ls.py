"""``asyncart ls [NAME] [--type TYPE]``: collections of a project, or versions of one artifact."""

from __future__ import annotations

import click

from asyncart.cli.common import client_options, open_api, run_in_event_loop
from asyncart.cli.output import emit_json
from asyncart.core.humanize import human_size, human_time
from asyncart.core.names import validate_name
from asyncart.sdk.collections import collection_infos, collection_named


@click.command()
@click.argument("name", required=False)
@click.option(
    "--type",
    "-t",
    "type_name",
    default=None,
    help="Only collections of this artifact type (with NAME: NAME must be of it).",
)
@client_options
@run_in_event_loop
async def ls(
    name: str | None, type_name: str | None, project: str | None, url: str | None, json_output: bool
) -> None:
    """List artifact collections, or the versions of NAME with aliases, size, files, date."""
    if type_name is not None:
        validate_name(type_name, what="artifact type")
    async with open_api(url, project) as api:
        if name is None:
            cols = await collection_infos(api, api.default_project, type_name)
            if json_output:
                emit_json([c.to_json() for c in cols])
                return
            if not cols:
                of_type = f" of type {type_name!r}" if type_name else ""
                click.echo(f"no artifacts{of_type} in project {api.default_project!r}")
            for c in cols:
                click.echo(
                    f"{c.name}\t{c.type}\t{c.version_count} version(s)\t{human_time(c.updated_at)}"
                )
            return
        collection = name.split(":")[0]
        if type_name is not None:  # ArtifactNotFound unless NAME is of that type
            await collection_named(api, api.default_project, type_name, collection)
        versions = await api.artifact_versions(collection)
        if json_output:
            emit_json([v.to_json() for v in versions])
            return
        for v in versions:
            click.echo(
                f"{v.version}\t{','.join(v.aliases) or '-'}\t{human_size(v.size)}\t"
                f"{v.file_count} file(s)\t{human_time(v.created_at)}\t{v.digest[:12]}"
            )
