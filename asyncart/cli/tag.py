"""``asyncart tag NAME:VERSION TAG... [--rm]``: give a logged version tags, or take them off."""

from __future__ import annotations

import anyio
import click

from asyncart.cli.alias import show
from asyncart.cli.common import client_options, open_api
from asyncart.core.models import VersionChanges, VersionInfo
from asyncart.core.names import parse_artifact_ref, validate_tags
from asyncart.errors import ConfigError

EXAMPLES = """\b
Examples:
  asyncart tag "bike dataset:v2" reviewed "from camera 2"
  asyncart tag "bike dataset:latest" reviewed --rm
"""


@click.command(epilog=EXAMPLES)
@click.argument("reference")
@click.argument("tags", nargs=-1, required=True)
@click.option("--rm", "remove", is_flag=True, help="Remove the tags instead of adding them.")
@client_options
def tag(
    reference: str,
    tags: tuple[str, ...],
    remove: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Add TAGS to REFERENCE (NAME:VERSION or NAME:ALIAS), or with --rm remove them.

    A tag is words of letters, digits, '-' and '_' separated by spaces (quote it).
    Adding a tag it has, or removing one it lacks, changes nothing.
    """
    show(anyio.run(_tag, reference, list(tags), remove, project, url), json_output)


async def _tag(
    reference: str, tags: list[str], remove: bool, project: str | None, url: str | None
) -> VersionInfo:
    ref = parse_artifact_ref(reference)
    if ":" not in reference:
        raise ConfigError(f"name the version: {reference}:v0 or {reference}:ALIAS")
    checked = tuple(validate_tags(tags))
    changes = VersionChanges(tags_remove=checked) if remove else VersionChanges(tags_add=checked)
    async with open_api(url, project) as api, api.client.use() as remote:
        where = ref.project or api.default_project
        return await remote.update_version(where, ref.name, ref.ref, changes)
