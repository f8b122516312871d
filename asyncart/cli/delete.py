"""``asyncart delete NAME:VERSION`` / ``asyncart delete NAME --all``: delete versions."""

from __future__ import annotations

import sys

import anyio
import click

from asyncart.cli.common import client_options, open_api
from asyncart.cli.output import emit_json, version_info_json
from asyncart.config import Settings
from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_artifact_ref
from asyncart.errors import ConfigError

EXAMPLES = """\b
Examples:
  asyncart delete "bike dataset:v0"             # asks first on a terminal
  asyncart delete "bike dataset:v3" --delete-aliases -y
  asyncart delete "bike dataset" --all -y
"""


@click.command(epilog=EXAMPLES)
@click.argument("reference")
@click.option(
    "--all", "all_versions", is_flag=True, help="Delete every version of the artifact NAME."
)
@click.option(
    "--delete-aliases",
    is_flag=True,
    help="Also delete aliases (other than latest) the versions hold; "
    "without it such versions are refused.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@client_options
def delete(
    reference: str,
    all_versions: bool,
    delete_aliases: bool,
    yes: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Delete REFERENCE (NAME:VERSION or NAME:ALIAS), or with --all every version of NAME.

    Version numbers are never reused; the chunks only the deleted versions used are
    freed by the next 'asyncart server gc'. Without --yes it asks on a terminal and
    refuses otherwise.
    """
    ref = parse_artifact_ref(reference)
    has_ref = ":" in reference
    if all_versions and has_ref:
        raise ConfigError(
            f"--all deletes every version of an artifact: give NAME, not {reference!r}"
        )
    if not all_versions and not has_ref:
        raise ConfigError(
            f"name the version to delete ({reference}:v0, {reference}:ALIAS) "
            "or pass --all to delete every version"
        )
    where = ref.project or project or Settings.from_env().project
    what = f"every version of {ref.name!r}" if all_versions else f"{ref.name}:{ref.ref}"
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(
                f"refusing to delete {what} without --yes (no terminal to confirm on)"
            )
        click.confirm(f"Delete {what} in project {where!r}?", abort=True)
    deleted = anyio.run(_delete, reference, all_versions, delete_aliases, project, url)
    if json_output:
        emit_json({"deleted": [version_info_json(v) for v in deleted]})
        return
    for v in deleted:
        aliases = f" (aliases: {', '.join(v.aliases)})" if v.aliases else ""
        click.echo(f"deleted {v.qualified_name}{aliases}")


async def _delete(
    reference: str,
    all_versions: bool,
    delete_aliases: bool,
    project: str | None,
    url: str | None,
) -> list[VersionInfo]:
    async with open_api(url, project) as api:
        if all_versions:
            ref = parse_artifact_ref(reference)
            return await api.delete_artifact(ref.name, ref.project, delete_aliases=delete_aliases)
        return [await api.delete_version(reference, delete_aliases=delete_aliases)]
