"""A manifest diff as a person reads it: ``git diff --stat``-like lines and one summary.

Shared by ``asyncart diff`` and ``str()`` of the SDK's diff, so both print the same.
"""

from __future__ import annotations

from asyncart.core.humanize import count, human_size
from asyncart.core.manifest_diff import FileDiff, ManifestDiff

_MARK = {"added": "A", "removed": "D", "changed": "M", "renamed": "R", "unchanged": " "}


def stat_lines(diff: ManifestDiff, *, unchanged: bool = False) -> list[str]:
    """One line per file that differs (``unchanged``: every file), then the summary."""
    shown = [f for f in diff.files if unchanged or f.status != "unchanged"]
    names = [_name(f) for f in shown]
    width = max((len(n) for n in names), default=0)
    lines = [
        f" {_MARK[f.status]} {name.ljust(width)} | {_what(f)}"
        for f, name in zip(shown, names, strict=True)
    ]
    return [*lines, summary_line(diff)]


def summary_line(diff: ManifestDiff) -> str:
    """``2 added, 1 removed, 1 changed, 1 renamed, 5 unchanged; 1.5 MiB new, 3.0 MiB
    shared (4.5 MiB -> 4.6 MiB)``."""
    counts = diff.counts()
    parts = [f"{counts[s]} {s}" for s in ("added", "removed", "changed", "renamed") if counts[s]]
    files = ", ".join(parts) if parts else "no changes"
    return (
        f"{files}, {count(counts['unchanged'], 'file')} unchanged; "
        f"{human_size(diff.new_bytes)} new, {human_size(diff.shared_bytes)} shared "
        f"({human_size(diff.old_size)} -> {human_size(diff.new_size)})"
    )


def _name(f: FileDiff) -> str:
    return f"{f.old_path} -> {f.path}" if f.status == "renamed" else f.path


def _what(f: FileDiff) -> str:
    if f.status == "changed":
        assert f.old_size is not None and f.new_size is not None
        return (
            f"{human_size(f.differing_bytes)} of {human_size(f.new_size)} differ "
            f"(was {human_size(f.old_size)})"
        )
    if f.status == "removed":
        return f"-{human_size(f.old_size or 0)}"
    if f.status == "added":
        return f"+{human_size(f.new_size or 0)}"
    return f"{human_size(f.new_size or 0)}, same content"
