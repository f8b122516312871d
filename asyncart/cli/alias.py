"""``asyncart alias add|rm NAME:VERSION ALIAS``: point an alias at a version, or take it off."""

from __future__ import annotations

import anyio
import click

from asyncart.cli.common import client_options, open_api
from asyncart.cli.output import emit_json, version_info_json
from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_artifact_ref
from asyncart.errors import ConfigError


def show(info: VersionInfo, json_output: bool) -> None:
    """A changed version: its JSON form, or one line with its aliases and tags."""
    if json_output:
        emit_json(version_info_json(info))
        return
    tags = f" tags: {', '.join(info.tags)}" if info.tags else ""
    click.echo(f"{info.qualified_name} aliases: {', '.join(info.aliases) or '(none)'}{tags}")


EXAMPLES = """\b
Examples:
  asyncart alias add "bike dataset:v3" production
  asyncart alias rm "bike dataset:production" production
"""


@click.group(epilog=EXAMPLES)
def alias() -> None:
    """Add an alias to a logged version, or remove one ('latest' is the store's)."""


@alias.command("add")
@click.argument("reference")
@click.argument("name")
@client_options
def add(reference: str, name: str, project: str | None, url: str | None, json_output: bool) -> None:
    """Point alias NAME at REFERENCE (NAME:VERSION or NAME:ALIAS), moving it from the
    version it named, as logging with --alias does."""
    show(anyio.run(_change, reference, name, True, project, url), json_output)


@alias.command("rm")
@click.argument("reference")
@click.argument("name")
@client_options
def rm(reference: str, name: str, project: str | None, url: str | None, json_output: bool) -> None:
    """Remove alias NAME from REFERENCE (refused if NAME names another version)."""
    show(anyio.run(_change, reference, name, False, project, url), json_output)


async def _change(
    reference: str, name: str, adding: bool, project: str | None, url: str | None
) -> VersionInfo:
    ref = parse_artifact_ref(reference)
    if ":" not in reference:
        raise ConfigError(f"name the version: {reference}:v0 or {reference}:ALIAS")
    async with open_api(url, project) as api:
        where = ref.project or api.default_project
        async with api.client.use() as remote:
            target = await remote.get_version(where, ref.name, ref.ref)
            if adding:
                return await remote.set_alias(where, ref.name, name, target.version)
            held = await remote.get_version(where, ref.name, name)
            if held.index != target.index:
                raise ConfigError(
                    f"alias {name!r} of {ref.name!r} names {held.version}, not {target.version}"
                )
            await remote.remove_alias(where, ref.name, name)
            return await remote.get_version(where, ref.name, target.version)
