"""A pull never writes through a link planted at its side files, final paths or references
(issue 15 items 5 and 7).

Against :mod:`tests.support.hostile_server` (real HTTP on 127.0.0.1):

* a symlink (dangling, or to an existing file outside the target), a hard link to a file
  outside, or a FIFO, planted at ``X.asyncart-part``, ``X.asyncart-journal`` or
  ``<target>.asyncart-lock``, and a symlink out at a final path: the pull is refused
  with a ``ConfigError`` naming it, the outside file is untouched and nothing is created;
* a manifest entry referencing ``/dev/zero``, a FIFO, a directory, a symlink to a
  device, or a file of another size or other bytes: refused, and no partial file is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart.errors import AsyncartError, ConfigError, IntegrityError
from tests.support.hostile_server import REF, HostileServer, Served, blake3_hex
from tests.support.hostile_server import running_hostile_server as running

FILES = {
    "small.txt": [b"a small file, one chunk\n"],  # one range: its part file is made by its write
    "data/big.bin": [b"x" * 900, b"y" * 700, b"z" * 500],
}
CONTENT = {p: b"".join(c) for p, c in FILES.items()}
OUTSIDE_TEXT = b"a file outside the target, which no pull may touch\n"


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with running(Served.honest(FILES)) as server:
        yield server


def state(path: Path) -> tuple[Any, ...] | None:
    """What is at ``path`` (not following a link): None, or kind and content."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return ("file", st.st_nlink, path.read_bytes(), st.st_mtime_ns)
    return ("other", st.st_mode)


class Scene:
    """A target (``tmp/t/target``) and, outside it, one existing file and one absent name."""

    def __init__(self, tmp: Path) -> None:
        self.outside = tmp / "outside"
        self.outside.mkdir()
        self.existing = self.outside / "existing.txt"
        self.existing.write_bytes(OUTSIDE_TEXT)
        self.absent = self.outside / "created-by-a-pull"
        self.target = tmp / "t" / "target"
        self.target.mkdir(parents=True)
        (self.target / "data").mkdir()

    def outside_state(self) -> dict[str, Any]:
        return {p.name: state(p) for p in sorted(self.outside.iterdir())}


@pytest.fixture
def scene(tmp_path: Path) -> Scene:
    return Scene(tmp_path)


def plant(kind: str, at: Path, scene: Scene) -> None:
    if kind == "dangling-symlink":
        at.symlink_to(scene.absent)
    elif kind == "symlink-to-existing":
        at.symlink_to(scene.existing)
    elif kind == "hard-link-to-existing":
        os.link(scene.existing, at)
    elif kind == "fifo":
        os.mkfifo(at)
    else:
        raise AssertionError(kind)


SIDE_NAMES: dict[str, Callable[[Scene], Path]] = {
    "part-of-one-range-file": lambda s: s.target / "small.txt.asyncart-part",
    "part-of-multi-chunk-file": lambda s: s.target / "data" / "big.bin.asyncart-part",
    "journal": lambda s: s.target / "small.txt.asyncart-journal",
    "journal-of-multi-chunk-file": lambda s: s.target / "data" / "big.bin.asyncart-journal",
    "lock": lambda s: s.target.parent / "target.asyncart-lock",
}
KINDS = ["dangling-symlink", "symlink-to-existing", "hard-link-to-existing", "fifo"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(SIDE_NAMES))
def test_a_planted_side_file_is_refused_and_never_written_through(
    hostile: HostileServer, scene: Scene, name: str, kind: str
) -> None:
    planted = SIDE_NAMES[name](scene)
    plant(kind, planted, scene)
    before, planted_before = scene.outside_state(), state(planted)

    with pytest.raises(ConfigError) as info:
        asyncart.Api(url=hostile.url).artifact(REF).download(scene.target)

    assert str(planted) in str(info.value), str(info.value)
    assert scene.outside_state() == before  # the outside file untouched, nothing created
    assert state(planted) == planted_before  # refused, not removed either
    assert not (scene.target / "small.txt").is_symlink()


@pytest.mark.parametrize("kind", ["dangling-symlink", "symlink-to-existing"])
def test_a_final_path_that_is_a_symlink_out_is_refused(
    hostile: HostileServer, scene: Scene, kind: str
) -> None:
    plant(kind, scene.target / "small.txt", scene)
    before = scene.outside_state()

    with pytest.raises(ConfigError, match="outside"):
        asyncart.Api(url=hostile.url).artifact(REF).download(scene.target)

    assert scene.outside_state() == before


