"""Non-blocking log: log_artifact returns before the commit; wait(), finish() and exit settle it.

And snapshot safety: a file overwritten (in place or by rename) while its upload is
held at a proxy still yields the bytes it had at ``add_file`` (the default, snapshot
policy); with ``policy='immutable'`` a change is a FileChangedError, never a torn version.

Uploads are held with a fault proxy's gated stall, so "before the commit" is a fact
of the test, not a race: nothing here sleeps or compares timings.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.live_server import LiveServer

MiB = 1 << 20
COMMIT = "/v1/projects/default/artifacts/{name}/versions"
DEADLINE = 60  # seconds; a bound for a wait that should end at once, never a measurement


class Gate:
    """A stall gate for the proxy: tells the test a request arrived, holds it until opened."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.arrived = threading.Event()
        self._open = asyncio.Event()

    async def wait(self) -> None:
        self.arrived.set()
        await self._open.wait()

    def open(self) -> None:
        self.loop.call_soon_threadsafe(self._open.set)

    def wait_arrived(self) -> None:
        assert self.arrived.wait(DEADLINE), "the held request never reached the proxy"


class Proxy:
    """A FaultProxy on its own loop thread, with gates the test can open from its thread."""

    def __init__(self, proxy: FaultProxy, loop: asyncio.AbstractEventLoop) -> None:
        self.proxy = proxy
        self.loop = loop
        self.url = proxy.url

    def hold(self, method: str, path: str, times: int = 1) -> Gate:
        gate = Gate(self.loop)
        self.proxy.add(
            Fault("stall", method=method, path=path, seconds=300, gate=gate, times=times)  # type: ignore[arg-type]
        )
        return gate


@contextmanager
def proxy_to(target: str) -> Iterator[Proxy]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        fault_proxy = asyncio.run_coroutine_threadsafe(_started(target), loop).result(DEADLINE)
        try:
            yield Proxy(fault_proxy, loop)
        finally:
            asyncio.run_coroutine_threadsafe(fault_proxy.close(), loop).result(DEADLINE)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=DEADLINE)
        loop.close()


async def _started(target: str) -> FaultProxy:
    return await FaultProxy(target).start()


@pytest.fixture
def proxy(server: LiveServer) -> Iterator[Proxy]:
    with proxy_to(server.url) as p:
        yield p


