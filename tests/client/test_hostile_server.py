"""A hostile server cannot hurt a client: whatever it answers, a pull fails cleanly or is right.

Every test pulls ``project/name:v0`` from :mod:`tests.support.hostile_server`
(real HTTP on 127.0.0.1) told to lie about one thing: entry paths, range bytes,
range lengths, chunk locations, file sizes or digests. Each lie must end in one
asyncart error (no Python traceback from the CLI), and afterwards:

* nothing was written outside the target directory (the whole test directory
  outside it, with a sentinel tree beside the target, is byte-for-byte and
  mtime-for-mtime unchanged, and so is the parent directory's listing);
* every file under a final name in the target holds exactly the bytes the
  manifest's digest names (only part files and journals, under their reserved
  names, may hold anything else);
* the same target then pulls correctly from an honest server (leftovers of the
  hostile pull do not poison the next one).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart import aio
from asyncart.core.paths import RESERVED_SUFFIXES, normalize_entry_path
from asyncart.errors import (
    AsyncartError,
    ChunkMissing,
    ConfigError,
    IntegrityError,
    ProtocolError,
    RetriesExhausted,
    ServerError,
)
from tests.support.hostile_paths import (
    HOSTILE_PATHS,
    ODD_BUT_SAFE_PATHS,
    PROBE_DIR,
    hostile_ids,
)
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

    def listing(self) -> list[str]:
        """The names in the target's parent directory."""
        return sorted(os.listdir(self.target.parent))


@pytest.fixture
def arena(tmp_path: Path) -> Arena:
    """A target ``arena/lvl1/lvl2/target`` (absent), sentinels at every level around it."""
    lvl2 = tmp_path / "arena" / "lvl1" / "lvl2"
    (lvl2 / "sentinel" / "sub").mkdir(parents=True)
    (lvl2 / "sentinel" / "keep.txt").write_bytes(b"sentinel beside the target\n")
    (lvl2 / "sentinel" / "sub" / "deep.bin").write_bytes(bytes(range(256)))
    (lvl2 / "sentinel" / "x").write_bytes(b"named like an escape's target\n")
    (tmp_path / "arena" / "lvl1" / "level1.txt").write_bytes(b"one level up\n")
    (tmp_path / "arena" / "top.txt").write_bytes(b"the top of the arena\n")
    excluded = (lvl2 / "target", tmp_path / "cache", tmp_path / "xdg-cache")
    return Arena(tmp_path, lvl2 / "target", excluded)


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
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


def cli_error(server: HostileServer, target: Path) -> str:
    """Pull with the CLI; return its one error line (exit 1, no traceback)."""
    proc = run_cli_pull(server, target)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("asyncart: error: "), lines[0]
    return lines[0]


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


@pytest.fixture(autouse=True)
def no_probe_dir() -> None:
    """Absolute hostile names point into PROBE_DIR; it must not exist to begin with."""
    assert not PROBE_DIR.exists(), f"{PROBE_DIR} exists; remove it before running these tests"


# -- sanity: the honest server serves a correct pull --------------------------------------


def test_the_honest_server_serves_a_correct_pull(hostile: HostileServer, arena: Arena) -> None:
    before, listing = arena.snapshot(), arena.listing()
    asyncart.Api(url=hostile.url).artifact(REF).download(arena.target)
    for path, data in CONTENT.items():
        assert (arena.target / path).read_bytes() == data
    assert_untouched(arena, before, listing)
    assert ("POST", "/v1/chunks/locate") in hostile.served.requests


# -- (a) hostile entry paths in the manifest -----------------------------------------------


def _path_fragment(path: str) -> str:
    """What an error about ``path`` must show of it: its repr (the start, for long ones)."""
    return repr(path)[:40]


