"""``asyncart server fsck --root DIR [--repair] [--sample F] [--grace S] [--json]``."""

from __future__ import annotations

import anyio
import click

from asyncart.cli.maintenance import open_store, store_location, store_options
from asyncart.cli.output import emit_json
from asyncart.repo import fsck as checker
from asyncart.repo.location import StoreLocation

EXAMPLES = """\b
Examples:
  asyncart server fsck --root /srv/asyncart
  asyncart server fsck --root /srv/asyncart --sample 0.1    # re-hash 10% of the chunks
  asyncart server fsck --root /srv/asyncart --repair
"""


@click.command(epilog=EXAMPLES)
@store_options
@click.option(
    "--repair",
    is_flag=True,
    help="Drop damaged chunks from the index (the next push re-uploads them), "
    "forget lost packs, remove crash leftovers.",
)
@click.option(
    "--sample",
    type=click.FloatRange(0, 1),
    default=1.0,
    show_default=True,
    help="Fraction of chunks to re-hash, chosen at random (sizes are always checked).",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=checker.DEFAULT_GRACE,
    show_default=True,
    help="Seconds after which an unfinished write or unindexed pack is a leftover.",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@click.pass_context
def fsck(
    ctx: click.Context,
    repair: bool,
    sample: float,
    grace: float,
    json_output: bool,
) -> None:
    """Check a store's integrity: exit 0 when clean, 1 when problems remain (one line each)."""
    report = anyio.run(_fsck, store_location(ctx), repair, sample, grace)
    if json_output:
        emit_json(report.to_json())
    else:
        for finding in report.findings:
            click.echo(finding.line())
        click.echo(report.summary())
    if not report.clean:
        ctx.exit(1)


async def _fsck(
    location: StoreLocation, repair: bool, sample: float, grace: float
) -> checker.FsckReport:
    async with open_store(location) as repo:
        return await checker.fsck(repo, repair=repair, sample=sample, grace=grace)