@pytest.fixture(autouse=True)
def small_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 MiB packs, one at a time: a multi-MiB file takes several pack uploads."""
    monkeypatch.setenv("ASYNCART_PACK_SIZE", str(MiB))
    monkeypatch.setenv("ASYNCART_CHUNK_SIZE", str(64 << 10))
    monkeypatch.setenv("ASYNCART_CONCURRENCY", "1")
    monkeypatch.setenv("ASYNCART_MAX_CONCURRENCY", "1")


def _versions(url: str, name: str) -> list[str]:
    try:
        return [v.version for v in asyncart.Api(url=url).artifact_versions(name)]
    except asyncart.ArtifactNotFound:
        return []


def _random_file(path: str, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    Path(path).write_bytes(data)
    return data


# -- non-blocking log, wait ------------------------------------------------------------------


def test_log_returns_before_the_commit_and_wait_returns_the_version(
    server: LiveServer, proxy: Proxy
) -> None:
    gate = proxy.hold("POST", COMMIT.format(name="model"))
    data = _random_file("model.bin", 2 * MiB, 1)
    run = asyncart.init(job_type="train", url=proxy.url)
    art = asyncart.Artifact("model", type="model")
    art.add_file("model.bin")
    returned = run.log_artifact(art, aliases=["best"])
    assert returned is art
    assert art.is_logging and art.is_draft  # the commit is held at the proxy: not committed
    assert "(logging)" in repr(art)  # repr never waits
    with pytest.raises(TimeoutError, match="not committed"):
        art.wait(timeout=0)
    gate.wait_arrived()  # the upload went on in the background up to the commit
    assert _versions(server.url, "model") == []
    with pytest.raises(asyncart.ConfigError, match="being logged"):
        art.add_file("model.bin", name="again.bin")
    with pytest.raises(asyncart.ConfigError, match="already being logged"):
        run.log_artifact(art)
    gate.open()
    assert art.wait(timeout=DEADLINE) is art
    assert not art.is_logging
    assert (art.version, art.aliases) == ("v0", ["latest", "best"])
    run.finish()
    assert _versions(server.url, "model") == ["v0"]
    out = asyncart.Api(url=server.url).artifact("model:best").download("out")
    assert Path(out, "model.bin").read_bytes() == data


def test_properties_wait_for_the_commit(server: LiveServer, proxy: Proxy) -> None:
    gate = proxy.hold("POST", COMMIT.format(name="model"))
    _random_file("model.bin", MiB, 2)
    with asyncart.init(job_type="train", url=proxy.url) as run:
        art = asyncart.Artifact("model", type="model")
        art.add_file("model.bin")
        run.log_artifact(art)
        gate.wait_arrived()
        got: list[str | None] = []
        reader = threading.Thread(target=lambda: got.append(art.version))
        reader.start()
        assert got == []  # blocked: the commit is still held
        gate.open()
        reader.join(DEADLINE)
        assert got == ["v0"]
        assert art.digest is not None and art.qualified_name == "asyncart/default/model:v0"


def test_sync_init_and_wait_true_block_until_committed(server: LiveServer, proxy: Proxy) -> None:
    _random_file("a.bin", 1000, 3)
    with asyncart.init(job_type="t", url=proxy.url, sync=True) as run:
        art = asyncart.Artifact("a", type="dataset")
        art.add_file("a.bin")
        run.log_artifact(art)
        assert not art.is_logging and art._info is not None and art._info.version == "v0"
    with asyncart.init(job_type="t", url=proxy.url) as run:
        _random_file("a.bin", 1001, 4)
        art = asyncart.Artifact("a", type="dataset")
        art.add_file("a.bin")
        run.log_artifact(art, wait=True)
        assert not art.is_logging and art._info is not None and art._info.version == "v1"


def test_logs_of_one_name_commit_in_call_order(server: LiveServer, proxy: Proxy) -> None:
    """Checkpoints logged back to back: v0 is step 1, v1 step 2, latest the last one."""
    gate = proxy.hold("POST", COMMIT.format(name="ckpt"))
    with asyncart.init(job_type="train", url=proxy.url) as run:
        arts = []
        for step in range(3):
            Path("ckpt.bin").write_bytes(f"step {step}".encode())
            art = asyncart.Artifact("ckpt", type="model", metadata={"step": step})
            art.add_file("ckpt.bin")  # a snapshot: the next step may overwrite the file
            run.log_artifact(art)
            arts.append(art)
        gate.wait_arrived()
        gate.open()
    assert [a.version for a in arts] == ["v0", "v1", "v2"]
    api = asyncart.Api(url=server.url)
    latest = api.artifact("ckpt:latest")
    assert latest.version == "v2" and latest.metadata == {"step": 2}
    assert Path(latest.download("out"), "ckpt.bin").read_bytes() == b"step 2"


# -- errors ------------------------------------------------------------------------------------


def test_an_upload_error_is_raised_by_wait(server: LiveServer, proxy: Proxy) -> None:
    proxy.proxy.answer(422, method="POST", path=COMMIT.format(name="bad"))
    _random_file("b.bin", 1000, 5)
    with asyncart.init(job_type="t", url=proxy.url) as run:
        art = asyncart.Artifact("bad", type="dataset")
        art.add_file("b.bin")
        run.log_artifact(art)  # returns: the error comes later
        with pytest.raises(asyncart.AsyncartError, match="fault proxy answered 422"):
            art.wait()
        with pytest.raises(asyncart.AsyncartError, match="fault proxy answered 422"):
            _ = art.version  # properties re-raise it too
        assert art.is_draft
        # Seen once, it is not raised again by finish(); the run may log it again.
        run.log_artifact(art, wait=True)
        assert art.version == "v0"
    assert run._async.info.status == "finished"


def test_an_upload_error_nobody_waited_for_is_raised_by_finish(
    server: LiveServer, proxy: Proxy, capfd: pytest.CaptureFixture[str]
) -> None:
    proxy.proxy.answer(422, method="POST", path=COMMIT.format(name="bad"))
    _random_file("b.bin", 1000, 6)
    _random_file("g.bin", 1000, 7)
    run = asyncart.init(job_type="t", url=proxy.url)
    bad = asyncart.Artifact("bad", type="dataset")
    bad.add_file("b.bin")
    good = asyncart.Artifact("good", type="dataset")
    good.add_file("g.bin")
    run.log_artifact(bad)
    run.log_artifact(good)
    with pytest.raises(asyncart.AsyncartError, match="fault proxy answered 422"):
        run.finish()
    assert good.version == "v0"  # every upload settled before finish raised
    assert _versions(server.url, "bad") == []
    assert run._async.info.status == "failed"
    assert "logging artifact 'bad' failed" in capfd.readouterr().err


def test_with_block_exit_raises_an_unseen_upload_error(server: LiveServer, proxy: Proxy) -> None:
    proxy.proxy.answer(422, method="POST", path=COMMIT.format(name="bad"))
    _random_file("b.bin", 1000, 8)
    with (
        pytest.raises(asyncart.AsyncartError, match="fault proxy answered 422"),
        asyncart.init(job_type="t", url=proxy.url) as run,
    ):
        art = asyncart.Artifact("bad", type="dataset")
        art.add_file("b.bin")
        run.log_artifact(art)


# -- async API ---------------------------------------------------------------------------------


async def test_async_log_artifact_awaits_the_commit_and_composes_with_gather(
    server: LiveServer,
) -> None:
    async with FaultProxy(server.url) as fault_proxy:
        gate = Gate(asyncio.get_running_loop())
        fault_proxy.add(
            Fault("stall", method="POST", path=COMMIT.format(name="part-1"), seconds=300, gate=gate)  # type: ignore[arg-type]
        )
        for i in range(3):
            _random_file(f"f{i}.bin", 300_000 + i, 10 + i)
        async with await aio.init(job_type="train", url=fault_proxy.url) as run:
            arts = []
            for i in range(3):
                art = aio.Artifact(f"part-{i}", type="dataset")
                art.add_file(f"f{i}.bin")
                arts.append(art)
            again = aio.Artifact("part-0", type="dataset")
            Path("f0b.bin").write_bytes(b"second")
            again.add_file("f0b.bin")
            task = asyncio.ensure_future(
                asyncio.gather(*(run.log_artifact(a) for a in [*arts, again]))
            )
            assert await asyncio.to_thread(gate.arrived.wait, DEADLINE)  # part-1's commit is held
            assert arts[1].is_logging and not task.done()
            with pytest.raises(asyncart.ConfigError, match="deadlock"):
                _ = arts[1].version  # waiting on this loop for this loop would hang
            gate.open()
            logged = await asyncio.wait_for(task, DEADLINE)
        assert [a.version for a in logged] == ["v0", "v0", "v0", "v1"]
        assert logged[1].version == "v0" and logged[1].aliases == ["latest"]


# -- snapshot safety ---------------------------------------------------------------------------


def test_files_overwritten_during_the_upload_keep_their_add_file_bytes(
    server: LiveServer, proxy: Proxy
) -> None:
    gate = proxy.hold("POST", "/v1/packs")  # the first pack upload is held
    inplace = _random_file("inplace.bin", 3 * MiB, 20)
    renamed = _random_file("renamed.bin", 3 * MiB, 21)
    with asyncart.init(job_type="train", url=proxy.url) as run:
        art = asyncart.Artifact("ckpt", type="model")
        art.add_file("inplace.bin")
        art.add_file("renamed.bin")
        run.log_artifact(art)
        gate.wait_arrived()  # the upload is under way, its first pack held
        with open("inplace.bin", "r+b") as f:  # torch.save-style: rewrite in place
            f.write(random.Random(22).randbytes(3 * MiB))
        Path("renamed.tmp").write_bytes(random.Random(23).randbytes(2 * MiB))
        os.replace("renamed.tmp", "renamed.bin")  # write-then-rename
        gate.open()
        art.wait(DEADLINE)
    assert art.version == "v0"
    pulled = asyncart.Api(url=server.url).artifact("ckpt:v0")
    out = pulled.download("out")  # verified chunk by chunk and file by file
    pulled.verify(out)
    assert Path(out, "inplace.bin").read_bytes() == inplace
    assert Path(out, "renamed.bin").read_bytes() == renamed
    assert not list((Path(os.environ["ASYNCART_CACHE_DIR"]) / "staging").iterdir())


def test_immutable_files_changed_before_their_upload_fail_instead_of_tearing(
    server: LiveServer, proxy: Proxy
) -> None:
    """'immutable' is a promise; a broken one is a FileChangedError from wait() and finish().

    The second log waits behind the first (same name, call order), whose commit is held:
    its files change after log_artifact returned and before they are read.
    """
    gate = proxy.hold("POST", COMMIT.format(name="ckpt"))
    first = _random_file("first.bin", MiB, 30)
    _random_file("inplace.bin", 2 * MiB, 31)
    _random_file("renamed.bin", 2 * MiB, 32)
    run = asyncart.init(job_type="train", url=proxy.url)
    art0 = asyncart.Artifact("ckpt", type="model")
    art0.add_file("first.bin", policy="immutable")
    run.log_artifact(art0)
    gate.wait_arrived()
    art1 = asyncart.Artifact("ckpt", type="model")
    art1.add_file("inplace.bin", policy="immutable")
    art2 = asyncart.Artifact("ckpt", type="model")
    art2.add_file("renamed.bin", policy="immutable")
    run.log_artifact(art1)
    run.log_artifact(art2)
    with open("inplace.bin", "r+b") as f:
        f.seek(MiB)
        f.write(b"torn" * 1000)
    Path("renamed.tmp").write_bytes(b"new")
    os.replace("renamed.tmp", "renamed.bin")
    gate.open()
    with pytest.raises(asyncart.FileChangedError, match=r"inplace\.bin"):
        art1.wait(DEADLINE)
    with pytest.raises(asyncart.FileChangedError, match=r"renamed\.bin"):
        run.finish()  # art2's error was not seen yet
    assert art0.version == "v0"
    assert _versions(server.url, "ckpt") == ["v0"]  # no torn version
    out = asyncart.Api(url=server.url).artifact("ckpt:latest").download("out")
    assert Path(out, "first.bin").read_bytes() == first


def test_snapshot_of_a_file_being_written_fails_at_add_file() -> None:
    """The snapshot checks the file did not change while it was copied (nothing staged stays)."""
    from asyncart.client import snapshot
    from asyncart.client.scan import stat_source

    path = Path("f.bin")
    path.write_bytes(b"x" * 1000)
    before = stat_source(path)
    path.write_bytes(b"y" * 1001)
    target = Path("snap.bin")
    with pytest.raises(asyncart.FileChangedError):
        snapshot.snapshot_file(path, before, target)
    identity, _ = snapshot.snapshot_file(path, stat_source(path), target)
    assert target.read_bytes() == b"y" * 1001 and identity.size == 1001


@pytest.mark.parametrize("kernel_copy", [True, False], ids=["copy_file_range", "read-write"])
def test_a_snapshot_copy_is_exact_with_and_without_a_kernel_copy(
    kernel_copy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where copy_file_range is refused (EXDEV across file systems on old kernels,
    no such call off Linux) the copy reads and writes through one reused buffer."""
    import errno

    from asyncart.client import snapshot
    from asyncart.client.scan import stat_source

    if not kernel_copy:

        def refused(*args: object) -> int:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refused, raising=False)
        monkeypatch.setattr(snapshot, "_COPY_BUFFER", 1000)  # many buffers' worth
    data = _random_file("f.bin", 10_001, 41)
    identity, reflinked = snapshot.snapshot_file(
        Path("f.bin"), stat_source(Path("f.bin")), Path("s")
    )
    assert Path("s").read_bytes() == data and identity.size == len(data)
    assert not reflinked or kernel_copy