@pytest.mark.parametrize(("case", "path"), HOSTILE_PATHS, ids=hostile_ids())
def test_hostile_entry_path_is_refused_and_nothing_leaves_the_target(
    hostile: HostileServer, arena: Arena, case: str, path: str
) -> None:
    hostile.served.entry("small.txt")["path"] = path
    assert hostile.served.digest() != Served.honest(FILES).digest()  # the digest follows the lie
    before, listing = arena.snapshot(), arena.listing()

    exc = pull_api(hostile, arena.target)

    assert isinstance(exc, ConfigError), repr(exc)
    assert _path_fragment(path) in str(exc), str(exc)
    assert "manifest" in str(exc)
    assert_untouched(arena, before, listing)
    assert not arena.target.exists()  # refused before anything was written


@pytest.mark.parametrize(
    "case", ["dotdot-to-sentinel", "dotdot-deep", "abs-file", "backslash-dotdot", "drive-relative"]
)
def test_cli_pull_of_a_hostile_entry_path_is_one_error_line(
    hostile: HostileServer, arena: Arena, case: str
) -> None:
    path = dict(HOSTILE_PATHS)[case]
    hostile.served.entry("small.txt")["path"] = path
    before, listing = arena.snapshot(), arena.listing()

    line = cli_error(hostile, arena.target)

    assert "manifest" in line
    assert_untouched(arena, before, listing)
    assert not arena.target.exists()


@pytest.mark.parametrize(
    ("case", "path", "normalised"), ODD_BUT_SAFE_PATHS, ids=[c for c, _, _ in ODD_BUT_SAFE_PATHS]
)
def test_odd_but_safe_entry_paths_land_inside_the_target(
    hostile: HostileServer, arena: Arena, case: str, path: str, normalised: str
) -> None:
    hostile.served.entry("small.txt")["path"] = path
    before, listing = arena.snapshot(), arena.listing()

    asyncart.Api(url=hostile.url).artifact(REF).download(arena.target)

    landed = arena.target.joinpath(*normalised.split("/"))
    assert landed.read_bytes() == CONTENT["small.txt"]
    assert arena.target in landed.resolve().parents
    assert_untouched(arena, before, listing)


# -- lies in the manifest as a whole ------------------------------------------------------


def _set(obj: dict[str, Any], **values: Any) -> None:
    obj.update(values)


def _add_entry(served: Served, **entry: Any) -> None:
    served.entries().append(entry)


