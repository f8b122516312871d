"""This checkout against another commit, in alternating pairs: the shared parts of
``bench/startup.py`` and ``bench/push_ab.py``.

A pair runs the same measurement once with each tree's code, the order alternating
from pair to pair, because on this VM only figures taken minutes apart compare.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A temporary ``git worktree`` of ``rev`` (removed after)."""
    where = Path(tempfile.mkdtemp(prefix="asyncart-ab-")) / "tree"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(where), rev], check=True
    )
    try:
        yield where
    finally:
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(where)], check=False
        )


def print_pairs(
    against: str,
    pairs: int,
    figures: dict[tuple[str, str], list[float]],
    keys: Sequence[str],
    digits: int = 2,
) -> None:
    """Per figure in ``keys``: both trees' medians and the median per-pair ratio.

    ``figures[(key, "other")]`` and ``figures[(key, "this")]`` hold one value per pair,
    in pair order.
    """
    print(f"this checkout against {against}, {pairs} alternating pairs:")
    width = max(len(key) for key in keys)
    for key in keys:
        theirs, ours = figures[(key, "other")], figures[(key, "this")]
        ratio = statistics.median(b / a for a, b in zip(theirs, ours, strict=True))
        print(
            f"  {key:{width}}: {statistics.median(theirs):.{digits}f} s -> "
            f"{statistics.median(ours):.{digits}f} s (median of per-pair ratios {ratio:.2f})"
        )