def test_a_final_path_that_is_a_symlink_inside_is_replaced_by_the_file(
    hostile: HostileServer, scene: Scene
) -> None:
    mine = scene.target / "mine.txt"
    mine.write_bytes(b"the user's own file\n")
    (scene.target / "small.txt").symlink_to(mine)

    asyncart.Api(url=hostile.url).artifact(REF).download(scene.target)

    assert not (scene.target / "small.txt").is_symlink()
    assert (scene.target / "small.txt").read_bytes() == CONTENT["small.txt"]
    assert mine.read_bytes() == b"the user's own file\n"


def test_cli_pull_with_a_planted_part_symlink_is_one_error_line(
    hostile: HostileServer, scene: Scene
) -> None:
    plant("dangling-symlink", scene.target / "small.txt.asyncart-part", scene)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "asyncart",
            "pull",
            REF,
            "-o",
            str(scene.target),
            "--url",
            hostile.url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("asyncart: error: ") and "symbolic link" in proc.stderr
    assert not scene.absent.exists()


# -- references ---------------------------------------------------------------------------

REF_SIZE = 4096


def _reference_to(
    served: Served, uri: str, size: int = REF_SIZE, data: bytes | None = None
) -> None:
    digest = blake3_hex(data if data is not None else bytes(size))
    served.entries().append({"path": "ref.bin", "size": size, "digest": digest, "ref": uri})
    served.entries().sort(key=lambda e: e["path"])


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "fifo")
    return (tmp / "fifo").as_uri()


def _device_link(tmp: Path) -> str:
    (tmp / "zero-link").symlink_to("/dev/zero")
    return (tmp / "zero-link").as_uri()


def _other_size(tmp: Path) -> str:
    (tmp / "short.bin").write_bytes(bytes(REF_SIZE - 1))
    return (tmp / "short.bin").as_uri()


def _longer(tmp: Path) -> str:
    (tmp / "long.bin").write_bytes(bytes(REF_SIZE * 4))
    return (tmp / "long.bin").as_uri()


def _other_bytes(tmp: Path) -> str:
    (tmp / "other.bin").write_bytes(b"\1" * REF_SIZE)
    return (tmp / "other.bin").as_uri()


REFERENCE_LIES: list[tuple[str, Callable[[Path], str], type[AsyncartError], str]] = [
    ("dev-zero", lambda _: "file:///dev/zero", ConfigError, "not a regular file"),
    ("dev-urandom", lambda _: "file:///dev/urandom", ConfigError, "not a regular file"),
    ("fifo", _fifo, ConfigError, "not a regular file"),
    ("directory", lambda tmp: tmp.as_uri(), ConfigError, "not a regular file"),
    ("symlink-to-a-device", _device_link, ConfigError, "not a regular file"),
    ("shorter-file", _other_size, IntegrityError, "4095 bytes"),
    ("longer-file", _longer, IntegrityError, "16384 bytes"),
    ("other-bytes", _other_bytes, IntegrityError, "changed since it was logged"),
    ("other-host", lambda _: "file://elsewhere/etc/passwd", ConfigError, "host"),
]


@pytest.mark.parametrize(
    ("case", "uri", "error", "fragment"), REFERENCE_LIES, ids=[c[0] for c in REFERENCE_LIES]
)
def test_a_reference_must_be_a_regular_file_of_the_recorded_bytes(
    hostile: HostileServer,
    scene: Scene,
    tmp_path: Path,
    case: str,
    uri: Callable[[Path], str],
    error: type[AsyncartError],
    fragment: str,
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    _reference_to(hostile.served, uri(sources))

    with pytest.raises(error) as info:
        asyncart.Api(url=hostile.url).artifact(REF).download(scene.target)

    assert fragment in str(info.value), str(info.value)
    leftovers = sorted(p.name for p in scene.target.iterdir() if p.name.startswith("ref.bin"))
    assert leftovers == []  # no partial file, under any name


def test_a_good_reference_is_copied(hostile: HostileServer, scene: Scene, tmp_path: Path) -> None:
    source = tmp_path / "good.bin"
    source.write_bytes(b"\7" * REF_SIZE)
    _reference_to(hostile.served, source.as_uri(), data=source.read_bytes())

    asyncart.Api(url=hostile.url).artifact(REF).download(scene.target)

    assert (scene.target / "ref.bin").read_bytes() == source.read_bytes()
    assert not (scene.target / "ref.bin.asyncart-part").exists()
