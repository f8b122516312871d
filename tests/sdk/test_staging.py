"""Snapshots stage in the cache directory of the run's settings, not the environment's.

The named bug (issue 16): ``add_file`` staged its snapshot under a fresh
``Settings.from_env().cache_dir`` whatever settings the run was started with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncart import aio
from asyncart.client.client import Client
from asyncart.config import Settings
from asyncart.sdk.async_run import AsyncRun


def _staged(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.glob("staging/snap-*/*"))


async def test_snapshots_go_to_the_run_settings_cache_dir(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_cache = tmp_path / "env-cache"
    monkeypatch.setenv("ASYNCART_CACHE_DIR", str(env_cache))
    run_cache = tmp_path / "run-cache"
    client = Client(Settings.from_env().with_overrides(cache_dir=run_cache))
    Path("model.bin").write_bytes(b"weights")
    Path("data.bin").write_bytes(b"rows")
    try:
        async with await AsyncRun.start("train", client=client) as run:
            art = aio.Artifact("model", type="model")
            art.add_file("model.bin")  # built while the run is open: its cache dir
            assert _staged(run_cache) == ["1-model.bin"]
            await run.log_artifact(art)
            assert _staged(run_cache) == []  # removed once committed
            logged = await run.log_artifact("data.bin", name="data", type="dataset")
            assert logged.version == "v0"
            assert logged._draft.cache_dir == run_cache  # a path the run logs: its settings
    finally:
        await client.close()
    assert not env_cache.joinpath("staging").exists()
