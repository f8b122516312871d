"""What a command loads is part of its start-up time (every ``asyncart`` run pays it):
a command on the embedded store never imports the HTTP client (aiohttp), one
against a server never imports the repository's database layer (SQLAlchemy), and
neither loads the progress bar's rich when stderr is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer, live_server

#: Runs ``asyncart ARGS`` in this interpreter, then prints which of the heavy
#: packages it loaded.
PROBE = """
import json, sys
from asyncart.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'sqlalchemy', 'rich'})
print(json.dumps(heavy))
"""


def loaded_by(args: list[str], env: dict[str, str]) -> list[str]:
    """The heavy packages ``asyncart ARGS`` imported (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("startup") / "store") as srv:
        yield srv


def push_ls_pull(env: dict[str, str], tmp_path: Path) -> list[list[str]]:
    """The heavy packages a push, an ls and a pull of one small file each loaded (the
    pulled file is checked)."""
    (tmp_path / "w.bin").write_bytes(b"weights" * 1000)
    loaded = [
        loaded_by(["push", str(tmp_path / "w.bin"), "-n", "m", "-t", "model"], env),
        loaded_by(["ls"], env),
        loaded_by(["pull", "m:latest", "-o", str(tmp_path / "out")], env),
    ]
    assert (tmp_path / "out" / "w.bin").read_bytes() == b"weights" * 1000
    return loaded


def test_embedded_commands_never_load_the_http_client(tmp_path: Path) -> None:
    env = {"ASYNCART_DIR": str(tmp_path / "store")}
    assert push_ls_pull(env, tmp_path) == [["sqlalchemy"]] * 3


def test_server_commands_never_load_the_database_layer(server: LiveServer, tmp_path: Path) -> None:
    env = {"ASYNCART_URL": server.url, "ASYNCART_DIR": str(tmp_path / "unused")}
    assert push_ls_pull(env, tmp_path) == [["aiohttp"]] * 3
