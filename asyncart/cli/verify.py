"""``asyncart verify NAME[:REF] [-o DIR]``: check local files against a version's manifest."""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from asyncart.cli.common import client_options, open_api, output_dir_option
from asyncart.cli.output import emit_json


@click.command()
@click.argument("name")
@output_dir_option("Directory holding the files")
@client_options
def verify(
    name: str, output: Path | None, project: str | None, url: str | None, json_output: bool
) -> None:
    """Exit 0 if the directory holds exactly the version's bytes, 1 naming what differs."""
    anyio.run(_verify, name, output, project, url, json_output)


async def _verify(
    name: str, output: Path | None, project: str | None, url: str | None, json_output: bool
) -> None:
    async with open_api(url, project) as api:
        artifact = await api.artifact(name)
        await artifact.verify(output)
    if json_output:
        emit_json({"name": f"{artifact.project}/{artifact.name}", "verified": True})
    else:
        click.echo(f"{artifact.project}/{artifact.name}: verified")
