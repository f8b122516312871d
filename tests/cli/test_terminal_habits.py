"""What a terminal user expects of the transfer commands (issue 20): progress on stderr,
``-q``, one unit family, plurals, ``--dry-run``, ``ls NAME:ALIAS``, a header on a
terminal, ISO 8601 in ``--json``, examples at the end of every ``--help``.

One server (module scope) serves every test; each test pushes its own artifact name.
"""

from __future__ import annotations

import json
import os
import pty
import random
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from asyncart.cli.main import cli
from tests.support.cli import HANG_LIMIT, run_cli
from tests.support.live_server import LiveServer, live_server

MiB = 1 << 20
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("habits") / "store") as srv:
        yield srv


@pytest.fixture
def url(server: LiveServer) -> list[str]:
    return ["--url", server.url]


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    return proc


def ok_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json").stdout)


def random_file(name: str, size: int, seed: int) -> Path:
    path = Path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def run_with_terminal(args: list[str], *, stdout_tty: bool) -> tuple[int, str, str]:
    """Run the CLI with stderr (and stdout if ``stdout_tty``) on a pseudo-terminal; the
    exit code, what stdout got through its pipe (if not a terminal), what the terminal got."""
    primary, secondary = pty.openpty()
    env = dict(os.environ, COLUMNS="160", TERM="xterm")
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncart", *args],
        stdin=subprocess.DEVNULL,
        stdout=secondary if stdout_tty else subprocess.PIPE,
        stderr=secondary,
        env=env,
    )
    os.close(secondary)
    chunks = []
    try:
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO once the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(primary)
        piped = proc.stdout.read().decode() if proc.stdout else ""
        proc.wait(timeout=HANG_LIMIT)
        if proc.stdout:
            proc.stdout.close()
    terminal = b"".join(chunks).decode(errors="replace")
    return proc.returncode, piped, _ANSI.sub("", terminal)


def test_progress_goes_to_stderr_when_stdout_is_piped(url: list[str]) -> None:
    """``asyncart push x | cat`` still shows the bar (on the terminal behind stderr), in
    binary units with a binary rate; stdout gets the summary only; ``-q`` silences both."""
    data = random_file("big.bin", 24 * MiB, 1)
    code, out, terminal = run_with_terminal(
        ["push", str(data), "-n", "piped", "-t", "dataset", *url], stdout_tty=False
    )
    assert code == 0, terminal
    assert "push 1 file " in terminal and "24.0 MiB of 24.0 MiB" in terminal
    assert re.search(r"\d+\.\d (MiB|GiB)/s", terminal), terminal  # the rate: the same units
    assert not re.search(r"\d (kB|MB|GB)\b", terminal), terminal  # no decimal units
    assert out.startswith("default/piped:v0 created (24.0 MiB, 1 file, 24.0 MiB uploaded")
    assert "━" not in out

    code, out, terminal = run_with_terminal(
        ["pull", "piped", "-o", "out", "-q", *url], stdout_tty=False
    )
    assert code == 0, terminal
    assert (out, terminal) == ("", "")
    assert Path("out/big.bin").read_bytes() == data.read_bytes()


def test_bytes_the_store_has_are_not_a_transfer_rate(url: list[str]) -> None:
    """A push of what the store holds moves nothing: the bar completes with no rate."""
    data = random_file("same.bin", 8 * MiB, 2)
    ok("push", str(data), "-n", "same", "-t", "dataset", "-q", *url)
    code, _, terminal = run_with_terminal(
        ["push", str(data), "-n", "same", "-t", "dataset", *url], stdout_tty=True
    )
    assert code == 0, terminal
    assert "8.0 MiB of 8.0 MiB" in terminal
    assert "B/s" not in terminal, terminal
    assert "unchanged, reused (8.0 MiB, 1 file, 0 B uploaded" in terminal


def test_push_dry_run_stores_nothing_and_says_what_would_move(url: list[str]) -> None:
    random_file("dry/a.bin", 3 * MiB, 3)
    random_file("dry/b.bin", 2 * MiB, 4)
    plan = ok_json("push", "dry", "-n", "dry", "-t", "dataset", "--dry-run", *url)
    assert plan["dry_run"] is True
    assert (plan["files_to_move"], plan["bytes_to_move"], plan["total_bytes"]) == (
        2,
        5 * MiB,
        5 * MiB,
    )
    assert "dry" not in [line.split("\t")[0] for line in ok("ls", *url).stdout.splitlines()]
    first = ok_json("push", "dry", "-n", "dry", "-t", "dataset", *url)
    assert first["bytes_uploaded"] == plan["bytes_to_move"]

    random_file("dry/b.bin", 2 * MiB, 5)  # one file changes
    line = ok("push", "dry", "-n", "dry", "-t", "dataset", "--dry-run", *url).stdout
    assert line == (
        "default/dry: would upload 2.0 MiB (1 of 2 files with bytes the store lacks, "
        "5.0 MiB in all); nothing stored\n"
    )
    assert [v["version"] for v in ok_json("ls", "dry", *url)] == ["v0"]


