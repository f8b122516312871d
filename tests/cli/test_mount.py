"""``asyncart mount NAME DIR`` (issue 18): a real mount subprocess against a real server,
through a proxy that counts the pack bytes it relays. Names and sizes show before a pack
byte moves; a read moves about the bytes read; writes are refused; SIGTERM and
``asyncart unmount`` unmount and end the process cleanly."""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy, running_fault_proxy
from tests.support.live_server import LiveServer, live_server

MiB = 1 << 20
FILES = {
    "big.bin": 8 * MiB,
    "cfg/config.json": 3000,
    "shards/a/part-1.bin": 300_000,
}
PACKS = "/v1/packs/"
MOUNT_WAIT = 30.0  # seconds for a mount to appear or go


def _fuse_missing() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel or container)"
    try:
        import mfusepy  # noqa: F401
    except ModuleNotFoundError:
        return "mfusepy is not installed (pip install 'asyncart[mount]')"
    except OSError as exc:
        return f"libfuse is missing (apt-get install fuse3): {exc}"
    if not (shutil.which("fusermount3") or shutil.which("fusermount")):
        return "fusermount is missing (apt-get install fuse3)"
    return None


pytestmark = pytest.mark.skipif(_fuse_missing() is not None, reason=str(_fuse_missing()))


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("mount") / "store") as srv:
        yield srv


