"""``asyncart diff A B``: what changed from version A to version B (any two references
``[project/]NAME[:VERSION|ALIAS]``, of one collection or two); manifests only."""

from __future__ import annotations

import click

from asyncart.cli.common import client_options, open_api, run_in_event_loop
from asyncart.cli.output import emit_json
from asyncart.core.diff_report import stat_lines

EXAMPLES = """\b
Examples:
  asyncart diff model:v3 model:v4       # what v4 changed
  asyncart diff model:production model  # production against latest
  asyncart diff data:v0 other-data:v2 --json
"""


@click.command(epilog=EXAMPLES)
@click.argument("old")
@click.argument("new")
@click.option("--all", "show_all", is_flag=True, help="List unchanged files too.")
@client_options
@run_in_event_loop
async def diff(
    old: str, new: str, show_all: bool, project: str | None, url: str | None, json_output: bool
) -> None:
    """Files added (A), removed (D), changed (M, with the bytes that differ at chunk
    level), renamed (R: same content, new path) from OLD to NEW, then a summary: bytes
    of NEW in chunks OLD lacks ("new") and in chunks both hold ("shared"). Reads the two
    manifests, never the files' bytes."""
    async with open_api(url, project) as api:
        a = await api.artifact(old)
        b = await api.artifact(new)
        result = await a.diff(b)
    if json_output:
        emit_json(result.to_json())
        return
    click.echo(f"{result.old} -> {result.new}")
    for line in stat_lines(result.manifest_diff, unchanged=show_all):
        click.echo(line)
