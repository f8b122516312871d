"""Every command and Python snippet of README.md runs, in the README's order, on a fresh store.

The fenced blocks are read from README.md itself (so an edit that breaks one fails here);
each ``bash`` line runs in ``bash`` as a subprocess (``asyncart`` and ``python`` on its
``PATH`` are this interpreter, running this checkout), each ``python`` block with this
interpreter, all in one working directory that holds the files the README names.
What the test changes, and why:

* ``/srv/asyncart`` (the server's store) is a directory under the test's tmp dir, and
  ``ASYNCART_DIR`` (the embedded store of ``push``/``pull``/...) is that same directory, as
  on the server's machine: so ``delete`` then ``server gc`` reclaims what was deleted;
  ``HOME`` is a fresh directory (no key file, cache or store of the user's is touched);
* ``data/`` holds ``bicycle-data.h5`` as the seed example logged it, so ``push data/``
  finds the seed's ``bike dataset:v0`` (and gives it ``production``); ``cert.pem`` and
  ``key.pem`` are a throwaway CA's certificate for 127.0.0.1;
* a ``server`` command gets ``--port 0`` appended (a shared machine may use 8765) and
  ``--host 0.0.0.0`` becomes ``--host 127.0.0.1`` (tests bind loopback only); the test
  starts it in the background, asks ``/v1/health`` over its URL, and stops it;
* ``| dot -Tsvg`` needs Graphviz: without ``dot`` the left side runs alone;
* the training-loop snippet is a fragment: the test defines the loop's own names
  (``steps``, ``train_step``, ``model``, ``is_best``, and ``torch`` when PyTorch is not
  installed: a stand-in whose ``save`` pickles, as ``examples/train_loop.py`` does).

Commands in :data:`SKIPPED` are not run; each says why (another machine, or the test suite
or benchmark itself). Exit codes are asserted for every command, and key facts for some
(:data:`CHECKS`), never progress text.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trustme

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
READY_PREFIX = "asyncart server listening on "
TIMEOUT = 120  # seconds after which a hung command fails the test

_ANOTHER_MACHINE = "needs the team server at models.example.com (another machine)"
#: Start of a command -> why the test does not run it.
SKIPPED = {
    '.venv/bin/pip install -e ".[test]"': "installs the test extra and runs the whole "
    "test suite, which this test is part of",
    ".venv/bin/python -m pytest": "the test suite itself (CI runs it)",
    "asyncart login --url https://models.example.com": _ANOTHER_MACHINE,
    "export ASYNCART_URL=https://models.example.com": _ANOTHER_MACHINE,
    "asyncart push model.pt --name resnet": _ANOTHER_MACHINE + " (ASYNCART_URL above)",
    "asyncart sync ~/.asyncart/store https://models.example.com": _ANOTHER_MACHINE,
    "asyncart ls vision/resnet --url https://models.example.com": _ANOTHER_MACHINE,
    "export AWS_ENDPOINT_URL=https://minio.internal": "an S3 bucket at minio.internal "
    "(another machine)",
    "asyncart server --db postgresql://asyncart@db.internal": "PostgreSQL at db.internal "
    "and an S3 bucket (other machines)",
}
#: Never run from a test, whatever the README says (minutes of I/O; the ``bench`` extra).
NEVER = ("-m bench",)
#: The first command's venv and install need the network and minutes: only its last step runs.
QUICKSTART = "python3 -m venv .venv && .venv/bin/pip install -e . && "


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # in README.md, for messages


def fenced_blocks(markdown: str) -> list[Block]:
    """The fenced code blocks of ``markdown``, in order."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```$", markdown, re.M | re.S):
        out.append(Block(m.group(1), m.group(2), markdown.count("\n", 0, m.start()) + 1))
    return out