@pytest.fixture(scope="module")
def pushed(module_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    rng = random.Random(18)
    for name, size in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(rng.randbytes(size))
    done = run_cli(
        "push", str(src), "--name", "weights", "--type", "model", "--url", module_server.url
    )
    assert done.returncode == 0, done.stderr
    return src


@pytest.fixture(scope="module")
def proxy(module_server: LiveServer) -> Iterator[FaultProxy]:
    with running_fault_proxy(module_server.url) as p:
        yield p


@dataclass
class Mount:
    """A running ``asyncart mount`` subprocess, its directory and its stderr file."""

    dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text()


def _wait_mounted(mount: Mount) -> None:
    deadline = time.monotonic() + MOUNT_WAIT
    while not os.path.ismount(mount.dir):
        if mount.proc.poll() is not None:
            raise AssertionError(f"mount exited {mount.proc.returncode}: {mount.stderr()}")
        assert time.monotonic() < deadline, f"not mounted after {MOUNT_WAIT} s"
        time.sleep(0.05)


def _stale(mnt: Path) -> bool:
    try:
        os.stat(mnt)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def _unmount(mnt: Path) -> None:
    """Unmount ``mnt`` if it is mounted, live or left by a dead process."""
    if os.path.ismount(mnt) or _stale(mnt):
        tool = shutil.which("fusermount3") or shutil.which("fusermount") or "fusermount"
        subprocess.run([tool, "-u", "-z", str(mnt)], check=False, capture_output=True)


@pytest.fixture
def mounted(pushed: Path, proxy: FaultProxy, tmp_path: Path) -> Iterator[Mount]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    log = tmp_path / "mount.stderr"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncart", "mount", "weights", str(mnt), "--url", proxy.url],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        mount = Mount(mnt, proc, log)
        _wait_mounted(mount)
        yield mount
    finally:
        _unmount(mnt)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=MOUNT_WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _unmount(mnt)


def test_names_and_sizes_show_before_a_pack_byte_moves(mounted: Mount, proxy: FaultProxy) -> None:
    mnt = mounted.dir
    before = proxy.bytes_sent("GET", PACKS)
    listing = subprocess.run(["ls", "-lR", str(mnt)], capture_output=True, text=True, check=True)
    for name, size in FILES.items():
        assert Path(name).name in listing.stdout
        st = (mnt / name).stat()
        assert st.st_size == size
        assert st.st_mode & 0o777 == 0o444
    assert (mnt / "cfg").stat().st_mode & 0o777 == 0o555
    assert sorted(os.listdir(mnt)) == ["big.bin", "cfg", "shards"]
    assert proxy.bytes_sent("GET", PACKS) == before  # nothing fetched to list


def test_reading_a_file_gives_its_bytes_and_moves_only_them(
    mounted: Mount, proxy: FaultProxy, pushed: Path
) -> None:
    mnt = mounted.dir
    before = proxy.bytes_sent("GET", PACKS)
    assert (mnt / "cfg/config.json").read_bytes() == (pushed / "cfg/config.json").read_bytes()
    assert proxy.bytes_sent("GET", PACKS) - before == FILES["cfg/config.json"]
    shard = "shards/a/part-1.bin"
    assert (mnt / shard).read_bytes() == (pushed / shard).read_bytes()


def test_a_slice_of_a_large_file_moves_about_its_size(
    mounted: Mount, proxy: FaultProxy, pushed: Path
) -> None:
    mnt = mounted.dir
    before = proxy.bytes_sent("GET", PACKS)
    offset = 5 * MiB + 12345
    with open(mnt / "big.bin", "rb") as f:
        f.seek(offset)
        got = f.read(MiB)
    with open(pushed / "big.bin", "rb") as f:
        f.seek(offset)
        assert got == f.read(MiB)
    moved = proxy.bytes_sent("GET", PACKS) - before
    # the slice, the chunks it starts and ends inside (<= 1 MiB each), the read-ahead
    assert MiB <= moved <= 4 * MiB, moved
    assert moved < FILES["big.bin"] // 2


def test_writes_are_refused_read_only(mounted: Mount) -> None:
    mnt = mounted.dir
    attempts = [
        lambda: (mnt / "new.txt").write_bytes(b"x"),
        lambda: open(mnt / "cfg/config.json", "ab").close(),
        lambda: (mnt / "cfg/config.json").unlink(),
        lambda: (mnt / "newdir").mkdir(),
        lambda: (mnt / "big.bin").rename(mnt / "other.bin"),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.EROFS, caught.value
    assert sorted(os.listdir(mnt)) == ["big.bin", "cfg", "shards"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_unmounts_and_exits_zero(mounted: Mount, sig: signal.Signals) -> None:
    mounted.proc.send_signal(sig)
    assert mounted.proc.wait(timeout=MOUNT_WAIT) == 0, mounted.stderr()
    assert not os.path.ismount(mounted.dir)
    assert f"unmounted {mounted.dir}" in mounted.stderr()


def test_asyncart_unmount_ends_the_mount(mounted: Mount) -> None:
    mnt = mounted.dir
    done = run_cli("unmount", str(mnt))
    assert done.returncode == 0, done.stderr
    assert mounted.proc.wait(timeout=MOUNT_WAIT) == 0, mounted.stderr()
    assert not os.path.ismount(mnt)
    again = run_cli("unmount", str(mnt))
    assert again.returncode != 0 and "is not a mount point" in again.stderr


def test_a_missing_version_fails_clearly_and_mounts_nothing(
    pushed: Path, proxy: FaultProxy, tmp_path: Path
) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        done = run_cli("mount", "weights:v9", str(mnt), "--url", proxy.url)
        assert done.returncode == 1
        assert "v9" in done.stderr
        assert not os.path.ismount(mnt)
        nodir = run_cli("mount", "weights", str(tmp_path / "absent"), "--url", proxy.url)
        assert nodir.returncode == 2 and "is not a directory" in nodir.stderr
    finally:
        _unmount(mnt)


def test_no_libfuse_is_a_clear_error_naming_the_package(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # mfusepy looks the library up by this name: one that no system has
    env = {"FUSE_LIBRARY_NAME": "asyncart-test-no-such-fuse"}
    done = run_cli("mount", "weights", str(mnt), "--url", "http://127.0.0.1:9", env=env)
    assert done.returncode == 1
    assert "no usable libfuse" in done.stderr and "apt-get install fuse3" in done.stderr
    assert "Traceback" not in done.stderr
    assert not os.path.ismount(mnt)


def test_a_mount_whose_process_was_killed_is_unmounted(mounted: Mount) -> None:
    mounted.proc.kill()  # no chance to unmount: the directory is left "not connected"
    mounted.proc.wait(timeout=MOUNT_WAIT)
    deadline = time.monotonic() + MOUNT_WAIT
    while True:  # the kernel may answer from its attribute cache for a moment
        try:
            os.stat(mounted.dir)
        except OSError as exc:
            assert exc.errno == errno.ENOTCONN, exc
            break
        assert time.monotonic() < deadline, "the killed mount still answers"
        time.sleep(0.05)
    again = run_cli("mount", "weights", str(mounted.dir), "--url", "http://127.0.0.1:9")
    assert again.returncode == 2 and "whose process has gone" in again.stderr
    done = run_cli("unmount", str(mounted.dir))
    assert done.returncode == 0, done.stderr
    assert mounted.dir.is_dir() and not os.path.ismount(mounted.dir)


def test_a_corrupted_chunk_is_an_io_error_named_on_stderr(
    mounted: Mount, proxy: FaultProxy, pushed: Path
) -> None:
    fault = proxy.corrupt(at_byte=10, method="GET", path=PACKS, times=1000)
    try:
        with pytest.raises(OSError) as caught:
            (mnt_file := mounted.dir / "cfg/config.json").read_bytes()
        assert caught.value.errno == errno.EIO
    finally:
        proxy.faults.remove(fault)
    assert fault.fired > 0
    assert "reading 'cfg/config.json' failed" in mounted.stderr()
    assert "corrupt" in mounted.stderr()
    assert mnt_file.read_bytes() == (pushed / "cfg/config.json").read_bytes()  # sound again
