"""Which files of a version a partial pull takes: paths, ``--include`` and ``--exclude`` globs.

Everything is matched against the entries' POSIX paths inside the artifact
(``data/train/0001.png``), never against local paths, and case-sensitively.

- A **path** names one file (``model/config.json``) or a directory (``data/train``,
  a trailing ``/`` allowed): every file below it, by whole path components, so
  ``data`` selects ``data/a.csv`` but not ``database.csv``.
- A **glob** without ``/`` matches a file's name in any directory: ``*.safetensors``
  selects ``model.safetensors`` and ``shards/part-1.safetensors``.
- A **glob** with ``/`` matches the whole path from the artifact's root:
  ``shards/*.bin`` selects ``shards/a.bin`` but not ``shards/x/a.bin``.
- In globs ``*`` matches any characters but ``/``, ``?`` one character but ``/``,
  ``[abc]`` / ``[!abc]`` one character of (not of) a set, and a ``**`` path component
  any number of components, none included: ``data/**/*.csv`` selects ``data/a.csv``
  and ``data/x/y/a.csv``; ``**`` alone selects everything.

A file is selected when it matches a path or an include (or when neither is given),
and not an exclude. Every path, include and exclude must match at least one file of
the version: a misspelt one is an error naming it, never a pull that silently takes
nothing (or everything).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` (rules in the module docstring) as an anchored regular expression."""
    parts = pattern.split("/")
    out: list[str] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        out.append(_segment_regex(part, pattern))
        if not last:
            out.append("/")
    return re.compile("".join(out) + r"\Z")


def _segment_regex(part: str, pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = part.find("]", i + 2 if part[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                raise ConfigError(f"glob {pattern!r} has a '[' with no closing ']'")
            body = part[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            # every character literal but '-' (ranges): no nested sets or set operations
            body = "".join(c if c == "-" else re.escape(c) for c in body)
            out.append(f"[{'^/' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_matches(pattern: str, path: str) -> bool:
    """Whether entry ``path`` matches glob ``pattern`` (rules in the module docstring).

    Raises:
        ConfigError: the pattern is malformed (an unclosed ``[``) or empty.
    """
    pattern = pattern.strip("/") if pattern not in ("", "/") else pattern
    if not pattern or pattern == "/":
        raise ConfigError("an empty glob selects nothing; give a pattern such as '*.csv'")
    if "/" not in pattern:
        return _glob_regex(pattern).match(path.rsplit("/", 1)[-1]) is not None
    return _glob_regex(pattern).match(path) is not None


def under_path(top: str, path: str) -> bool:
    """Whether entry ``path`` is ``top`` or lies below it (by whole path components)."""
    return path == top or path.startswith(top + "/")


@dataclass(frozen=True)
class Selection:
    """What a partial pull takes: ``paths`` (files or directories), ``include`` and
    ``exclude`` globs. Empty: the whole version."""

    paths: Sequence[str] = ()
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()

    @property
    def everything(self) -> bool:
        return not (self.paths or self.include or self.exclude)

    def choose(self, entry_paths: Iterable[str]) -> list[str]:
        """The entry paths selected, in the given order.

        Raises:
            ConfigError: a path, include or exclude matches no file of the version, or
                the excludes leave nothing; the message names it and what there is.
        """
        every = list(entry_paths)
        tops = [_top(p) for p in self.paths]
        unmatched = [
            *(
                f"path {given!r}"
                for given, top in zip(self.paths, tops, strict=True)
                if not any(under_path(top, p) for p in every)
            ),
            *(
                f"--include {g!r}"
                for g in self.include
                if not any(glob_matches(g, p) for p in every)
            ),
            *(
                f"--exclude {g!r}"
                for g in self.exclude
                if not any(glob_matches(g, p) for p in every)
            ),
        ]
        if unmatched:
            raise ConfigError(
                f"{', '.join(unmatched)} matched no file of this version "
                f"({_sample(every)}); check the spelling (a glob without '/' matches file "
                "names in any directory, one with '/' whole paths; '**' spans directories)"
            )
        wanted = [
            p
            for p in every
            if (not tops and not self.include)
            or any(under_path(t, p) for t in tops)
            or any(glob_matches(g, p) for g in self.include)
        ]
        chosen = [p for p in wanted if not any(glob_matches(g, p) for g in self.exclude)]
        if not chosen:
            raise ConfigError(
                f"--exclude {', '.join(repr(g) for g in self.exclude)} left no file to pull "
                f"of the {len(wanted)} selected"
            )
        return chosen


def _top(given: str) -> str:
    stripped = given.strip("/")
    if not stripped:
        raise ConfigError(
            "path '/' names no file; give a path inside the artifact, or none for every file"
        )
    return normalize_entry_path(stripped)


def _sample(paths: list[str]) -> str:
    if not paths:
        return "it has no files"
    shown = ", ".join(repr(p) for p in paths[:5])
    more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
    return f"it holds {shown}{more}"
