"""``asyncart server gc --root DIR [--grace S] [--dry-run] [--json] [--no-retention]``
and ``asyncart gc`` (the same on the embedded store, ASYNCART_DIR): retention, then gc."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import click

from asyncart.cli.maintenance import open_store, store_location, store_options
from asyncart.cli.output import emit_json
from asyncart.config import Settings
from asyncart.errors import ConfigError
from asyncart.repo import gc as collector
from asyncart.repo.audit import AuditLog
from asyncart.repo.location import StoreLocation
from asyncart.repo.retention import RetentionReport, retain_and_collect

F = TypeVar("F", bound=Callable[..., Any])

EXAMPLES = """\b
Examples:
  asyncart server gc --root /srv/asyncart --dry-run
  asyncart server gc --root /srv/asyncart
"""

EMBEDDED_EXAMPLES = """\b
Examples:
  asyncart gc --dry-run
  asyncart gc
"""


def gc_options(f: F) -> F:
    """The options both gc commands take."""
    f = click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")(f)
    f = click.option(
        "--no-retention",
        "skip_retention",
        is_flag=True,
        help="Do not apply retention policies and ttls; only collect garbage.",
    )(f)
    f = click.option(
        "--dry-run",
        is_flag=True,
        help="Report what retention and gc would delete and free; change nothing.",
    )(f)
    return click.option(
        "--grace",
        type=click.FloatRange(min=0),
        default=collector.DEFAULT_GRACE,
        show_default=True,
        help="Keep unreferenced packs touched within this many seconds: it must exceed "
        "the longest push (from its first 'missing' query to its commit).",
    )(f)


@click.command(epilog=EXAMPLES)
@store_options
@gc_options
@click.pass_context
def gc(
    ctx: click.Context, grace: float, dry_run: bool, skip_retention: bool, json_output: bool
) -> None:
    """Apply retention policies (docs/retention.md), then delete packs, manifests and
    leftovers no version uses; safe while pushes run."""
    _report(
        anyio.run(_gc, store_location(ctx), grace, dry_run, skip_retention, "asyncart server gc"),
        json_output,
    )


@click.command("gc", epilog=EMBEDDED_EXAMPLES)
@gc_options
def embedded_gc(grace: float, dry_run: bool, skip_retention: bool, json_output: bool) -> None:
    """Apply retention policies, then free what no version of the embedded store
    (ASYNCART_DIR) uses; for a server's store run 'asyncart server gc --root DIR'."""
    settings = Settings.from_env()
    if settings.url is not None:
        raise ConfigError(
            f"asyncart gc cleans the embedded store, and ASYNCART_URL names a server "
            f"({settings.url}); on the server's machine run 'asyncart server gc --root DIR'"
        )
    location = StoreLocation.of(settings.store_dir)
    _report(anyio.run(_gc, location, grace, dry_run, skip_retention, "asyncart gc"), json_output)


def _report(done: tuple[RetentionReport | None, collector.GcReport], json_output: bool) -> None:
    kept, report = done
    unshared = report.unshared_bytes if report.dry_run else None
    if json_output:
        out: dict[str, Any] = report.to_json()
        out["retention"] = None if kept is None else kept.to_json(unshared)
        emit_json(out)
        return
    for line in ([] if kept is None else kept.lines(unshared)) + report.lines():
        click.echo(line)


async def _gc(
    location: StoreLocation, grace: float, dry_run: bool, skip_retention: bool, via: str
) -> tuple[RetentionReport | None, collector.GcReport]:
    async with open_store(location) as repo:
        audit = AuditLog(location.db)
        await audit.open()
        try:
            return await retain_and_collect(
                repo,
                grace=grace,
                dry_run=dry_run,
                retention=not skip_retention,
                audit=audit,
                via=via,
            )
        finally:
            await audit.close()
