"""``asyncart`` command line: one module per command; errors become one line and exit code 1."""

from __future__ import annotations

import sys

import click

from asyncart._version import __version__
from asyncart.cli import delete, lineage, login, ls, pull, push, server, verify
from asyncart.errors import AsyncartError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asyncart")
def cli() -> None:
    """Versioned ML artifacts: push and pull files, list versions, run a server.

    With ASYNCART_URL unset the embedded store (ASYNCART_DIR) is used.
    """


cli.add_command(push.push)
cli.add_command(pull.pull)
cli.add_command(ls.ls)
cli.add_command(verify.verify)
cli.add_command(delete.delete)
cli.add_command(server.server)
cli.add_command(login.login)
cli.add_command(lineage.lineage)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and ``python -m asyncart``."""
    try:
        code = cli.main(args=argv, prog_name="asyncart", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("asyncart: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AsyncartError as exc:
        click.echo(f"asyncart: error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # local files: e.g. -o naming an existing file, permission denied
        click.echo(f"asyncart: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("asyncart: interrupted", err=True)
        sys.exit(130)
    if isinstance(code, int) and code:  # a command's ctx.exit(code), e.g. fsck finding problems
        sys.exit(code)