MANIFEST_LIES: list[tuple[str, Lie, type[AsyncartError], str]] = [
    (
        "version-info-only-unknown-fields",
        lambda s: setattr(s, "version_answer", {"surprise": 1}),
        ProtocolError,
        "malformed version",
    ),
    (
        "version-info-not-an-object",
        lambda s: setattr(s, "version_answer", ["v0"]),
        ProtocolError,
        "malformed version",
    ),
    (
        "digest-mismatch",
        lambda s: setattr(s, "manifest_digest", "0" * 64),
        IntegrityError,
        "does not match",
    ),
    (
        "version-header-not-json",
        lambda s: setattr(s, "version_header", "not json {"),
        ProtocolError,
        "X-Asyncart-Version",
    ),
    (
        "version-header-not-object",
        lambda s: setattr(s, "version_header", "[1, 2]"),
        ProtocolError,
        "X-Asyncart-Version",
    ),
    (
        "version-header-missing-digest",
        lambda s: setattr(s, "version_header", '{"index": 0}'),
        ProtocolError,
        "missing required field `digest`",
    ),
    (
        "manifest-not-gzip-json",
        lambda s: setattr(s, "manifest_blob", b"\x1f\x8b\x08\x00garbage"),
        ConfigError,
        "could not be decoded",
    ),
    (
        "manifest-not-an-object",
        lambda s: setattr(s, "manifest_blob", b"[1, 2, 3]"),
        ConfigError,
        "entries",
    ),
    (
        "entries-not-a-list",
        lambda s: _set(s.manifest_doc, entries={"small.txt": 1}),
        ConfigError,
        "entries",
    ),
    (
        "entry-not-an-object",
        lambda s: s.entries().append("small.txt"),
        ConfigError,
        "malformed",
    ),
    (
        "path-not-a-string",
        lambda s: _set(s.entry("small.txt"), path=["..", "x"]),
        ConfigError,
        "must be a string",
    ),
    (
        "same-path-twice",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt")),
        ConfigError,
        "collide",
    ),
    (
        "same-path-after-normalising",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="./small.txt")),
        ConfigError,
        "collide",
    ),
    (
        "file-and-directory",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt/inner")),
        ConfigError,
        "collide",
    ),
    (
        "directory-named-like-a-part-file",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt.asyncart-part/x")),
        ConfigError,
        "asyncart-part",
    ),
    (
        "directory-named-like-a-journal",
        lambda s: _add_entry(s, **dict(s.entry("twin.txt"), path="small.txt.asyncart-journal/x")),
        ConfigError,
        "asyncart-journal",
    ),
    # (f) sizes that do not match the chunks
    (
        "size-not-the-sum-of-chunks",
        lambda s: _set(s.entry("data/big.bin"), size=3201),
        ConfigError,
        "add up",
    ),
    (
        "size-of-one-chunk-file-too-large",
        lambda s: _set(s.entry("small.txt"), size=1 << 40),
        ConfigError,
        "small.txt",
    ),
    (
        "size-negative",
        lambda s: _set(s.entry("small.txt"), size=-1),
        ConfigError,
        "-1",
    ),
    (
        "size-absurd",
        lambda s: _set(s.entry("small.txt"), size=1 << 70),
        ConfigError,
        "small.txt",
    ),
    (
        "size-not-an-integer",
        lambda s: _set(s.entry("small.txt"), size="24"),
        ConfigError,
        "24",
    ),
    (
        "chunk-size-zero",
        lambda s: _set(s.entry("data/big.bin"), chunks=[[s.chunk_hashes("small.txt")[0], 0]]),
        ConfigError,
        "data/big.bin",
    ),
]


@pytest.mark.parametrize(
    ("case", "lie", "error", "fragment"), MANIFEST_LIES, ids=[c[0] for c in MANIFEST_LIES]
)
def test_manifest_lies_are_refused_before_any_byte_is_written(
    hostile: HostileServer,
    arena: Arena,
    case: str,
    lie: Lie,
    error: type[AsyncartError],
    fragment: str,
) -> None:
    lie(hostile.served)
    before, listing = arena.snapshot(), arena.listing()

    exc = pull_api(hostile, arena.target)

    assert isinstance(exc, error), repr(exc)
    assert fragment in str(exc), str(exc)
    assert_untouched(arena, before, listing)
    assert not arena.target.exists()
    assert not any(p.startswith("/v1/packs/") for _, p in hostile.served.requests)


# -- lies in the ranges and locations --------------------------------------------------


def _range_lie(kind: str) -> Lie:
    return lambda s: setattr(s, "range_lie", kind)


def _move_location(
    served: Served, path: str, index: int, lie: str | None = None, **change: Any
) -> None:
    """Change the location of the ``index``-th chunk of ``path`` (pack, offset or length),
    and answer ranges with ``lie`` if given."""
    served.range_lie = lie
    h = served.chunk_hashes(path)[index]
    pack, offset, length = served.locations[h]
    fields = {"pack": pack, "offset": offset, "length": length, **change}
    served.locations[h] = [fields["pack"], fields["offset"], fields["length"]]


def _locate_like(served: Served, path: str, like: str) -> None:
    """Say ``path``'s only chunk lies where ``like``'s only chunk lies."""
    served.locations[served.chunk_hashes(path)[0]] = list(
        served.locations[served.chunk_hashes(like)[0]]
    )


