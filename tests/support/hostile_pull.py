"""What the hostile-server pull tests share (``tests/client/test_hostile_server_*.py``).

A hostile server cannot hurt a client: whatever it answers, a pull fails cleanly or is
right. Every test pulls ``project/name:v0`` from :mod:`tests.support.hostile_server`
(real HTTP on 127.0.0.1) told to lie about one thing: entry paths, range bytes, range
lengths, chunk locations, file sizes or digests. Each lie must end in one asyncart
error (no Python traceback from the CLI), and afterwards:

* nothing was written outside the target directory (the whole test directory
  outside it, with a sentinel tree beside the target, is byte-for-byte and
  mtime-for-mtime unchanged, and so is the parent directory's listing):
  :class:`Arena`, :func:`assert_untouched`;
* every file under a final name in the target holds exactly the bytes the
  manifest's digest names (only part files and journals, under their reserved
  names, may hold anything else): :func:`assert_only_verified_files`;
* the same target then pulls correctly from an honest server (leftovers of the
  hostile pull do not poison the next one): :func:`assert_honest_pull_works`.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart.core.paths import RESERVED_SUFFIXES, normalize_entry_path
from asyncart.errors import AsyncartError, ConfigError, RetriesExhausted
from tests.support.hostile_paths import PROBE_DIR
from tests.support.hostile_server import (
    REF,
    HostileServer,
    Served,
    blake3_hex,
    running_hostile_server,
)

_rnd = random.Random(6)
FILES: dict[str, list[bytes]] = {
    "data/big.bin": [_rnd.randbytes(1000), _rnd.randbytes(1500), _rnd.randbytes(700)],
    "empty.txt": [],
    "small.txt": [b"a small file, one chunk\n"],
    "twin.txt": [b"a twin of it, same size\n"],  # as long as small.txt, other bytes
}
assert len(FILES["small.txt"][0]) == len(FILES["twin.txt"][0])
CONTENT = {path: b"".join(chunks) for path, chunks in FILES.items()}

# -- the arena: a target directory with sentinels around it ----------------------------


Snapshot = dict[str, tuple[Any, ...]]
Lie = Callable[[Served], object]  # edits what the hostile server serves


@dataclass
class Arena:
    """``tmp_path`` with a target three levels down and a sentinel tree beside it."""

    base: Path
    target: Path
    excluded: tuple[Path, ...]  # the target, and the client's own cache directories

    def snapshot(self) -> Snapshot:
        """Every path under ``base`` outside the excluded trees: kind, size, content, mtime."""
        out: Snapshot = {}
        for dirpath, dirnames, filenames in os.walk(self.base):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if here / d not in self.excluded]
            for name in [*dirnames, *filenames]:
                path = here / name
                rel = path.relative_to(self.base).as_posix()
                st = path.lstat()
                if path.is_symlink():
                    out[rel] = ("link", os.readlink(path))
                elif path.is_dir():
                    out[rel] = ("dir", st.st_mode)
                else:
                    out[rel] = ("file", st.st_size, st.st_mtime_ns, blake3_hex(path.read_bytes()))
        return out

    @classmethod
    def around(cls, tmp_path: Path) -> Arena:
        """A target ``arena/lvl1/lvl2/target`` (absent), sentinels at every level around it.

        Absolute hostile names point into PROBE_DIR: it must not exist to begin with.
        """
        assert not PROBE_DIR.exists(), f"{PROBE_DIR} exists; remove it before running these tests"
        lvl2 = tmp_path / "arena" / "lvl1" / "lvl2"
        (lvl2 / "sentinel" / "sub").mkdir(parents=True)
        (lvl2 / "sentinel" / "keep.txt").write_bytes(b"sentinel beside the target\n")
        (lvl2 / "sentinel" / "sub" / "deep.bin").write_bytes(bytes(range(256)))
        (lvl2 / "sentinel" / "x").write_bytes(b"named like an escape's target\n")
        (tmp_path / "arena" / "lvl1" / "level1.txt").write_bytes(b"one level up\n")
        (tmp_path / "arena" / "top.txt").write_bytes(b"the top of the arena\n")
        excluded = (lvl2 / "target", tmp_path / "cache", tmp_path / "xdg-cache")
        return cls(tmp_path, lvl2 / "target", excluded)

    def listing(self) -> list[str]:
        """The names in the target's parent directory."""
        return sorted(os.listdir(self.target.parent))


