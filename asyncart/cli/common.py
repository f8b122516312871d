"""Options shared by the client commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from asyncart import aio

F = TypeVar("F", bound=Callable[..., Any])


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
