"""A throwaway PostgreSQL cluster for the tests, started and removed by the fixtures.

Nothing is assumed running: the session fixture :func:`postgres_cluster` runs the
machine's ``initdb`` and ``pg_ctl`` (Debian installs them under
``/usr/lib/postgresql/<major>/bin``; ``.ci/run`` installs the ``postgresql`` package
when they are missing) on a temporary directory, listening only on 127.0.0.1 at a free
port and on a Unix socket inside that directory, with durability switched off for
speed. It is stopped (``pg_ctl stop -m immediate``) and deleted at the end of the
session. :func:`postgres_url` gives each test a fresh, empty database.

``initdb`` refuses to run as root: as root the cluster belongs to the ``postgres`` OS
user (its directory is made under /tmp, so that user can reach it) and the tools run
through ``runuser -u postgres --``.

The cluster collates text with ICU's ``en-US`` rules, as a typical production database
does (not byte-wise, unlike SQLite), so ordering differences between the dialects show
up in the tests.

Missing PostgreSQL binaries make the fixtures *fail*, never skip: the suite is meant to
run on both databases.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Where Debian (and Ubuntu) install the server binaries, one directory per major version.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The OS user owning the cluster when the tests run as root.
PG_OS_USER = "postgres"
#: The cluster's superuser (trust authentication on 127.0.0.1 and the socket only).
PG_SUPERUSER = "postgres"
HOST = "127.0.0.1"

_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "'64MB'",
    "log_min_messages": "warning",
}
_counter = itertools.count()


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``psql`` (the newest major version
    under :data:`PG_BIN_GLOB`, else the one on ``PATH``), or None if not installed."""
    tools = ("initdb", "pg_ctl", "psql")
    candidates = [Path(p) for p in Path("/").glob(PG_BIN_GLOB.lstrip("/"))]

    def major(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    for directory in sorted(candidates, key=major, reverse=True):
        if all((directory / tool).is_file() for tool in tools):
            return directory
    on_path = shutil.which("initdb")
    if on_path is not None:
        directory = Path(on_path).resolve().parent
        if all((directory / tool).is_file() for tool in tools):
            return directory
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running throwaway cluster (see the module doc)."""

    bin_dir: Path
    base: Path
    port: int = 0
    as_root: bool = False

    @property
    def data(self) -> Path:
        """The data directory."""
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        """Where the server's Unix socket lives."""
        return self.base / "sock"

    @property
    def log(self) -> Path:
        """The server's log file."""
        return self.base / "server.log"

    def url(self, database: str) -> str:
        """The ``postgresql://`` URL of ``database`` on this cluster (over TCP)."""
        return f"postgresql://{PG_SUPERUSER}@{HOST}:{self.port}/{database}"

    def _tool(self, name: str, *args: str, timeout: float = 120) -> str:
        cmd = [str(self.bin_dir / name), *args]
        if self.as_root:
            cmd = ["runuser", "-u", PG_OS_USER, "--", *cmd]
        done = subprocess.run(
            cmd, cwd=self.base, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                f"\n{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self) -> str:
        try:
            return "server log:\n" + "".join(self.log.read_text().splitlines(True)[-20:])
        except OSError:
            return ""

    def init(self) -> None:
        """``initdb`` the data directory and write the test settings."""
        self.socket_dir.mkdir()
        if self.as_root:
            owner = pwd.getpwnam(PG_OS_USER)
            for path in (self.base, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._tool(
            "initdb", "-D", str(self.data), "-U", PG_SUPERUSER, "--auth=trust", "--no-sync",
            "-E", "UTF8", "--locale=C", "--locale-provider=icu", "--icu-locale=en-US",
        )
        settings = {**_SETTINGS, "unix_socket_directories": f"'{self.socket_dir}'"}
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# asyncart tests\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self, attempts: int = 5) -> None:
        """Start the server on a free port (another port if that one was taken meanwhile);
        returns once it accepts connections (``pg_ctl -w`` waits for that)."""
        for attempt in range(1, attempts + 1):
            self.port = _free_port()
            try:
                self._tool(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                    "-o", f"-p {self.port}", "start",
                )
                break
            except RuntimeError:
                if attempt == attempts:
                    raise
        self.psql("SELECT 1")

    def stop(self) -> None:
        """Stop the server at once (nothing in it is worth a clean shutdown)."""
        try:
            self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            self._kill_postmaster()

    def _kill_postmaster(self) -> None:
        """Last resort when ``pg_ctl stop`` failed: kill the postmaster we started."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 9)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command with ``psql`` (over TCP, as the superuser); its output."""
        return self._tool(
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(self.port),
            "-U", PG_SUPERUSER, "-d", database, "-At", "-c", sql,
        )

    def create_database(self) -> str:
        """A new, empty database; returns its name."""
        name = f"asyncart_test_{os.getpid()}_{next(_counter)}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, closing any connection a test left open to it."""
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """Start a throwaway cluster; stop and delete it on exit.

    Raises:
        RuntimeError: the PostgreSQL server binaries are not installed, or did not start.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(
            f"PostgreSQL is not installed (no initdb/pg_ctl/psql under {PG_BIN_GLOB} or on "
            "PATH); the metastore tests run against PostgreSQL too. Install it, e.g. "
            "'apt-get install -y --no-install-recommends postgresql' (.ci/run does)"
        )
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pwd.getpwnam(PG_OS_USER)
        except KeyError:
            raise RuntimeError(
                f"running as root, but there is no {PG_OS_USER!r} OS user to own the test "
                "cluster (initdb refuses to run as root); the Debian package creates it"
            ) from None
    base = Path(tempfile.mkdtemp(prefix="asyncart-pg-", dir="/tmp" if as_root else None))
    cluster = PostgresCluster(bin_dir=bin_dir, base=base, as_root=as_root)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL cluster for the whole session (fails if not installed)."""
    failure = ""
    try:
        with running_cluster() as cluster:
            yield cluster
    except RuntimeError as exc:
        failure = str(exc)
    if failure:
        pytest.fail(f"cannot start the test PostgreSQL cluster: {failure}", pytrace=False)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database on the session's cluster, as a ``postgresql://`` URL;
    dropped after the test."""
    name = postgres_cluster.create_database()
    try:
        yield postgres_cluster.url(name)
    finally:
        postgres_cluster.drop_database(name)
