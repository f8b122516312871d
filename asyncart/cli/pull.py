"""``asyncart pull NAME[:VERSION|ALIAS] [PATH...] [--include GLOB] [--exclude GLOB] [-o DIR]``:
download a version, or some of its files, verified.

A selection (paths, globs: ``core/selection.py`` has the rules) fetches only the chunks
of the files it selects; the manifest is read once, with the version.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.to_thread
import click

from asyncart import aio
from asyncart.cli.aborting import Aborted, DoneBytes, pull_advice
from asyncart.cli.common import client_options, open_api, output_dir_option
from asyncart.cli.output import emit_json, plan_json, progress_for, quiet_option, version_json
from asyncart.client.leftovers import part_bytes, remove_leftovers
from asyncart.client.progress import Fanout
from asyncart.core.humanize import count, human_size
from asyncart.core.selection import Selection
from asyncart.sdk.planning import download_root, download_selected, plan_download

EXAMPLES = """\b
Examples:
  asyncart pull "bike dataset:v3" -o data/bikes    # a version, into a directory
  asyncart pull "bike dataset:production" --dry-run  # what would be downloaded
  asyncart pull model:best config.json --include '*.safetensors'  # some files only
"""


@dataclass
class _Pull:
    """Where a pull is writing and what it did, for the Ctrl-C message."""

    root: Path | None = None
    done: DoneBytes | None = None


@click.command(epilog=EXAMPLES)
@click.argument("name")
@click.argument("paths", nargs=-1)
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Pull the files matching GLOB (repeatable; '*.bin' matches names in any directory, "
    "'a/*.bin' whole paths, '**' any directories).",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out the files matching GLOB (repeatable; applied after PATHs and --include).",
)
@output_dir_option("Directory to write into")
@click.option("--type", "-t", "type_", default=None, help="Require this artifact type.")
@click.option("--dry-run", is_flag=True, help="Say what would be downloaded; write nothing.")
@click.option(
    "--clean",
    is_flag=True,
    help="Remove the part files an interrupted pull left in the directory; pull nothing.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither read nor fill the download cache (ASYNCART_CACHE_DIR); fetch from the server.",
)
@quiet_option
@client_options
def pull(
    name: str,
    paths: tuple[str, ...],
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    output: Path | None,
    type_: str | None,
    dry_run: bool,
    clean: bool,
    no_cache: bool,
    quiet: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Download a version, or the files PATHs and globs select; files already present
    with the right digest are kept.

    PATH is a file or a directory inside the artifact. Each PATH, --include and
    --exclude must match some file of the version (a misspelt one is an error).
    An interrupted pull keeps what it verified: the same command resumes it.
    """
    state = _Pull()
    selection = Selection(paths, include, exclude)
    if clean and not selection.everything:
        raise click.UsageError(
            "--clean removes part files; it takes no PATH, --include or --exclude"
        )
    try:
        anyio.run(
            _pull,
            state,
            name,
            selection,
            output,
            type_,
            dry_run,
            clean,
            no_cache,
            quiet,
            project,
            url,
            json_output,
        )
    except KeyboardInterrupt:
        where = [*(["--url", url] if url else []), *(["-p", project] if project else [])]
        target = ["-o", str(state.root)] if state.root is not None else []
        clean_line = shlex.join(["asyncart", "pull", name, *target, *where, "--clean"])
        done = state.done.bytes if state.done is not None else 0
        raise Aborted(pull_advice(done, state.root, clean_line)) from None


async def _pull(
    state: _Pull,
    name: str,
    selection: Selection,
    output: Path | None,
    type_: str | None,
    dry_run: bool,
    clean: bool,
    no_cache: bool,
    quiet: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    started = time.perf_counter()
    async with open_api(url, project) as api:
        artifact = await api.artifact(name, type=type_)
        label = f"{artifact.project}/{artifact.name}"
        if clean:
            await _clean(artifact, output, quiet, json_output)
            return
        every = [f.path for f in artifact.files()]
        only = None if selection.everything else selection.choose(every)
        chosen = {"selected": only} if only is not None else {}
        if dry_run:
            path, plan = await plan_download(artifact, output, only)
            if json_output:
                emit_json({**version_json(artifact), "path": path, **plan_json(plan), **chosen})
            elif not quiet:
                click.echo(
                    f"{label} -> {path}: would download {human_size(plan.bytes_to_move)} "
                    f"({plan.files_to_move} of {count(plan.files, 'file')} "
                    f"to fetch, {human_size(plan.total_bytes)} in all"
                    + (f"; {len(only)} of the version's {len(every)} selected" if only else "")
                    + "); nothing written"
                )
            return
        state.root = Path(output) if output is not None else await download_root(artifact, None)
        state.done = DoneBytes()
        bar = progress_for(quiet)
        progress = state.done if bar is None else Fanout(bar, state.done)
        if only is None:
            path = await artifact.download(output, skip_cache=no_cache, progress=progress)
        else:
            path = await download_selected(artifact, output, only, progress, skip_cache=no_cache)
    seconds = time.perf_counter() - started
    stats = artifact.last_transfer
    assert stats is not None
    if json_output:
        emit_json(
            {
                **version_json(artifact),
                "path": path,
                "bytes_downloaded": stats.bytes_downloaded,
                "bytes_reused": stats.bytes_reused,
                "bytes_resumed": stats.bytes_resumed,
                "bytes_from_cache": stats.bytes_from_cache,
                "cache_hits": stats.cache_hits,
                "files_skipped": stats.files_skipped,
                "leftovers_removed": stats.leftovers_removed,
                "concurrency": stats.concurrency,
                "seconds": round(seconds, 3),
                **chosen,
            }
        )
    elif not quiet:
        kept = stats.bytes_reused + stats.bytes_resumed
        files, size = len(artifact.files()), artifact.size
        if only is not None:
            picked = set(only)
            files, size = len(only), sum(e.size for e in artifact.files() if e.path in picked)
        click.echo(
            f"{label} -> {path} ({human_size(size)}, "
            f"{count(files, 'file')}"
            + (f" of {len(artifact.files())}" if only is not None else "")
            + ", "
            f"{human_size(stats.bytes_downloaded)} downloaded"
            + (f", {human_size(kept)} reused from local files" if kept else "")
            + (
                f", {human_size(stats.bytes_from_cache)} from the cache"
                if stats.bytes_from_cache
                else ""
            )
            + f", {seconds:.1f}s)"
        )
        if stats.leftovers_removed:
            click.echo(
                f"removed what an interrupted pull of other files left there "
                f"({count(stats.leftovers_removed, 'file')}, "
                f"{human_size(stats.leftover_bytes_removed)} of disk)"
            )


async def _clean(
    artifact: aio.Artifact, output: Path | None, quiet: bool, json_output: bool
) -> None:
    root = output if output is not None else await download_root(artifact, None)
    removed = await anyio.to_thread.run_sync(remove_leftovers, root)
    if json_output:
        emit_json(
            {
                "path": str(root),
                "removed": [str(f.path) for f in removed],
                "disk_bytes_freed": part_bytes(removed),
            }
        )
    elif not quiet:
        parts = [f for f in removed if f.is_part]
        click.echo(
            f"{root}: removed {count(len(parts), 'part file')} "
            f"({human_size(part_bytes(removed))} of disk) an interrupted pull left"
            if removed
            else f"{root}: nothing an interrupted pull left"
        )
