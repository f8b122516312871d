"""``asyncart cache ls|prune|clear``: the local download cache (``client/cache.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
import click

from asyncart.cli.output import emit_json
from asyncart.client.cache import BlobCache, Evicted
from asyncart.config import Settings
from asyncart.core.humanize import count, human_size, parse_duration, parse_size

T = TypeVar("T")

EXAMPLES = """\b
Examples:
  asyncart cache ls                          # size, entries, hit rate, budget
  asyncart cache prune --older-than 30d      # drop what no pull used for a month
  asyncart cache clear
"""

LS_EXAMPLES = """\b
Examples:
  asyncart cache ls
  asyncart cache ls --json
"""

PRUNE_EXAMPLES = """\b
Examples:
  asyncart cache prune --max-size 20GB       # least recently used first
  asyncart cache prune --older-than 12h --json
"""

CLEAR_EXAMPLES = """\b
Examples:
  asyncart cache clear
  asyncart cache clear --json
"""

_json = click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")


def _with_cache(work: Callable[[BlobCache], T]) -> T:
    settings = Settings.from_env()
    cache = BlobCache(settings.cache_dir, settings.cache_max_size)
    try:
        return work(cache)
    finally:
        cache.close()


def _run(work: Callable[[BlobCache], T]) -> T:
    return anyio.run(anyio.to_thread.run_sync, _with_cache, work)


@click.group(epilog=EXAMPLES)
def cache() -> None:
    """The local download cache (ASYNCART_CACHE_DIR) and its budget (ASYNCART_CACHE_MAX_SIZE).

    Pulls from a server place files from it when it holds them and store what they
    fetch; entries no pull uses are evicted, least recently used first.
    """


@cache.command("ls", epilog=LS_EXAMPLES)
@_json
def ls(json_output: bool) -> None:
    """Show the cache's size, entries, budget and hit rate."""

    path, budget, t = _run(lambda c: (c.dir, c.max_size, c.totals()))
    if json_output:
        emit_json(
            {
                "path": str(path),
                "bytes": t.bytes,
                "entries": t.entries,
                "max_size": budget,
                "hits": t.hits,
                "misses": t.misses,
                "hit_bytes": t.hit_bytes,
                "miss_bytes": t.miss_bytes,
                "hit_rate": t.hit_rate,
            }
        )
        return
    rate = (
        "- (no lookups yet)"
        if t.hit_rate is None
        else f"{t.hit_rate:.0%} ({t.hits} of {count(t.hits + t.misses, 'file')})"
    )
    click.echo(
        f"{path}: {human_size(t.bytes)} in {count(t.entries, 'entry', 'entries')} "
        + (
            f"(budget {human_size(budget)})"
            if budget
            else "(off: set ASYNCART_CACHE_MAX_SIZE, e.g. to 'auto' or '50GB', to use it)"
        )
        + f"; hit rate {rate}"
    )


def _report(done: Evicted, json_output: bool, verb: str) -> None:
    if json_output:
        emit_json(
            {
                "removed": done.entries,
                "bytes_freed": done.bytes,
                "in_use": done.busy,
                "temp_files_removed": done.temps,
            }
        )
        return
    line = f"{verb} {count(done.entries, 'entry', 'entries')} ({human_size(done.bytes)})"
    if done.busy:
        kept = count(done.busy, "entry", "entries")
        line += f"; kept {kept} a running pull or open file is using"
    click.echo(line)


@cache.command("prune", epilog=PRUNE_EXAMPLES)
@click.option("--max-size", default=None, help="Keep at most this much (e.g. 20GB, 500MiB).")
@click.option("--older-than", default=None, help="Remove entries unused this long (e.g. 30d).")
@_json
def prune(max_size: str | None, older_than: str | None, json_output: bool) -> None:
    """Evict least recently used entries down to a size (default: the budget), or
    those unused for a while; entries a running pull uses are kept."""
    try:
        size = None if max_size is None else parse_size(max_size, what="--max-size")
        age = None if older_than is None else parse_duration(older_than, what="--older-than")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    _report(_run(lambda c: c.evict(max_size=size, older_than=age)), json_output, "pruned")


@cache.command("clear", epilog=CLEAR_EXAMPLES)
@_json
def clear(json_output: bool) -> None:
    """Remove every entry (except those a running pull or open file is using)."""
    _report(_run(lambda c: c.clear()), json_output, "cleared")
