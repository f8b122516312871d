"""``asyncart mount NAME[:VERSION|ALIAS] DIR`` and ``asyncart unmount DIR``: a version as a
read-only directory, each file's bytes fetched on first read (``sdk/mount.py``)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

import asyncart
from asyncart.sdk.mount import load_fuse, skipped_references
from asyncart.sdk.mount import mount as serve

EXAMPLES = """\b
Examples:
  asyncart mount "bike dataset:v3" /mnt/bikes     # until Ctrl-C or unmount
  asyncart mount model:production ./model --type model
"""

UNMOUNT_EXAMPLES = """\b
Examples:
  asyncart unmount /mnt/bikes
  asyncart unmount ./model
"""


@click.command(epilog=EXAMPLES)
@click.argument("name")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--type", "-t", "type_", default=None, help="Require this artifact type.")
@click.option(
    "--allow-other",
    is_flag=True,
    help="Let other users read the mount (needs user_allow_other in /etc/fuse.conf).",
)
@click.option("--project", "-p", default=None, help="Project (default: ASYNCART_PROJECT).")
@click.option(
    "--url", default=None, help="Server URL (default: ASYNCART_URL, else the embedded store)."
)
def mount(
    name: str,
    directory: Path,
    type_: str | None,
    allow_other: bool,
    project: str | None,
    url: str | None,
) -> None:
    """Show a version's files under DIR (a directory) at once, with their sizes;
    a file's bytes are fetched, verified, when it is first read, and only the parts read.

    The mount is read-only. It runs in the foreground until Ctrl-C, SIGTERM,
    `asyncart unmount DIR` or `fusermount -u DIR`. Needs FUSE: /dev/fuse, libfuse
    (apt-get install fuse3) and mfusepy (pip install 'asyncart[mount]').
    """
    load_fuse()  # a missing libfuse is said before any request
    if _stale(directory):
        raise click.UsageError(
            f"{directory} is a mount whose process has gone: `asyncart unmount {directory}` first"
        )
    if not directory.is_dir():
        raise click.UsageError(f"{directory} is not a directory: create it first (mkdir)")
    if os.path.ismount(directory):
        raise click.UsageError(f"{directory} is already a mount point: unmount it first")
    artifact = asyncart.Api(url=url, project=project).artifact(name, type=type_)
    refs = skipped_references(artifact)
    note = f" ({refs} reference entr{'y' if refs == 1 else 'ies'} left out)" if refs else ""
    click.echo(
        f"mounting {artifact.qualified_name} at {directory}{note}; "
        f"Ctrl-C or `asyncart unmount {directory}` to unmount",
        err=True,
    )
    try:
        serve(artifact, str(directory), allow_other=allow_other)
    except RuntimeError as exc:  # mfusepy: libfuse's mount failed (it printed why)
        raise click.ClickException(f"could not mount {directory}: {exc}") from None
    click.echo(f"unmounted {directory}", err=True)


def _stale(directory: Path) -> bool:
    """Whether ``directory`` is a FUSE mount whose server died (kill -9): every access to
    it fails with ENOTCONN, and ``os.path.ismount`` says False."""
    try:
        os.stat(directory)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def _unmount_command(directory: Path) -> list[str]:
    for tool in ("fusermount3", "fusermount"):
        if shutil.which(tool):
            return [tool, "-u", str(directory)]
    if sys.platform == "darwin" or shutil.which("umount"):
        return ["umount", str(directory)]
    raise click.ClickException("no fusermount3, fusermount or umount found: install fuse3")


@click.command(epilog=UNMOUNT_EXAMPLES)
@click.argument("directory", type=click.Path(path_type=Path))
def unmount(directory: Path) -> None:
    """Unmount DIR, mounted by `asyncart mount` (the mount's process then exits)."""
    if not (os.path.ismount(directory) or _stale(directory)):
        raise click.UsageError(f"{directory} is not a mount point")
    command = _unmount_command(directory)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        why = done.stderr.strip() or f"exit code {done.returncode}"
        raise click.ClickException(f"could not unmount {directory}: {why}")
