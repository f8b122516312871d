"""The ``asyncart`` console commands, run as real subprocesses.

Each command runs as ``python -m asyncart ...`` with this test's environment
(ASYNCART_DIR, fast retries) and cwd, against the embedded store and against a
server subprocess (``--url``).
"""

from __future__ import annotations

import json
import random
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.live_server import LiveServer, live_server

NAME = "bike dataset"


def ok(*args: str) -> str:
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def one_error_line(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """A failed command: non-zero exit, exactly one stderr line, prefixed, naming ``fragments``."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("asyncart: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(params=["embedded", "server"])
def url(request: pytest.FixtureRequest) -> list[str]:
    """Extra arguments naming the store: none (embedded) or ``--url`` of a live server."""
    if request.param == "embedded":
        return []
    return ["--url", request.getfixturevalue("server").url]


@pytest.fixture
def files() -> dict[str, bytes]:
    """``model.bin`` and a directory ``data/`` (with a subdirectory) in the cwd.

    Pushed as ``model.bin data``, the directory's files land at the artifact root.
    """
    rnd = random.Random(3)
    content = {
        "model.bin": rnd.randbytes(2_500_000),
        "data/train.csv": b"x,y\n" + b"1,2\n" * 5000,
        "data/extra/notes.txt": b"unique notes\n",
    }
    for rel, data in content.items():
        Path(rel).parent.mkdir(parents=True, exist_ok=True)
        Path(rel).write_bytes(data)
    return content


def pulled_layout(files: dict[str, bytes]) -> dict[str, bytes]:
    return {rel.removeprefix("data/"): data for rel, data in files.items()}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def push(url: list[str], *extra: str) -> Any:
    return ok_json("push", "model.bin", "data", "--name", NAME, "--type", "dataset", *url, *extra)


# -- help ---------------------------------------------------------------------------------


def test_help_and_version() -> None:
    out = ok("--help")
    for command in ("push", "pull", "ls", "verify", "server"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command
    assert "0.1.0" in ok("--version")


# -- push / pull / ls / verify, on both stores ---------------------------------------------


def test_push_pull_verify(url: list[str], files: dict[str, bytes]) -> None:
    size = sum(len(d) for d in files.values())
    first = push(url, "--alias", "best")
    assert first["name"] == NAME
    assert first["version"] == "v0"
    assert re.fullmatch(r"[0-9a-f]{64}", first["digest"])
    assert first["size"] == size
    assert first["files"] == 3
    assert sorted(first["aliases"]) == ["best", "latest"]
    assert first["created"] is True
    assert first["bytes_uploaded"] == size  # every byte is new to the store
    assert (first["bytes_read"], first["files_cached"]) == (size, 0)  # no hash cache hit yet

    again = push(url)  # unchanged: the same version, nothing sent
    assert again["version"] == "v0"
    assert again["digest"] == first["digest"]
    assert again["created"] is False
    assert again["bytes_uploaded"] == 0

    pulled = ok_json("pull", f"{NAME}:v0", "-o", "out", *url)
    assert pulled["version"] == "v0"
    assert pulled["digest"] == first["digest"]
    assert pulled["files"] == 3
    assert Path(pulled["path"]) == Path("out").absolute()
    assert pulled["bytes_downloaded"] == size
    assert tree(Path("out")) == pulled_layout(files)

    repulled = ok_json("pull", f"{NAME}:v0", "-o", "out", *url)  # files already there
    assert repulled["bytes_downloaded"] == 0
    assert repulled["files_skipped"] == 3
    assert tree(Path("out")) == pulled_layout(files)

    assert ok("verify", f"{NAME}:v0", "-o", "out", *url).strip() == f"default/{NAME}:v0: verified"
    (Path("out") / "train.csv").write_bytes(b"tampered")
    one_error_line(run_cli("verify", f"{NAME}:v0", "-o", "out", *url), "train.csv")


def test_verify_reports_missing_and_extra_files_and_how_to_repair(files: dict[str, bytes]) -> None:
    """Local logic (the embedded store is enough): a stray file fails verify unless
    --allow-extra; a missing file fails it always, and the pull it suggests repairs it."""
    push([])
    ok("pull", f"{NAME}:v0", "-o", "out")
    (Path("out") / "stray.tmp").write_bytes(b"not in the version")
    (Path("out") / "extra" / "notes.txt").unlink()
    verify = ("verify", f"{NAME}:v0", "-o", "out")
    line = one_error_line(
        run_cli(*verify), "1 missing file: extra/notes.txt", "1 extra file: stray.tmp"
    )
    assert f"to repair: asyncart pull '{NAME}:v0' -o out" in line and "--allow-extra" in line
    allowed = one_error_line(run_cli(*verify, "--allow-extra"), "extra/notes.txt")
    assert "stray.tmp" not in allowed
    failed = run_cli(*verify, "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout) == {
        "name": f"default/{NAME}:v0",
        "verified": False,
        "missing": ["extra/notes.txt"],
        "changed": [],
        "extra": ["stray.tmp"],
    }
    ok("pull", f"{NAME}:v0", "-o", "out")  # the repair it suggested
    assert ok(*verify, "--allow-extra").strip() == f"default/{NAME}:v0: verified"
    one_error_line(run_cli(*verify), "1 extra file: stray.tmp", "--allow-extra")
    assert "to repair" not in run_cli(*verify).stderr  # a pull does not remove extra files
    (Path("out") / "stray.tmp").unlink()
    assert ok(*verify).strip() == f"default/{NAME}:v0: verified"


def test_ls_and_pull_latest(url: list[str], files: dict[str, bytes]) -> None:
    push(url, "--alias", "best")
    Path("model.bin").write_bytes(b"retrained")
    second = push(url, "--alias", "candidate")
    assert second["version"] == "v1"
    assert second["created"] is True
    assert second["bytes_uploaded"] == len(b"retrained")  # the data/ files were already stored

    collections = ok("ls", *url).splitlines()
    assert len(collections) == 1
    assert collections[0].startswith(f"{NAME}\tdataset\t2 versions\t")

    versions = [line.split("\t") for line in ok("ls", NAME, *url).splitlines()]
    assert [(v[0], sorted(v[1].split(","))) for v in versions] == [
        ("v0", ["best"]),
        ("v1", ["candidate", "latest"]),
    ]
    assert [v[3] for v in versions] == ["3 files", "3 files"]

    # A bare name is :latest; without -o it lands in ./artifacts/<name>:<version>.
    assert f"default/{NAME}:v1 -> " in ok("pull", NAME, *url)
    expected = {**pulled_layout(files), "model.bin": b"retrained"}
    assert tree(Path("artifacts") / f"{NAME}:v1") == expected


def test_artifact(url: list[str]) -> None:
    """Mirrors test_artifact_cli.py::test_artifact (``wandb artifact put/ls/get``, both
    stores) as ``asyncart push/ls/pull``: the project is ``-p`` (a name holds no ``/``);
    the version, its size, and the default download root ``./artifacts/<name>:<version>``
    are printed."""
    Path("artifact.txt").write_text("My Artifact")
    pushed = ok("push", "artifact.txt", "-n", "simple", "-t", "dataset", "-p", "test", *url)
    assert pushed.startswith("test/simple:v0 created (11 B, 1 file")
    assert ok("ls", "-p", "test", *url).startswith("simple\tdataset\t1 version\t")
    version = ok("ls", "simple", "-p", "test", *url).split("\t")
    assert version[:4] == ["v0", "latest", "11 B", "1 file"]
    root = Path("artifacts", "simple:v0").absolute()
    assert ok("pull", "test/simple:v0", *url).startswith(f"test/simple:v0 -> {root} (11 B")
    assert (root / "artifact.txt").read_text() == "My Artifact"


def test_ls_by_type(files: dict[str, bytes]) -> None:
    """``ls --type``: only the collections of that type; with NAME, NAME must be of it."""
    push([])
    ok_json("push", "model.bin", "--name", "bike model", "--type", "model")
    assert [c["name"] for c in ok_json("ls", "--type", "model")] == ["bike model"]
    lines = ok("ls", "--type", "dataset").splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[NAME, "dataset"]]
    none = ok("ls", "--type", "report").strip()
    assert none == "no artifacts of type 'report' in project 'default'"
    assert ok("ls", NAME, "--type", "dataset").startswith("v0\t")
    one_error_line(run_cli("ls", NAME, "--type", "model"), NAME, "'dataset'")


# -- errors: one line on stderr, non-zero exit ---------------------------------------------


def test_unknown_artifact_and_unknown_version(url: list[str], files: dict[str, bytes]) -> None:
    push(url)
    line = one_error_line(run_cli("pull", "no such thing", *url), "no such thing")
    assert NAME in line  # lists what exists
    one_error_line(run_cli("pull", f"{NAME}:v7", *url), "v7")
    one_error_line(run_cli("ls", "no such thing", *url), "no such thing")
    assert not Path("artifacts").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["pull", "a:b:c"], "a:b:c"),
        (["push", "model.bin", "--name", "a:b", "--type", "dataset"], "a:b"),
        (["push", "missing.bin", "--name", NAME, "--type", "dataset"], "missing.bin"),
    ],
    ids=["invalid-reference", "invalid-name", "missing-file"],
)
def test_bad_input(files: dict[str, bytes], args: list[str], fragment: str) -> None:
    """Caught before any store is touched, so checked once, on the embedded store."""
    one_error_line(run_cli(*args), fragment)


def test_pull_into_a_path_that_is_a_file(files: dict[str, bytes]) -> None:
    push([])
    Path("taken").write_bytes(b"not a directory")
    one_error_line(run_cli("pull", f"{NAME}:v0", "-o", "taken"), "taken")
    assert Path("taken").read_bytes() == b"not a directory"


RETRY_LINE = re.compile(r"asyncart: retrying in \d+(?:\.\d)? s \((\d+)/10\): (.+)")


def test_unreachable_server_is_named_after_a_short_retry_announced_line_by_line() -> None:
    """A closed port that never answered: a few quick retries (ASYNCART_CONNECT_PATIENCE,
    2 s in the CLI), far fewer than the 10 attempts a server that answered once gets."""
    url = closed_port_url()
    proc = run_cli("ls", "--url", url, env={"ASYNCART_MAX_ATTEMPTS": "10"})
    assert proc.returncode == 1, proc.stdout
    *retries, last = proc.stderr.splitlines()
    assert last.startswith("asyncart: error: ") and url in last, last
    assert "is the server running there" in last and "--url" in last
    found = re.search(r"failed after (\d+) attempt", last)
    assert found is not None, last
    attempts = int(found[1])
    assert 1 <= attempts < 10
    announced = [RETRY_LINE.fullmatch(line) for line in retries]
    assert all(announced), retries
    assert [m[1] for m in announced if m] == [str(n) for n in range(2, attempts + 1)]
    assert {m[2] for m in announced if m} == {f"connection refused at {url}"}
    # No patience at all: one attempt, no retry line.
    proc = run_cli("ls", "--url", url, env={"ASYNCART_CONNECT_PATIENCE": "0.01"})
    one_error_line(proc, "failed after 1 attempt(s)", f"connection refused at {url}")


def test_an_unknown_host_fails_at_once() -> None:
    host = "no-such-host.invalid"  # RFC 2606: never resolves
    try:
        socket.getaddrinfo(host, 80)
        verdict = "resolved"
    except socket.gaierror as exc:
        no_name = exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))
        verdict = "no such name" if no_name else "no answer"
    proc = run_cli("ls", "--url", f"http://{host}:8765", env={"ASYNCART_MAX_ATTEMPTS": "10"})
    if verdict == "no such name":
        one_error_line(proc, f"unknown host {host!r}", "check the server URL")
    else:  # a resolver without a verdict (or a wrong one): fails within the CLI's patience
        assert proc.returncode == 1, proc.stderr
        assert host in proc.stderr.splitlines()[-1], (verdict, proc.stderr)


def test_a_url_below_the_server_root_says_to_use_the_root(server: LiveServer) -> None:
    proc = run_cli("ls", "--url", f"{server.url}/v1")
    one_error_line(proc, "must be the server's root", f"e.g. {server.url} (without /v1)")


# -- the server command ---------------------------------------------------------------------


def test_server_serves_no_missing_store_without_init(tmp_path: Path) -> None:
    typo = tmp_path / "stroe"
    one_error_line(run_cli("server", "--root", str(typo), "--port", "0"), str(typo), "--init")
    assert not typo.exists()
    typo.mkdir()  # an empty directory holds no store either
    one_error_line(
        run_cli("server", "--root", str(typo), "--port", "0"), "holds no asyncart store", "--init"
    )
    assert list(typo.iterdir()) == []


def test_server_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_cli("server", "--root", str(tmp_path), "--init", "--port", "80000")
    assert proc.returncode == 2, proc.stderr
    assert "--port" in proc.stderr and "80000" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_server_port_in_use_names_the_option(server: LiveServer, tmp_path: Path) -> None:
    port = server.url.rsplit(":", 1)[1]
    proc = run_cli("server", "--root", str(tmp_path / "other"), "--init", "--port", port)
    one_error_line(proc, f"port {port} on 127.0.0.1 is already in use", "--port")


def test_server_stops_on_sigterm_and_keeps_what_it_stored(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    root = tmp_path / "served"
    with live_server(root) as srv:
        push(["--url", srv.url])
        srv.process.send_signal(signal.SIGTERM)
        assert srv.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "asyncart server stopped" in "".join(srv.log)
    # The store it served opens as an embedded store with the version intact.
    listing = run_cli("ls", NAME, env={"ASYNCART_DIR": str(root)})
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith("v0\tlatest\t")
