"""How long a request retries a server that is not there: briefly if it never answered
in this process (a wrong URL looks like that), with every attempt if it did (a restart).

The CLI's side of this (retry lines, exit codes, wording) is in tests/cli/test_cli.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import asyncart
from asyncart.client import reachability
from tests.support.in_process_server import in_process_server

NAME = "patience data"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_server_that_answered_once_gets_every_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASYNCART_CONNECT_PATIENCE bounds only the retries of a server that never answered
    in this process (a wrong URL); one that did and went away (a restart) gets them all."""
    monkeypatch.setenv("ASYNCART_CONNECT_PATIENCE", "0.01")
    reachability._answered.clear()  # ports of earlier tests' servers may come round again
    with pytest.raises(asyncart.RetriesExhausted) as never:
        asyncart.Api(url=closed_port_url()).artifact(f"{NAME}:v0")
    assert never.value.attempts == 1
    with in_process_server(tmp_path / "gone") as gone, pytest.raises(asyncart.ArtifactNotFound):
        asyncart.Api(url=gone.url).artifact(f"{NAME}:v0")  # an answer
    with pytest.raises(asyncart.RetriesExhausted) as answered_before:
        asyncart.Api(url=gone.url).artifact(f"{NAME}:v0")
    assert answered_before.value.attempts == 3  # ASYNCART_MAX_ATTEMPTS from conftest
    assert isinstance(answered_before.value.last_exception, asyncart.ConnectError)