def shell_commands(text: str) -> list[str]:
    """The commands of a ``bash`` block: ``\\``-continued lines joined, blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip()]


@dataclass
class Result:
    command: str
    code: int
    out: str
    err: str


def _facts(session: Session) -> list[tuple[str, Callable[[Result], None]]]:
    """Start of a command -> a check of its result beyond exit code 0."""
    cwd = session.cwd

    def pulled(r: Result) -> None:
        assert (cwd / "data" / "bicycle-data.h5").read_bytes() == (
            cwd / "bicycle-data.h5"
        ).read_bytes()

    def lineage_dot(r: Result) -> None:
        dot = r.out  # the left side alone ran: no Graphviz here
        if shutil.which("dot"):
            assert "<svg" in (cwd / "lineage.svg").read_text()
            dot = session.run(r.command.split("| dot ")[0]).out
        # The seed's run logged and used bike dataset:v0: the edge --depth 2 used to lose.
        run = re.search(r'"(run:\w+)" -> "version:default/bike model:v0"', dot)
        assert run, dot
        assert f'"{run.group(1)}" -> "version:default/bike dataset:v0";' in dot, dot
        assert f'"version:default/bike dataset:v0" -> "{run.group(1)}";' in dot, dot

    def reclaimed(r: Result) -> None:
        m = re.search(r"deleted (\d+) unreferenced pack", r.out)
        assert m and int(m.group(1)) >= 1, r.out

    return [
        # data/ is what the seed logged: the same v0, now also 'production'.
        ("asyncart push data/", _printed("default/bike dataset:v0", "production")),
        ('asyncart pull "bike dataset:production"', pulled),
        ("asyncart ls", _printed("bike dataset")),
        ('asyncart delete "bike dataset:v0"', _printed("deleted default/bike dataset:v0")),
        ("asyncart server gc", reclaimed),
        ('asyncart lineage "bike model:production"', _printed("upstream", "downstream")),
        ('asyncart lineage "bike model:v0" --depth 2 --format dot', lineage_dot),
        ("asyncart server admin create-key alice", _printed("acart_")),
        ("asyncart server admin list-grants", _printed("alice", "ci", "vision", "*")),
        ("asyncart server admin audit", _printed("vision")),
    ]


def _printed(*words: str) -> Callable[[Result], None]:
    def check(r: Result) -> None:
        missing = [w for w in words if w not in r.out]
        assert not missing, f"{r.command!r} did not print {missing}:\n{r.out}\n{r.err}"

    return check


class Session:
    """The README's shell, one directory and environment for every command."""

    def __init__(self, tmp: Path) -> None:
        self.cwd = tmp / "work"
        self.srv = tmp / "server-store"
        home = tmp / "home"
        for d in (self.cwd, home, tmp / "tmp"):
            d.mkdir(exist_ok=True)
        bin_dir = tmp / "bin"  # `asyncart` and `python` are this interpreter, this checkout
        bin_dir.mkdir()
        python = shlex.quote(sys.executable)
        for name, run in (("asyncart", f"{python} -m asyncart"), ("python", python)):
            (bin_dir / name).write_text(f'#!/bin/sh\nexec {run} "$@"\n')
            (bin_dir / name).chmod(0o755)
        self.env = {
            **os.environ,
            "HOME": str(home),
            "TMPDIR": str(tmp / "tmp"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "ASYNCART_DIR": str(self.srv),
            "PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        for name in [n for n in self.env if n.startswith("ASYNCART_")]:
            if name != "ASYNCART_DIR":
                del self.env[name]  # the README's defaults, not the caller's settings
        self.variables: list[str] = []  # `S=/srv/asyncart` lines, before later commands
        self.ca = trustme.CA()
        self._files()

    def _files(self) -> None:
        data = b"day,rides\n" + b"mon,12\n" * 2000
        (self.cwd / "bicycle-data.h5").write_bytes(data)
        (self.cwd / "data").mkdir()
        (self.cwd / "data" / "bicycle-data.h5").write_bytes(data)
        (self.cwd / "model.h5").write_bytes(b"pretend these are weights " * 40)
        (self.cwd / "model.pt").write_bytes(b"a checkpoint " * 40)
        cert = self.ca.issue_cert("127.0.0.1")
        cert.cert_chain_pems[0].write_to_path(str(self.cwd / "cert.pem"))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(self.cwd / "cert.pem"), append=True)
        cert.private_key_pem.write_to_path(str(self.cwd / "key.pem"))

    def localize(self, command: str) -> str:
        command = command.replace("/srv/asyncart", str(self.srv))
        assert "/srv" not in command, f"a path outside the test's tmp dir: {command!r}"
        return command.replace("--host 0.0.0.0", "--host 127.0.0.1")

    def _script(self, command: str) -> str:
        return "set -o pipefail\n" + "".join(v + "\n" for v in self.variables) + command

    def run(self, command: str, env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(
            ["bash", "-c", self._script(self.localize(command))],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return Result(command, proc.returncode, proc.stdout, proc.stderr)

    def serve(self, command: str) -> Result:
        """Start a ``server`` command, check it answers, stop it (SIGTERM) and wait."""
        without_comment = re.split(r"\s+#\s", command, maxsplit=1)[0]
        script = self._script("exec " + self.localize(without_comment) + " --port 0")
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # ends when the server exits
                lines.append(line)
                if line.startswith(READY_PREFIX):
                    url = line[len(READY_PREFIX) :].split()[0]
                    assert not url.endswith(":8765"), "the test's --port 0 was not used"
                    context = ssl.create_default_context(cafile=None)
                    self.ca.configure_trust(context)
                    with urllib.request.urlopen(
                        url + "/v1/health", timeout=10, context=context
                    ) as resp:
                        assert resp.status == 200
                    break
            else:
                raise AssertionError(f"{command!r} exited before listening:\n{''.join(lines)}")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                rest, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                rest, _ = proc.communicate(timeout=30)
        return Result(command, 0, "".join(lines) + (rest or ""), "")

    def python(self, code: str, prelude: str = "") -> Result:
        script = self.cwd / "snippet.py"
        script.write_text(prelude + code)
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return Result(code.splitlines()[0], proc.returncode, proc.stdout, proc.stderr)


#: The names the training-loop snippet leaves to the reader.
TRAINING_LOOP_PRELUDE = textwrap.dedent(
    """\
    import asyncart
    try:
        import torch
        model = torch.nn.Linear(2, 1)
        def train_step():
            with torch.no_grad():
                model.weight.add_(1.0)
    except ImportError:
        import pickle, types
        torch = types.SimpleNamespace(save=lambda obj, f: pickle.dump(obj, f))
        class _Model:
            step = 0
            def state_dict(self):
                return {"step": self.step}
        model = _Model()
        def train_step():
            model.step += 1
    steps = 1000
    is_best = True
    """
)


def _skip_reason(command: str) -> str | None:
    if any(never in command for never in NEVER):
        return "a benchmark: never run from a test (minutes of I/O; needs the bench extra)"
    return next((why for start, why in SKIPPED.items() if command.startswith(start)), None)


def _is_server(command: str) -> bool:
    words = command.split()
    return words[:2] == ["asyncart", "server"] and len(words) > 2 and words[2].startswith("--")


def test_every_readme_command_runs_in_order_on_a_fresh_store(tmp_path: Path) -> None:
    session = Session(tmp_path)
    facts = _facts(session)
    used_skips: set[str] = set()
    used_facts: set[str] = set()
    ran: list[str] = []
    blocks = fenced_blocks(README.read_text())
    assert {b.lang for b in blocks} <= {"bash", "python"}, "a block this test cannot run"
    for block in blocks:
        if block.lang == "python":
            prelude = TRAINING_LOOP_PRELUDE if "train_step()" in block.text else ""
            result = session.python(block.text, prelude)
            assert result.code == 0, f"README.md:{block.line}: snippet failed\n{result.err}"
            ran.append(result.command)
            continue
        session.variables = []
        for command in shell_commands(block.text):
            if command.startswith(QUICKSTART):  # on its own store: the next blocks start fresh
                command = command.removeprefix(QUICKSTART).replace(".venv/bin/python", "python")
                result = session.run(
                    f"python {REPO / command.split()[-1]}",
                    env={"ASYNCART_DIR": str(tmp_path / "quickstart-store")},
                )
                assert result.code == 0, f"README.md:{block.line}: {command}\n{result.err}"
                ran.append(command)
                continue
            why = _skip_reason(command)
            if why is not None:
                used_skips.update(s for s in SKIPPED if command.startswith(s))
                continue
            if re.fullmatch(r"[A-Z_]+=\S+", command):
                session.variables.append(session.localize(command))
                continue
            if _is_server(command):
                result = session.serve(command)
            else:
                if "| dot " in command and shutil.which("dot") is None:
                    command = command.split("| dot ")[0].strip()
                result = session.run(command)
            assert result.code == 0, (
                f"README.md:{block.line}: {command!r} exited {result.code}\n"
                f"{result.out}\n{result.err}"
            )
            for start, check in facts:
                if command.startswith(start):
                    check(result)
                    used_facts.add(start)
            ran.append(command)
    assert used_skips == set(SKIPPED), f"skips matching no command: {set(SKIPPED) - used_skips}"
    assert used_facts == {s for s, _ in facts}, "checks matching no README command"
    assert len(ran) >= 25, ran


def test_the_stated_exit_codes_are_the_cli_s() -> None:
    """README: 0 success, 1 failure, 2 usage, 130 interrupted or declined."""
    text = " ".join(README.read_text().split())
    assert "exit code 1; 2 for a usage error" in text and "130 when interrupted" in text
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    usage = subprocess.run(
        [sys.executable, "-m", "asyncart", "pull"],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )
    assert usage.returncode == 2 and "Usage:" in usage.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "asyncart", "no-such-command"],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )
    assert unknown.returncode == 2
