"""``asyncart lineage NAME:VERSION``: the runs and versions upstream and downstream."""

from __future__ import annotations

import anyio
import click

from asyncart.cli.common import open_api
from asyncart.sdk.lineage import render

EXAMPLES = """\b
Examples:
  asyncart lineage "bike dataset:v0"                 # what made it and what it made
  asyncart lineage model:latest --depth 1 --json     # direct neighbours, as JSON
  asyncart lineage model:latest --format dot | dot -Tsvg > lineage.svg  # needs Graphviz
"""


@click.command(epilog=EXAMPLES)
@click.argument("reference")
@click.option("--project", "-p", default=None, help="Project (default: ASYNCART_PROJECT).")
@click.option(
    "--url", default=None, help="Server URL (default: ASYNCART_URL, else the embedded store)."
)
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=None,
    help="Follow at most N edges from the version (default: all).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "dot", "json"]),
    default="text",
    show_default=True,
    help="An indented tree, a Graphviz digraph, or {nodes, edges} JSON.",
)
@click.option("--json", "json_output", is_flag=True, help="Same as --format json.")
def lineage(
    reference: str,
    project: str | None,
    url: str | None,
    depth: int | None,
    fmt: str,
    json_output: bool,
) -> None:
    """The lineage of [PROJECT/]NAME[:VERSION|ALIAS]: the run that logged it, that run's
    inputs, their producers, ... (upstream) and the runs that used it, their outputs, ...
    (downstream). Edges point along the data flow: version -> run that used it,
    run -> version it logged.
    """
    fmt = "json" if json_output else fmt
    click.echo(anyio.run(_lineage, reference, project, url, depth, fmt), nl=False)


async def _lineage(
    reference: str, project: str | None, url: str | None, depth: int | None, fmt: str
) -> str:
    async with open_api(url, project) as api:
        return render(await api.lineage(reference, depth), fmt)
