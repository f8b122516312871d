"""The client trusts no field of a server's answer, and no answer's size (issue 15 items 3, 6).

Against :mod:`tests.support.hostile_server` (real HTTP on 127.0.0.1):

* every hostile value of every ``VersionInfo`` field (``tests/support/hostile_answers.py``)
  makes ``artifact.download()`` and ``asyncart pull NAME`` (both into the default root
  ``artifacts/<name>:v<index>``) fail with a ``ProtocolError`` naming the field, and
  nothing is written anywhere;
* hostile list answers fail the same way; a server that adds fields to every answer
  (and a ``next`` cursor to lists) works;
* every other answer record refuses its hostile values (parsed by ``answers.py``,
  the one place answers are parsed);
* endless bodies and compression bombs stop at their limit with a ``ProtocolError``
  naming it, with the pulling process's peak memory bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart.client import answers as A
from asyncart.errors import ProtocolError, RetriesExhausted, ServerError
from tests.support.hostile_answers import HONEST, RECORD_LIES, VERSION_LIES, with_field
from tests.support.hostile_paths import PROBE_DIR
from tests.support.hostile_server import (
    NAME,
    PROJECT,
    REF,
    HostileServer,
    Served,
    running_hostile_server,
    with_future_fields,
)

FILES = {"small.txt": [b"a small file, one chunk\n"], "data/b.bin": [b"x" * 900, b"y" * 700]}
CONTENT = {p: b"".join(c) for p, c in FILES.items()}
MiB = 1 << 20


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with running_hostile_server(Served.honest(FILES)) as server:
        yield server


def tree(base: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under ``base``: kind, and size and content for files."""
    out: dict[str, tuple[Any, ...]] = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir",)
        else:
            out[rel] = ("file", path.read_bytes())
    return out


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory three levels down, with files around it an escape could hit."""
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    (tmp_path / "x").write_bytes(b"where 0/../../../x leads\n")
    (tmp_path / "a" / "x").write_bytes(b"one level up\n")
    (work / "keep.txt").write_bytes(b"the user's own file\n")
    return work


def _names_field(message: str, field: str) -> bool:
    return f"`{field}`" in message or f"$.{field}" in message


def _lie_about_version(server: HostileServer, field: str, value: Any) -> None:
    honest = server.served.version_info()
    server.served.version_answer = with_field(honest, field, value)


def cli(server: HostileServer, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "asyncart", *args, "--url", server.url],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


# -- VersionInfo: every field, every hostile value -----------------------------------------


@pytest.mark.parametrize(("case", "field", "value"), VERSION_LIES, ids=[c[0] for c in VERSION_LIES])
def test_hostile_version_field_fails_download_into_the_default_root(
    hostile: HostileServer,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    field: str,
    value: Any,
) -> None:
    _lie_about_version(hostile, field, value)
    base = workdir.parents[2]
    before = tree(base)
    monkeypatch.chdir(workdir)

    with pytest.raises(ProtocolError) as info:
        asyncart.Api(url=hostile.url).artifact(REF).download()

    assert _names_field(str(info.value), field), str(info.value)
    assert "malformed version" in str(info.value)
    assert tree(base) == before  # not even ./artifacts was made
    assert not PROBE_DIR.exists()


def _cli_cases() -> list[tuple[str, str, Any]]:
    """The lies that aim at the file system through the default root (a path in a field it
    is built from), and the first lie about each of those fields: a subprocess per case is
    slow, and every lie about every field already runs through ``artifact.download()``
    above, on the same parsing code the CLI uses."""
    seen: set[str] = set()
    cases = []
    for case in VERSION_LIES:
        aims_at_paths = any(word in case[0] for word in ("path", "dotdot", "slash"))
        first = case[1] in ("index", "name", "version", "project") and case[1] not in seen
        if aims_at_paths or first:
            cases.append(case)
        seen.add(case[1])
    return cases


CLI_CASES = _cli_cases()


@pytest.mark.parametrize(("case", "field", "value"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_hostile_version_field_fails_cli_pull_into_the_default_root(
    hostile: HostileServer, workdir: Path, case: str, field: str, value: Any
) -> None:
    _lie_about_version(hostile, field, value)
    base = workdir.parents[2]
    before = tree(base)

    proc = cli(hostile, "pull", REF, cwd=workdir)

    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncart: error: "), proc.stderr
    assert _names_field(lines[0], field), lines[0]
    assert "\x1b" not in proc.stderr  # a server's escape sequences never reach the terminal
    assert tree(base) == before
    assert not PROBE_DIR.exists()


def test_honest_pull_into_the_default_root(
    hostile: HostileServer, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)
    path = asyncart.Api(url=hostile.url).artifact(REF).download()
    assert Path(path) == workdir / "artifacts" / f"{NAME}:v0"
    for rel, data in CONTENT.items():
        assert (workdir / path / rel).read_bytes() == data


def test_default_root_that_is_a_symlink_out_is_refused(
    hostile: HostileServer, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = workdir.parent / "elsewhere"
    outside.mkdir()
    (workdir / "artifacts").mkdir()
    (workdir / "artifacts" / f"{NAME}:v0").symlink_to(outside)
    monkeypatch.chdir(workdir)

    with pytest.raises(asyncart.ConfigError, match="leads out of"):
        asyncart.Api(url=hostile.url).artifact(REF).download()
    assert list(outside.iterdir()) == []


# -- lists, and a newer server ---------------------------------------------------------------


def test_a_server_that_adds_fields_to_every_answer_works(
    hostile: HostileServer, tmp_path: Path
) -> None:
    hostile.served.extra_fields = True
    api = asyncart.Api(url=hostile.url, project=PROJECT)

    api.artifact(REF).download(tmp_path / "out")

    for rel, data in CONTENT.items():
        assert (tmp_path / "out" / rel).read_bytes() == data
    assert [v.index for v in api.artifact_versions(NAME)] == [0]
    assert [c.name for c in api.artifact_collections()] == [NAME]
    assert api.projects() == [PROJECT]
    assert ("GET", f"/v1/projects/{PROJECT}/artifacts/{NAME}/versions") in hostile.served.requests


LIST_LIES: list[tuple[str, str, Any, str]] = [
    ("versions-name-path", "versions", {"versions": [{"name": "../x"}]}, "versions"),
    ("versions-not-a-list", "versions", {"versions": {"v0": 1}}, "versions"),
    ("versions-missing", "versions", {"next": "x"}, "versions"),
    ("collections-name-path", "collections", {"collections": [{"name": "../x"}]}, "collections"),
    ("projects-path", "projects", {"projects": ["../x"]}, "projects"),
    ("projects-not-a-list", "projects", {"projects": "p"}, "projects"),
]


@pytest.mark.parametrize(
    ("case", "route", "answer", "field"), LIST_LIES, ids=[c[0] for c in LIST_LIES]
)
def test_hostile_list_answers_are_refused(
    hostile: HostileServer, case: str, route: str, answer: Any, field: str
) -> None:
    if route == "versions" and answer.get("versions") == [{"name": "../x"}]:
        answer = {"versions": [with_field(hostile.served.version_info(), "name", "../x")]}
    if route == "collections":
        answer = {"collections": [with_field(HONEST["collection"], "name", "../x")]}
    hostile.served.answers[route] = answer
    api = asyncart.Api(url=hostile.url, project=PROJECT)
    call = {
        "versions": lambda: api.artifact_versions(NAME),
        "collections": api.artifact_collections,
        "projects": api.projects,
    }[route]

    with pytest.raises(ProtocolError) as info:
        call()

    assert _names_field(str(info.value), field) or f"field `{field}" in str(info.value)


# -- every other answer record -----------------------------------------------------------

RECORDS: dict[str, type[Any]] = {
    "collection": A.CollectionAnswer,
    "run": A.RunAnswer,
    "pending": A.PendingAnswer,
    "missing": A.MissingAnswer,
    "locate": A.LocateAnswer,
    "receipt": A.PackReceipt,
    "pack_urls": A.PackUrls,
    "direct_offer": A.DirectUploadOffer,
    "version_header": A.VersionHeader,
    "projects": A.ProjectList,
}


@pytest.mark.parametrize("record", sorted(RECORDS))
def test_honest_answers_parse_with_and_without_fields_of_a_newer_server(record: str) -> None:
    for answer in (HONEST[record], with_future_fields(HONEST[record])):
        A.decode(json.dumps(answer).encode(), RECORDS[record], record, "server S")


@pytest.mark.parametrize(
    ("case", "record", "field", "value"), RECORD_LIES, ids=[c[0] for c in RECORD_LIES]
)
def test_hostile_answer_fields_are_refused_naming_the_field(
    case: str, record: str, field: str, value: Any
) -> None:
    raw = json.dumps(with_field(HONEST[record], field, value)).encode()
    with pytest.raises(A.MalformedAnswer) as info:
        A.decode(raw, RECORDS[record], record, "server S")
    assert _names_field(str(info.value), field), str(info.value)
    assert str(info.value).startswith(f"server S answered with a malformed {record}")


def test_error_bodies_are_cut_and_stripped_of_control_characters() -> None:
    raw = json.dumps({"code": "internal", "message": "\x1b[2J" + "m" * 5000}).encode()
    body = A.error_body(raw)
    assert body is not None
    shown = A.printable(body.message)
    assert "\x1b" not in shown and len(shown) <= A.MAX_ERROR_MESSAGE + 10
    assert A.error_body(b'{"code": "../x", "message": "m"}') is None
    assert A.error_body(b"<html>proxy</html>") is None


# -- sizes ------------------------------------------------------------------------------


def _pull_peak_rss(server: HostileServer, target: Path) -> tuple[int, str]:
    """``asyncart pull`` as a child process: (its peak RSS in bytes, its stderr)."""
    env = dict(os.environ, ASYNCART_MAX_ATTEMPTS="1")
    child = subprocess.Popen(
        [sys.executable, "-m", "asyncart", "pull", REF, "-o", str(target), "--url", server.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stderr is not None
    with child.stderr:
        err = child.stderr.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss * 1024, err  # Linux: KiB


BODY_LIES = [
    ("endless_json", "64 MiB"),
    ("gzip_bomb_json", "64 MiB"),
    ("gzip_bomb_manifest", "512 MiB"),
]


@pytest.mark.parametrize(("lie", "limit"), BODY_LIES)
def test_endless_and_bomb_answers_stop_at_their_limit_in_bounded_memory(
    hostile: HostileServer, tmp_path: Path, lie: str, limit: str
) -> None:
    baseline, err = _pull_peak_rss(hostile, tmp_path / "honest")
    assert err == "", err
    hostile.served.body_lie = lie

    peak, err = _pull_peak_rss(hostile, tmp_path / "hostile")

    assert err.startswith("asyncart: error: ") and limit in err, err
    assert len(err.splitlines()) == 1, err
    assert peak - baseline < 300 * MiB, (peak, baseline)
    assert not (tmp_path / "hostile").exists()


@pytest.mark.parametrize(
    ("lie", "limit"), [("endless_json", "64 MiB"), ("gzip_bomb_json", "64 MiB")]
)
def test_api_pull_of_an_oversized_answer_is_a_protocol_error(
    hostile: HostileServer, lie: str, limit: str
) -> None:
    hostile.served.body_lie = lie
    with pytest.raises(ProtocolError, match=limit):
        asyncart.Api(url=hostile.url).artifact(REF)
    assert (
        hostile.served.requests.count(
            ("GET", f"/v1/projects/{PROJECT}/artifacts/{NAME}/versions/v0")
        )
        == 1
    )  # not retried


def test_an_endless_manifest_stops_at_its_limit(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.served.body_lie = "endless_manifest"
    _, err = _pull_peak_rss(hostile, tmp_path / "out")
    assert err.startswith("asyncart: error: ") and "512 MiB" in err, err
    assert not (tmp_path / "out").exists()


def test_an_endless_error_body_is_not_read_to_its_end(
    hostile: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASYNCART_MAX_ATTEMPTS", "1")
    hostile.served.body_lie = "endless_error"
    with pytest.raises((ServerError, RetriesExhausted)) as info:
        asyncart.Api(url=hostile.url).artifact(REF)
    assert "500" in str(info.value) and len(str(info.value)) < 1000, str(info.value)[:300]
