"""Errors a newcomer meets in the first hour (issue 20): local file errors say what to do
(no raw ``[Errno 17]``), and admin commands never create a store without ``--init``."""

from __future__ import annotations

import errno
from pathlib import Path

from asyncart.cli.os_errors import describe_os_error
from tests.support.cli import run_cli


def _one_error(proc_stderr: str) -> str:
    lines = proc_stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("asyncart: error: "), proc_stderr
    assert "Errno" not in lines[0] and "Traceback" not in proc_stderr
    return lines[0]


def test_a_file_in_the_way_of_the_target_directory_says_what_to_do() -> None:
    Path("x.bin").write_bytes(b"payload")
    assert run_cli("push", "x.bin", "-n", "x", "-t", "dataset").returncode == 0
    Path("taken").write_text("a file, not a directory")
    proc = run_cli("pull", "x", "-o", "taken")
    assert proc.returncode == 1
    line = _one_error(proc.stderr)
    assert line == (
        "asyncart: error: taken: a file is in the way (a directory was needed, or a new "
        "name); remove or rename it, or name another directory"
    )


def test_permission_denied_names_the_path_and_the_way_out() -> None:
    """As root (the test machine) no directory denies a write, so the one message is
    checked on the error the system raises for it."""
    line = describe_os_error(PermissionError(errno.EACCES, "Permission denied", "/srv/x"))
    assert line.startswith("/srv/x: permission denied; run as a user who may write there")
    assert "-o DIR" in line and "ASYNCART_DIR" in line and "--root" in line
    other = describe_os_error(OSError(errno.EIO, "Input/output error", "/dev/sdz"))
    assert other == "/dev/sdz: Input/output error"


def test_admin_commands_never_create_a_store_without_init(tmp_path: Path) -> None:
    root = tmp_path / "typo"
    for args in (["create-user", "bob"], ["list-keys"], ["grant", "bob", "*", "read"]):
        proc = run_cli("server", "admin", *args, "--root", str(root))
        assert proc.returncode == 1, proc.stdout
        line = _one_error(proc.stderr)
        assert str(root) in line and "is not an asyncart store" in line
        assert not root.exists()
    assert (
        "add --init to create a new store"
        in run_cli("server", "admin", "create-user", "bob", "--root", str(root)).stderr
    )
    made = run_cli("server", "admin", "create-user", "bob", "--root", str(root), "--init")
    assert made.returncode == 0, made.stderr
    assert made.stdout == "created user bob\n" and (root / "meta.db").is_file()
    listed = run_cli("server", "admin", "list-grants", "--root", str(root))
    assert listed.returncode == 0, listed.stderr