def _inside_first_chunk(served: Served) -> None:
    """Put big.bin's third chunk (700 B) inside its first (1000 B) in the same pack."""
    first = served.locations[served.chunk_hashes("data/big.bin")[0]]
    _move_location(served, "data/big.bin", 2, pack=first[0], offset=first[1] + 100)


def _short_one_chunk_file(served: Served) -> None:
    """small.txt is one byte shorter than its chunk; the locations agree (a consistent liar)."""
    e = served.entry("small.txt")
    e["size"] -= 1
    served.locations[e["digest"]][2] -= 1


def _shifted_chunk_sizes(served: Served) -> None:
    """big.bin's chunk sizes shifted by one byte (the sum kept), locations to match."""
    e = served.entry("data/big.bin")
    e["chunks"][0][1] -= 1
    e["chunks"][1][1] += 1
    _move_location(served, "data/big.bin", 0, length=e["chunks"][0][1])
    _move_location(served, "data/big.bin", 1, offset=999, length=e["chunks"][1][1])


def _one_chunk_digest_lie(served: Served) -> None:
    """small.txt claims other bytes; the store 'finds' that chunk where small.txt's bytes are."""
    e = served.entry("small.txt")
    real = served.locations[e["digest"]]
    e["digest"] = blake3_hex(b"something else entirely\n")
    served.locations[e["digest"]] = list(real)


def _locate_answer(answer: Any) -> Lie:
    return lambda s: setattr(s, "locate_answer", answer)


def _all_locations(value: Callable[[list[Any]], Any]) -> Lie:
    def lie(served: Served) -> None:
        for h, loc in list(served.locations.items()):
            served.locations[h] = value(loc)

    return lie


DOWNLOAD_LIES: list[tuple[str, Lie, type[AsyncartError], str]] = [
    # (b) wrong bytes
    ("wrong-bytes", _range_lie("wrong_bytes"), IntegrityError, "arrived corrupted"),
    # (c) short ranges
    ("short-range", _range_lie("short"), ProtocolError, "expected 206"),
    ("truncated-range", _range_lie("truncated"), ProtocolError, "broke"),
    # (d) bytes beyond the range
    ("extra-bytes", _range_lie("extra"), ProtocolError, "expected 206"),
    ("extra-bytes-chunked", _range_lie("chunked_extra"), ProtocolError, "expected 206"),
    ("whole-pack-for-a-range", _range_lie("whole_pack"), ProtocolError, "status 200"),
    # (e) absurd chunk locations
    (
        "offset-beyond-the-pack",
        lambda s: _move_location(s, "data/big.bin", 1, offset=1 << 40),
        ServerError,
        "416",
    ),
    (
        "offset-beyond-the-pack-served-anyway",
        lambda s: _move_location(s, "data/big.bin", 1, offset=1 << 40, lie="any_range"),
        IntegrityError,
        "arrived corrupted",
    ),
    (
        "offset-negative",
        lambda s: _move_location(s, "data/big.bin", 1, offset=-500),
        ProtocolError,
        "location",
    ),
    (
        "offset-absurd",
        lambda s: _move_location(s, "data/big.bin", 1, offset=1 << 80),
        ProtocolError,
        "location",
    ),
    (
        "length-not-the-chunk-size",
        lambda s: _move_location(s, "data/big.bin", 1, length=1),
        ProtocolError,
        "the manifest says it has 1500 bytes",
    ),
    (
        "length-absurd",
        lambda s: _move_location(s, "data/big.bin", 1, length=1 << 62),
        ProtocolError,
        "location",
    ),
    (
        "pack-id-a-path",
        lambda s: _move_location(s, "data/big.bin", 1, pack="../../../etc/passwd"),
        ProtocolError,
        "location",
    ),
    (
        "pack-id-dotdot",
        lambda s: _move_location(s, "data/big.bin", 1, pack=".."),
        ProtocolError,
        "location",
    ),
    (
        "offset-not-an-integer",
        lambda s: _move_location(s, "data/big.bin", 1, offset="0"),
        ProtocolError,
        "location",
    ),
    (
        "offset-a-boolean",
        lambda s: _move_location(s, "data/big.bin", 1, offset=True),
        ProtocolError,
        "location",
    ),
    (
        "location-not-a-list",
        _all_locations(lambda loc: {"pack": loc[0]}),
        ProtocolError,
        "location",
    ),
    (
        "location-too-short",
        _all_locations(lambda loc: loc[:2]),
        ProtocolError,
        "location",
    ),
    ("locations-not-an-object", _locate_answer({"locations": []}), ProtocolError, "locations"),
    ("locate-answer-empty", _locate_answer({"nothing": 1}), ProtocolError, "locations"),
    (
        "two-chunks-at-one-place",
        lambda s: _locate_like(s, "twin.txt", "small.txt"),
        ProtocolError,
        "overlap",
    ),
    ("chunk-inside-another", _inside_first_chunk, ProtocolError, "overlap"),
    (
        "chunk-not-held",
        lambda s: s.locations.pop(s.chunk_hashes("data/big.bin")[1]),
        ChunkMissing,
        "lacks",
    ),
    # (f) sizes and digests that do not match the chunks
    ("one-chunk-file-shorter-than-its-chunk", _short_one_chunk_file, IntegrityError, "corrupted"),
    ("chunk-sizes-shifted", _shifted_chunk_sizes, IntegrityError, "corrupted"),
    (
        "file-digest-lie",
        lambda s: _set(s.entry("data/big.bin"), digest=blake3_hex(b"not big.bin")),
        IntegrityError,
        "data/big.bin",
    ),
    ("one-chunk-file-digest-lie", _one_chunk_digest_lie, IntegrityError, "corrupted"),
]