def test_pull_dry_run_writes_nothing_and_matches_the_pull(url: list[str]) -> None:
    random_file("model.bin", 4 * MiB, 6)
    ok("push", "model.bin", "-n", "pdry", "-t", "model", "-q", *url)
    plan = ok_json("pull", "pdry", "-o", "target", "--dry-run", *url)
    assert (plan["files_to_move"], plan["bytes_to_move"]) == (1, 4 * MiB)
    assert not Path("target").exists()
    pulled = ok_json("pull", "pdry", "-o", "target", *url)
    assert pulled["bytes_downloaded"] == plan["bytes_to_move"]
    again = ok("pull", "pdry", "-o", "target", "--dry-run", *url).stdout
    assert "would download 0 B (0 of 1 file to fetch, 4.0 MiB in all); nothing written" in again


def test_ls_of_an_alias_a_header_on_a_terminal_and_iso_times(url: list[str]) -> None:
    random_file("one.bin", 1000, 7)
    ok("push", "one.bin", "-n", "lsme", "-t", "dataset", "-a", "best", "-q", *url)
    random_file("one.bin", 1000, 8)
    ok("push", "one.bin", "-n", "lsme", "-t", "dataset", "-q", *url)

    rows = [line.split("\t") for line in ok("ls", "lsme:best", *url).stdout.splitlines()]
    assert [(r[0], r[1], r[3]) for r in rows] == [("v0", "best", "1 file")]  # no header
    assert [r[0] for r in (x.split("\t") for x in ok("ls", "lsme", *url).stdout.splitlines())] == [
        "v0",
        "v1",
    ]

    code, _, terminal = run_with_terminal(["ls", "lsme:latest", *url], stdout_tty=True)
    assert code == 0, terminal
    lines = terminal.splitlines()
    header = ["VERSION", "ALIASES", "SIZE", "FILES", "ADDED", "FREES", "CREATED", "DIGEST"]
    assert lines[0].split() == header
    assert len(lines) == 2 and lines[1].split()[:2] == ["v1", "latest"]

    (version,) = ok_json("ls", "lsme:v0", *url)
    assert not {"index", "created"} & version.keys()  # the store's bookkeeping stays out
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", version["created_at"])
    assert isinstance(version["created_at_unix"], float)
    (collection,) = [c for c in ok_json("ls", *url) if c["name"] == "lsme"]
    assert collection["updated_at"].endswith("Z") and collection["version_count"] == 2


def _commands(group: click.Group, ctx: click.Context) -> Iterator[tuple[list[str], click.Command]]:
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield [name], command
        if isinstance(command, click.Group):
            for path, sub in _commands(command, ctx):
                yield [name, *path], sub


def _examples(help_text: str) -> list[str]:
    found = re.search(r"\n\s*Examples:\n", help_text)
    assert found, help_text
    tail = help_text[found.end() :]
    return [line.strip() for line in tail.splitlines() if line.strip()]


def _parse(args: list[str]) -> None:
    """Parse a command line down to its last subcommand, as running it would (without
    running it); click raises UsageError on an unknown command, option or a missing argument."""
    command: click.Command = cli
    name, parent = "asyncart", None
    while True:
        ctx = command.make_context(name, list(args), parent=parent)
        if not isinstance(command, click.Group):
            return
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return
        found, sub, args = command.resolve_command(ctx, rest)
        assert found is not None and sub is not None
        name, command, parent = found, sub, ctx


_WITHOUT_EXAMPLES: set[tuple[str, ...]] = set()
# Groups whose subcommands share the group's examples.
_GROUPS_ONLY = (("server", "admin"), ("alias",), ("retention",))


def test_every_help_ends_with_examples_that_parse() -> None:
    """Each command's ``--help`` (as printed) ends with examples; each example names
    commands that exist, with options and arguments its command accepts."""
    ctx = click.Context(cli)
    checked = 0
    for path, _command in _commands(cli, ctx):
        key = tuple(path)
        in_group = any(key[: len(g)] == g and len(key) > len(g) for g in _GROUPS_ONLY)
        if key in _WITHOUT_EXAMPLES or in_group:
            continue
        # In-process (click's runner runs the real entry point): 20 interpreters would be slow.
        shown = CliRunner().invoke(cli, [*path, "--help"], prog_name="asyncart")
        assert shown.exit_code == 0, shown.output
        examples = _examples(shown.output)
        assert 2 <= len(examples) <= 3, (path, examples)
        for example in examples:
            # The asyncart part of a shell line (others may feed it or read its output).
            segments = [seg.strip() for seg in example.split("| ")]
            mine = next((seg for seg in segments if seg.startswith("asyncart ")), example)
            words = shlex.split(mine, comments=True)
            if ">" in words:
                words = words[: words.index(">")]
            assert words[0] == "asyncart", example
            assert words[1 : 1 + len(path)] == path, example  # the example is of this command
            _parse(words[1:])
            checked += 1
    assert checked >= 25
