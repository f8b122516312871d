"""``asyncart retention set|show|clear NAME``: a collection's retention policy.

The policy is applied by ``asyncart server gc`` (``asyncart gc`` on the embedded store);
docs/retention.md has the rules.
"""

from __future__ import annotations

import anyio
import click

from asyncart.cli.common import client_options, open_api
from asyncart.cli.output import emit_json
from asyncart.core.humanize import parse_duration
from asyncart.core.names import parse_artifact_ref
from asyncart.core.retention import RetentionPolicy
from asyncart.errors import ConfigError

EXAMPLES = """\b
Examples:
  asyncart retention set checkpoints --keep-last 3 --max-age 30d --no-keep-aliased
  asyncart retention show checkpoints
  asyncart retention clear checkpoints
"""


@click.group(epilog=EXAMPLES)
def retention() -> None:
    """Set, show or clear a collection's retention policy (applied by gc)."""


def _echo(name: str, policy: RetentionPolicy | None, json_output: bool, lead: str = "") -> None:
    if json_output:
        emit_json({"artifact": name, "policy": None if policy is None else policy.to_json()})
    elif policy is None:
        click.echo(f"{lead}{name}: no retention policy (versions' own ttl still apply)")
    else:
        click.echo(f"{lead}{name}: {policy.describe()}")


def _max_age(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text, what="--max-age")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--max-age") from None
    if seconds < 1:
        raise click.BadParameter("must be at least 1s", param_hint="--max-age")
    return int(seconds)


@retention.command("set")
@click.argument("name")
@click.option("--keep-last", type=int, default=None, help="Keep the newest N versions.")
@click.option(
    "--max-age", default=None, help="Keep versions younger than this (30d, 12h, 2w, seconds)."
)
@click.option(
    "--keep-aliased/--no-keep-aliased",
    default=True,
    show_default=True,
    help="Keep versions holding an alias other than 'latest'.",
)
@client_options
def set_(
    name: str,
    keep_last: int | None,
    max_age: str | None,
    keep_aliased: bool,
    project: str | None,
    url: str | None,
    json_output: bool,
) -> None:
    """Give collection NAME a policy (replacing its previous one); a version kept by
    either rule stays; versions a link points at always stay."""
    policy = RetentionPolicy(keep_last, _max_age(max_age), keep_aliased)
    done = anyio.run(_call, name, "set", policy, project, url)
    _echo(name, done, json_output, "set ")


@retention.command("show")
@click.argument("name")
@client_options
def show(name: str, project: str | None, url: str | None, json_output: bool) -> None:
    """Show collection NAME's policy."""
    _echo(name, anyio.run(_call, name, "show", None, project, url), json_output)


@retention.command("clear")
@click.argument("name")
@client_options
def clear(name: str, project: str | None, url: str | None, json_output: bool) -> None:
    """Remove collection NAME's policy (its versions' own ttl still apply)."""
    old = anyio.run(_call, name, "clear", None, project, url)
    if json_output:
        emit_json({"artifact": name, "cleared": None if old is None else old.to_json()})
    else:
        click.echo(f"cleared {name}'s retention policy" if old else f"{name} had no policy")


async def _call(
    name: str, action: str, policy: RetentionPolicy | None, project: str | None, url: str | None
) -> RetentionPolicy | None:
    if ":" in name:
        raise ConfigError(
            f"a retention policy belongs to a collection: name it without ':' ({name})"
        )
    ref = parse_artifact_ref(name)
    async with open_api(url, project) as api:
        where = ref.project or api.default_project
        async with api.client.use() as remote:
            if action == "set":
                assert policy is not None
                return await remote.set_retention(where, ref.name, policy)
            if action == "clear":
                return await remote.clear_retention(where, ref.name)
            return await remote.get_retention(where, ref.name)
