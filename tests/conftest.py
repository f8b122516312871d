"""Shared fixtures: a clean environment per test, fast retries, a temp store, live servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.bytecode import compile_package
from tests.support.live_server import LiveServer, live_server

# Fixture modules every test directory may use: ``postgres_cluster`` (one throwaway
# PostgreSQL cluster per session) and ``postgres_url`` (a fresh database per test).
pytest_plugins = ["tests.support.postgres"]



def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile asyncart once, in the controlling process (not in each xdist worker):
    the suite's CLI subprocesses then start as an installed asyncart does
    (``bench/bytecode.py``)."""
    if not hasattr(config, "workerinput"):
        compile_package()


FAST_RETRIES = {
    "ASYNCART_MAX_ATTEMPTS": "3",
    "ASYNCART_RETRY_DEADLINE": "10",
}


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ASYNCART_* from outside; a fresh embedded store; cwd in tmp (./artifacts lands there).

    The hash cache lives in tmp as well, so no test reads or writes ~/.cache.
    """
    for key in list(os.environ):
        if key.startswith("ASYNCART_"):
            monkeypatch.delenv(key)
    for key, value in FAST_RETRIES.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ASYNCART_DIR", str(tmp_path / "embedded-store"))
    # The hash cache too: never ~/.cache. XDG_CACHE_HOME covers Settings() built without env.
    monkeypatch.setenv("ASYNCART_CACHE_DIR", str(tmp_path / "cache"))
    # The download cache (on by default, as here), in tmp like the rest.
    monkeypatch.setenv("ASYNCART_CACHE_MAX_SIZE", "auto")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    # Credentials (`asyncart login`) too: never ~/.config.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real asyncart server subprocess on 127.0.0.1 with a fresh store."""
    with live_server(tmp_path / "server-store") as srv:
        yield srv


@pytest.fixture(params=["embedded", "server"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Run a test against the embedded store and against a server subprocess.

    Yields the mode; for ``server`` ASYNCART_URL points at the live server.
    """
    if request.param == "embedded":
        yield "embedded"
        return
    with live_server(tmp_path / "server-store") as srv:
        monkeypatch.setenv("ASYNCART_URL", srv.url)
        yield "server"


@pytest.fixture(autouse=True)
def close_sync_clients() -> Iterator[None]:
    """The sync facade shares one client per store; close them after each test."""
    yield
    from asyncart.sdk import portal, shared

    if portal._portal is not None:
        portal.call(shared.close_shared_clients)
