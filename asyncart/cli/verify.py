"""``asyncart verify NAME[:REF] [-o DIR] [--allow-extra]``: check local files against a
version's manifest: missing, changed and (unless ``--allow-extra``) extra files."""

from __future__ import annotations

import shlex
from pathlib import Path

import anyio
import anyio.to_thread
import click

from asyncart.cli.common import client_options, open_api, output_dir_option
from asyncart.cli.output import emit_json
from asyncart.client.download import default_root
from asyncart.client.tree_check import NOT_IN_THE_ARTIFACT, verify_directory
from asyncart.errors import IntegrityError

#: Files named in the error line; the rest are counted.
SHOWN = 10


EXAMPLES = """\b
Examples:
  asyncart verify "bike dataset"                 # ./artifacts/bike dataset:vN
  asyncart verify "bike dataset:v3" -o data/bikes --allow-extra
"""


@click.command(epilog=EXAMPLES)
@click.argument("name")
@output_dir_option("Directory holding the files")
@click.option(
    "--allow-extra",
    is_flag=True,
    help="Files the version does not have may be in the directory too.",
)
@client_options
def verify(
    name: str,
    output: Path | None,
    allow_extra: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Exit 0 if the directory holds exactly the version's files and bytes; else exit 1
    naming the missing, changed and extra files (``asyncart pull`` repairs the first two)."""
    anyio.run(_verify, name, output, allow_extra, project, url, json_output)


async def _verify(
    name: str,
    output: Path | None,
    allow_extra: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    async with open_api(url, project) as api:
        artifact = await api.artifact(name)
    manifest = artifact.manifest.stored
    assert manifest is not None  # a stored version's manifest
    root = output
    if root is None:
        version, stored = artifact.version, artifact.collection
        assert version is not None and stored is not None  # a stored version
        root = await anyio.to_thread.run_sync(default_root, stored.name, version)
    label = f"{artifact.project}/{artifact.name}"  # project/NAME:vN
    found = await anyio.to_thread.run_sync(verify_directory, manifest, root)
    extra_mark = f": {NOT_IN_THE_ARTIFACT}"
    extra = [p.removesuffix(extra_mark) for p in found if p.endswith(extra_mark)]
    problems = [p for p in found if not p.endswith(extra_mark)]
    if allow_extra:
        extra = []
    missing = [p.removesuffix(": missing") for p in problems if p.endswith(": missing")]
    changed = [p for p in problems if not p.endswith(": missing")]
    if json_output:
        emit_json(
            {
                "name": label,
                "verified": not (problems or extra),
                "missing": missing,
                "changed": changed,
                "extra": extra,
            }
        )
    if not (problems or extra):
        if not json_output:
            click.echo(f"{label}: verified")
        return
    parts = []
    if changed:
        parts.append(f"{_count(changed, 'changed file')}: {_listed(changed)}")
    if missing:
        parts.append(f"{_count(missing, 'missing file')}: {_listed(missing)}")
    if extra:
        parts.append(f"{_count(extra, 'extra file')}: {_listed(extra)}")
    where = [*(["--url", url] if url else []), *(["-p", project] if project else [])]
    pull = shlex.join(["asyncart", "pull", name, "-o", str(root), *where])
    advice = []
    if problems:
        advice.append(f"to repair: {pull} (fetches what is missing or changed)")
    if extra:
        advice.append("remove the extra files, or pass --allow-extra")
    raise IntegrityError(f"{root} does not match {label}: {'; '.join(parts)}; " + "; ".join(advice))


def _count(items: list[str], what: str) -> str:
    return f"1 {what}" if len(items) == 1 else f"{len(items)} {what}s"


def _listed(items: list[str]) -> str:
    shown = [item if item.isprintable() else repr(item) for item in items[:SHOWN]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")
