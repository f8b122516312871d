"""Cancelling a background log: ``artifact.cancel()`` stops it before its commit, or says why not.

The commit is held at a fault proxy, so "before the commit" is a fact of the test;
the proxy forwards a held request only if its client still waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart.sdk import portal
from tests.sdk.test_nonblocking import COMMIT, DEADLINE, Proxy, _random_file, _versions, proxy_to
from tests.support.live_server import LiveServer

MiB = 1 << 20


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[Proxy]:
    with proxy_to(server.url) as p:
        yield p


def _upload_tasks() -> list[asyncio.Task[object]]:
    """Tasks on the sync API's loop that run a log's upload (``AsyncRun._upload_task``)."""

    def running_an_upload(task: asyncio.Task[object]) -> bool:
        coro: object = task.get_coro()
        while coro is not None:  # down the chain of awaited coroutines
            if getattr(coro, "__qualname__", "") == "AsyncRun._upload_task":
                return True
            coro = getattr(coro, "cr_await", None)
        return False

    return portal.call(lambda: [t for t in asyncio.all_tasks() if running_an_upload(t)])


def test_cancel_stops_a_log_before_its_commit_and_leaves_no_task(
    server: LiveServer, proxy: Proxy
) -> None:
    gate = proxy.hold("POST", COMMIT.format(name="model"))
    data = _random_file("model.bin", 2 * MiB, 50)
    with asyncart.init(job_type="train", url=proxy.url) as run:
        art = asyncart.Artifact("model", type="model")
        art.add_file("model.bin")
        queued = asyncart.Artifact("model", type="model")
        queued.add_file("model.bin", name="copy.bin")
        run.log_artifact(art)
        run.log_artifact(queued)  # one name: waits behind art's commit
        gate.wait_arrived()  # every pack of art is stored; its commit is held
        assert len(_upload_tasks()) == 2
        assert art.cancel() is True
        assert queued.cancel() is True
        assert _upload_tasks() == []  # both tasks ended before cancel() returned
        assert not art.is_logging and art.is_draft and art.version is None
        assert art.cancel() is False  # nothing left to stop
        assert _versions(server.url, "model") == []  # no version, not even half of one
        gate.open()  # the proxy drops the held commit: its client is gone
        run.log_artifact(art, wait=True)  # a draft again, its snapshot kept: log it again
        assert art.version == "v0" and art.cancel() is False
    assert run._async.info.status == "finished"  # a cancelled log is no failure
    assert _versions(server.url, "model") == ["v0"]
    pulled = asyncart.Api(url=server.url).artifact("model:v0")
    assert [f.path for f in pulled.files()] == ["model.bin"]
    assert Path(pulled.download("out"), "model.bin").read_bytes() == data


def test_cancel_after_the_commit_or_the_failure_changes_nothing(
    server: LiveServer, proxy: Proxy
) -> None:
    proxy.proxy.answer(422, method="POST", path=COMMIT.format(name="bad"))
    _random_file("a.bin", 1000, 51)
    with asyncart.init(job_type="t", url=proxy.url) as run:
        never = asyncart.Artifact("never", type="dataset")
        assert never.cancel() is False  # never logged
        good = asyncart.Artifact("good", type="dataset")
        good.add_file("a.bin")
        run.log_artifact(good).wait(DEADLINE)
        assert good.cancel() is False and good.version == "v0"
        bad = asyncart.Artifact("bad", type="dataset")
        bad.add_file("a.bin")
        run.log_artifact(bad)
        with pytest.raises(asyncart.AsyncartError, match="fault proxy answered 422"):
            bad.wait(DEADLINE)
        assert bad.cancel() is False
