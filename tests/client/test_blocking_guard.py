"""The guard of this suite (``tests/support/blocking.py``) refuses what it should, only that."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from blockbuster import BlockingError

from asyncart.client import journal
from tests.support import blocking


def _asyncart_coroutine(body: str) -> Any:
    """An ``async def`` whose code says it lives in the asyncart package, like its own."""
    source = "async def run(path):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    namespace: dict[str, Any] = {"time": time, "journal": journal}
    exec(compile(source, str(Path(blocking._PACKAGE) / "guard_probe.py"), "exec"), namespace)
    return namespace["run"]


async def test_a_blocking_call_from_an_asyncart_coroutine_is_refused(tmp_path: Path) -> None:
    run = _asyncart_coroutine("time.sleep(0)")
    with pytest.raises(BlockingError, match=r"time\.sleep"):
        await run(tmp_path)
    sync_helper = _asyncart_coroutine("journal.start(path / 'j', '00' * 32, 1)")
    with pytest.raises(BlockingError, match=r"os\.write"):
        await sync_helper(tmp_path)
    assert len(blocking.FOUND) == 2
    blocking.FOUND.clear()  # refused as expected: not this test's failure


async def test_the_test_may_call_asyncart_sync_helpers_itself(tmp_path: Path) -> None:
    journal.start(tmp_path / "j", "00" * 32, 1)  # test setup, not asyncart's loop
    assert journal.read(tmp_path / "j", "00" * 32, 1) == []
    assert blocking.FOUND == []
