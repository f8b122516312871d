"""``asyncart sync SRC DST [NAME[:REF]...]``: copy versions, with their runs and lineage,
from one store to another (a store directory or a server URL on either side)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from asyncart.cli.common import run_in_event_loop
from asyncart.cli.output import emit_json, progress_for, quiet_option
from asyncart.client.credentials import display_url
from asyncart.client.remote import Remote
from asyncart.client.remote_factory import open_remote
from asyncart.client.sync import Mapped, StoreSync
from asyncart.config import Settings

EXAMPLES = """\b
Examples:
  asyncart sync ~/.asyncart/store https://team.example     # everything, offline -> team
  asyncart sync ~/.asyncart/store https://team -p vision model data:v3
  asyncart sync https://team ./local-copy -p vision model:production
"""


def _endpoint(base: Settings, where: str) -> Settings:
    """Settings naming ``where``: a server URL, else a store directory."""
    if where.startswith(("http://", "https://")):
        return dataclasses.replace(base, url=where.rstrip("/"))
    return dataclasses.replace(base, url=None, store_dir=Path(where).expanduser())


def _store_name(where: str) -> str:
    """How the origin records name a store: a server's URL (never a ``user:password@``
    part: the record is readable by the destination's readers), a store's absolute
    directory."""
    if where.startswith(("http://", "https://")):
        return display_url(where)
    return str(Path(where).expanduser().resolve())


def _line(m: Mapped) -> str:
    state = "copied" if m.copied else "present"
    return f"{m.project}/{m.name}:v{m.source_index} -> v{m.dest_index}  {state}"


@click.command(epilog=EXAMPLES)
@click.argument("src")
@click.argument("dst")
@click.argument("names", nargs=-1)
@click.option(
    "--project", "-p", default=None, help="Project of NAMEs without one (default: every project)."
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
@quiet_option
@run_in_event_loop
async def sync(
    src: str,
    dst: str,
    names: tuple[str, ...],
    project: str | None,
    json_output: bool,
    quiet: bool,
) -> None:
    """Copy versions from SRC to DST (each a store directory or a server URL): manifests,
    aliases, tags, metadata, the runs that logged and used them and those lineage edges.
    Only chunks DST lacks move. A version DST holds already (same content in the same
    artifact) is not copied again, so a re-run copies nothing and a re-run after an
    interruption copies only the rest. Version numbers are kept where DST has no such
    artifact, else appended in order; each line shows SOURCE -> DESTINATION, and DST
    records it (GET .../artifacts/NAME/origins). Links, ttls and the artifacts'
    descriptions and tags come along. A key without write access on DST is refused
    before any byte moves."""
    base = Settings.from_env()
    source: Remote = await open_remote(_endpoint(base, src))
    try:
        dest: Remote = await open_remote(_endpoint(base, dst))
        try:
            engine = StoreSync(
                source,
                dest,
                pack_size=base.pack_size,
                range_size=base.range_size,
                source_store=_store_name(src),
                on_version=None if json_output else lambda m: click.echo(_line(m)),
                progress=progress_for(quiet),
            )
            report = await engine.run(await engine.selections(names, project))
        finally:
            await dest.close()
    finally:
        await source.close()
    if json_output:
        emit_json(report.to_json())
        return
    if quiet:
        return
    copied = sum(m.copied for m in report.versions)
    click.echo(
        f"{copied} of {len(report.versions)} version(s) copied; {report.chunks_sent} chunk(s), "
        f"{report.bytes_sent} bytes sent in {report.packs_sent} pack(s); {report.runs} run(s); "
        f"{report.links} link(s)"
    )
