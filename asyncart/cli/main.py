"""``asyncart`` command line: one module per command; errors become one line and exit code 1."""

from __future__ import annotations

import importlib
import sys

import click

from asyncart._version import __version__
from asyncart.cli.aborting import EXIT_INTERRUPTED, Aborted, abort_line
from asyncart.cli.os_errors import describe_os_error
from asyncart.config import apply_cli_defaults
from asyncart.errors import AsyncartError

#: Command name -> the module (under ``asyncart.cli``) and attribute defining it, in the
#: order ``--help`` lists them. A command's module is imported only when it runs: ``pull``
#: then never loads the server's repository and SQLAlchemy (~0.8 s of every invocation).
COMMANDS: dict[str, tuple[str, str]] = {
    "push": ("push", "push"),
    "pull": ("pull", "pull"),
    "ls": ("ls", "ls"),
    "diff": ("diff", "diff"),
    "verify": ("verify", "verify"),
    "delete": ("delete", "delete"),
    "alias": ("alias", "alias"),
    "tag": ("tag", "tag"),
    "retention": ("retention", "retention"),
    "gc": ("gc", "embedded_gc"),
    "server": ("server", "server"),
    "login": ("login", "login"),
    "lineage": ("lineage", "lineage"),
    "sync": ("sync", "sync"),
    "link": ("link", "link"),
    "unlink": ("link", "unlink"),
    "cache": ("cache", "cache"),
    "mount": ("mount", "mount"),
    "unmount": ("mount", "unmount"),
}


class LazyGroup(click.Group):
    """A group whose subcommands (:data:`COMMANDS`) are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attr = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"asyncart.cli.{module}"), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="asyncart")
def cli() -> None:
    """Versioned ML artifacts: push and pull files, list versions, run a server.

    With ASYNCART_URL unset the embedded store (ASYNCART_DIR) is used.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script and ``python -m asyncart``."""
    apply_cli_defaults()
    try:
        code = cli.main(args=argv, prog_name="asyncart", standalone_mode=False)
    except Aborted as exc:  # Ctrl-C during a transfer: what was kept, how to go on
        click.echo(abort_line(str(exc)), err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C elsewhere (or at a prompt)
        click.echo(abort_line(), err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except AsyncartError as exc:
        click.echo(f"asyncart: error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # local files: e.g. -o naming an existing file, permission denied
        click.echo(f"asyncart: error: {describe_os_error(exc)}", err=True)
        sys.exit(1)
    if isinstance(code, int) and code:  # a command's ctx.exit(code), e.g. fsck finding problems
        sys.exit(code)
