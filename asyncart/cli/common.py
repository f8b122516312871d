"""Options shared by the client commands."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio
import click

from asyncart import aio

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
Params = ParamSpec("Params")


def open_api(url: str | None, project: str | None) -> aio.Api[aio.Artifact]:
    """The async read API of ``--url`` / ``--project``, typed for :class:`aio.Artifact`."""
    return aio.Api(url=url, project=project)


def client_options(fn: F) -> F:
    """``--project``, ``--url`` and ``--json`` for commands that talk to a store."""
    fn = click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")(fn)
    fn = click.option(
        "--url", default=None, help="Server URL (default: ASYNCART_URL, else the embedded store)."
    )(fn)
    fn = click.option("--project", "-p", default=None, help="Project (default: ASYNCART_PROJECT).")(
        fn
    )
    return fn


def output_dir_option(what: str) -> Callable[[F], F]:
    """``--output/-o DIR``, the directory of a version's files; ``what`` begins its help."""
    return click.option(
        "--output",
        "-o",
        type=click.Path(path_type=Path),
        default=None,
        help=f"{what} (default ./artifacts/<name>:<version>).",
    )


def run_in_event_loop(fn: Callable[Params, Awaitable[T]]) -> Callable[Params, T]:
    """The coroutine function ``fn`` as a plain one that runs it in a new event loop (what
    a click command is)."""

    @functools.wraps(fn)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> T:
        return anyio.run(functools.partial(fn, *args, **kwargs))

    return run