# -- exit --------------------------------------------------------------------------------------

EXIT_SCRIPT = """
import sys, asyncart
run = asyncart.init(job_type="forgetful", url=sys.argv[1])
art = asyncart.Artifact("left-open", type="model")
art.add_file(sys.argv[2])
run.log_artifact(art)
print(run.id, flush=True)
print("main done", flush=True)
# no run.finish(), no wait(): interpreter exit must wait for the upload and commit it
"""


def test_a_process_that_exits_without_finish_still_commits(
    server: LiveServer, proxy: Proxy
) -> None:
    gate = proxy.hold("POST", COMMIT.format(name="left-open"))
    data = _random_file("model.bin", 2 * MiB, 40)
    proc = subprocess.Popen(
        [sys.executable, "-c", EXIT_SCRIPT, proxy.url, "model.bin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert proc.stdout.readline().strip() == "main done"
        gate.wait_arrived()
        assert proc.poll() is None  # the script's code is done; the process waits to commit
        assert _versions(server.url, "left-open") == []
        gate.open()
        _, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "waiting for 1 upload to commit" in err
    art = asyncart.Api(url=server.url).artifact("left-open:latest")
    assert art.version == "v0"
    producer = art.logged_by()
    assert producer is not None and producer.id == run_id and producer.status == "finished"
    assert Path(art.download("out"), "model.bin").read_bytes() == data