@pytest.mark.parametrize(
    ("case", "lie", "error", "fragment"), DOWNLOAD_LIES, ids=[c[0] for c in DOWNLOAD_LIES]
)
def test_download_lies_fail_cleanly_and_leave_no_torn_file(
    hostile: HostileServer,
    arena: Arena,
    case: str,
    lie: Lie,
    error: type[AsyncartError],
    fragment: str,
) -> None:
    lie(hostile.served)
    told = hostile.served
    before, listing = arena.snapshot(), arena.listing()

    exc = pull_api(hostile, arena.target)

    assert isinstance(root_cause(exc), error), repr(exc)
    assert fragment in str(exc), str(exc)
    assert_untouched(arena, before, listing)
    assert_only_verified_files(arena.target, told)
    assert_honest_pull_works(hostile, arena.target)
    assert_untouched(arena, before, listing)


@pytest.mark.parametrize(
    "case", ["wrong-bytes", "truncated-range", "two-chunks-at-one-place", "file-digest-lie"]
)
def test_cli_pull_of_a_lie_is_one_error_line(
    hostile: HostileServer, arena: Arena, case: str
) -> None:
    _, lie, _, fragment = next(c for c in DOWNLOAD_LIES if c[0] == case)
    lie(hostile.served)
    told = hostile.served
    before, listing = arena.snapshot(), arena.listing()

    line = cli_error(hostile, arena.target)

    assert fragment in line
    assert_untouched(arena, before, listing)
    assert_only_verified_files(arena.target, told)


async def test_async_api_pull_of_a_lie_fails_cleanly(hostile: HostileServer, arena: Arena) -> None:
    hostile.served.range_lie = "wrong_bytes"
    before, listing = arena.snapshot(), arena.listing()

    client: aio.Api[aio.Artifact] = aio.Api(url=hostile.url)
    async with client as api:
        artifact = await api.artifact(REF)
        with pytest.raises(IntegrityError, match="arrived corrupted"):
            await artifact.download(arena.target)

    assert_untouched(arena, before, listing)
    assert_only_verified_files(arena.target, hostile.served)
