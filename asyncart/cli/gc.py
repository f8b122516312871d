"""``asyncart server gc --root DIR [--grace S] [--dry-run] [--json]``."""

from __future__ import annotations

import anyio
import click

from asyncart.cli.maintenance import open_store, store_location, store_options
from asyncart.cli.output import emit_json
from asyncart.repo import gc as collector
from asyncart.repo.location import StoreLocation

EXAMPLES = """\b
Examples:
  asyncart server gc --root /srv/asyncart --dry-run
  asyncart server gc --root /srv/asyncart
"""


@click.command(epilog=EXAMPLES)
@store_options
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=collector.DEFAULT_GRACE,
    show_default=True,
    help="Keep unreferenced packs touched within this many seconds: it must exceed "
    "the longest push (from its first 'missing' query to its commit).",
)
@click.option("--dry-run", is_flag=True, help="Report what would be deleted; delete nothing.")
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@click.pass_context
def gc(ctx: click.Context, grace: float, dry_run: bool, json_output: bool) -> None:
    """Delete packs, manifests and leftovers no version uses; safe while pushes run."""
    report = anyio.run(_gc, store_location(ctx), grace, dry_run)
    if json_output:
        emit_json(report.to_json())
    else:
        for line in report.lines():
            click.echo(line)


async def _gc(location: StoreLocation, grace: float, dry_run: bool) -> collector.GcReport:
    async with open_store(location) as repo:
        return await collector.collect_garbage(repo, grace=grace, dry_run=dry_run)
