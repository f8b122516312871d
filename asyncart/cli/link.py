"""``asyncart link NAME:VERSION TARGET [--alias A]...`` and ``asyncart unlink TARGET:VERSION``:
W&B's ``artifact.link`` / ``unlink`` from the shell.

TARGET is ``[project/]collection`` (a bare collection is in ``--project``'s project):
a collection of links, created by the first link; W&B's registry form
``wandb-registry-<registry>/<collection>`` is the project ``wandb-registry-<registry>``.
"""

from __future__ import annotations

import anyio
import click

from asyncart.cli.common import client_options, open_api
from asyncart.cli.output import emit_json, version_info_json
from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_artifact_ref, parse_link_target
from asyncart.errors import ConfigError


def show(info: VersionInfo, json_output: bool) -> None:
    """A link: its JSON form, or one line naming it, its source and its aliases."""
    if json_output:
        emit_json(version_info_json(info))
        return
    source = f" -> {info.source.qualified_name}" if info.source else ""
    click.echo(f"{info.qualified_name}{source} aliases: {', '.join(info.aliases) or '(none)'}")


def _version_ref(reference: str) -> tuple[str | None, str, str]:
    """``[project/]name:VERSION`` (the version or alias must be named)."""
    ref = parse_artifact_ref(reference)
    if ":" not in reference:
        raise ConfigError(f"name the version: {reference}:v0 or {reference}:ALIAS")
    return ref.project, ref.name, ref.ref


LINK_EXAMPLES = """\b
Examples:
  asyncart link model:v3 portfolio                          # into this project's 'portfolio'
  asyncart link model:v3 wandb-registry-model/detector --alias production
  asyncart link "bike dataset:latest" team/datasets --json
"""

UNLINK_EXAMPLES = """\b
Examples:
  asyncart unlink portfolio:v0                      # the link goes, its source stays
  asyncart unlink wandb-registry-model/detector:production
"""


@click.command(epilog=LINK_EXAMPLES)
@click.argument("reference")
@click.argument("target")
@click.option("--alias", "aliases", multiple=True, help="An alias of the link (repeatable).")
@client_options
def link(
    reference: str,
    target: str,
    aliases: tuple[str, ...],
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Link version REFERENCE (NAME:VERSION or NAME:ALIAS) into collection TARGET
    ([project/]collection) without copying its bytes; prints the link (TARGET:vN)."""
    show(anyio.run(_link, reference, target, list(aliases), project, url), json_output)


async def _link(
    reference: str, target: str, aliases: list[str], project: str | None, url: str | None
) -> VersionInfo:
    where, name, ref = _version_ref(reference)
    async with open_api(url, project) as api:
        into = parse_link_target(target, api.default_project)
        async with api.client.use() as remote:
            return await remote.link_version(where or api.default_project, name, ref, into, aliases)


@click.command(epilog=UNLINK_EXAMPLES)
@click.argument("reference")
@client_options
def unlink(reference: str, project: str | None, url: str | None, json_output: bool) -> None:
    """Remove link REFERENCE (COLLECTION:VERSION or COLLECTION:ALIAS); its source stays.
    A logged version is refused: delete it with 'asyncart delete'."""
    show(anyio.run(_unlink, reference, project, url), json_output)


async def _unlink(reference: str, project: str | None, url: str | None) -> VersionInfo:
    where, name, ref = _version_ref(reference)
    async with open_api(url, project) as api, api.client.use() as remote:
        return await remote.unlink_version(where or api.default_project, name, ref)