@contextmanager
def honest_hostile_server() -> Iterator[HostileServer]:
    """A hostile server serving the honest :data:`FILES` until a test makes it lie."""
    with running_hostile_server(Served.honest(FILES)) as server:
        yield server


# -- pulling ------------------------------------------------------------------------


def pull_api(server: HostileServer, target: Path) -> AsyncartError:
    """Pull with the sync Python API; return the asyncart error it must raise."""
    with pytest.raises(AsyncartError) as info:
        asyncart.Api(url=server.url).artifact(REF).download(target)
    return info.value


def run_cli_pull(server: HostileServer, target: Path) -> subprocess.CompletedProcess[str]:
    """``asyncart pull project/name:v0 -o TARGET --url URL`` as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "asyncart", "pull", REF, "-o", str(target), "--url", server.url],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


#: The one line each retry prints (``asyncart.client.retry``) before the error line.
RETRY_LINE = re.compile(r"asyncart: retrying in \d+(?:\.\d)? s \(\d+/\d+\): .+")


def cli_error(server: HostileServer, target: Path) -> str:
    """Pull with the CLI; return its one error line (exit 1, no traceback; a lie that
    looks like a broken transfer is retried first, a line per retry)."""
    proc = run_cli_pull(server, target)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    *retries, last = proc.stderr.splitlines()
    assert all(RETRY_LINE.fullmatch(line) for line in retries), proc.stderr
    assert last.startswith("asyncart: error: "), last
    return last


def set_fields(obj: dict[str, Any], **values: Any) -> None:
    """``obj.update(values)`` as an expression, for the lies written as lambdas."""
    obj.update(values)


def root_cause(exc: BaseException) -> BaseException:
    """The last attempt's error for ``RetriesExhausted``, else ``exc``."""
    return exc.last_exception if isinstance(exc, RetriesExhausted) else exc


def assert_only_verified_files(target: Path, served: Served) -> None:
    """Every file under a final name holds exactly what the manifest (and the truth) say."""
    told: dict[str, tuple[Any, Any]] = {}
    for e in served.entries():
        try:
            told[normalize_entry_path(e.get("path"))] = (e.get("size"), e.get("digest"))
        except (ConfigError, AttributeError):
            continue
    if not target.exists():
        return
    for path in sorted(target.rglob("*")):
        rel = path.relative_to(target).as_posix()
        assert not path.is_symlink(), rel
        if path.is_dir():
            continue
        if rel.endswith(RESERVED_SUFFIXES):
            continue
        data = path.read_bytes()
        assert rel in told, f"{rel} is no entry of the manifest"
        assert (len(data), blake3_hex(data)) == told[rel], f"{rel} is torn or wrong"
        if rel in CONTENT:
            assert data == CONTENT[rel], rel


def assert_untouched(arena: Arena, before: Snapshot, listing: list[str]) -> None:
    """Nothing outside the target changed; the parent holds the sentinel (and the target)."""
    assert arena.snapshot() == before
    assert arena.listing() in (listing, sorted([*listing, "target"]))
    assert not PROBE_DIR.exists()


def assert_honest_pull_works(server: HostileServer, target: Path) -> None:
    """After a hostile pull, the same target pulls the honest version completely."""
    server.served = Served.honest(FILES)
    asyncart.Api(url=server.url).artifact(REF).download(target)
    for path, data in CONTENT.items():
        assert (target / path).read_bytes() == data
    leftovers = [p.name for p in target.rglob("*") if p.name.endswith(RESERVED_SUFFIXES)]
    assert leftovers == []
