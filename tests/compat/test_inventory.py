"""docs/wandb-tests.md cannot rot: every asyncart test it names exists, every row has a
known status (a ported row names its asyncart test), and the totals add up.

Reads only the document and this repository's tests (not W&B's mirror).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "wandb-tests.md"
#: Paths of W&B's own tests (section headings), not of this repository.
WANDB_DIRS = ("tests/system_tests/", "tests/unit_tests/")
ROW = re.compile(r"^\| `(?P<wandb>[^`]+)` \| (?P<status>[^|]+?) \| (?P<text>.*) \|$")
OUR_TEST = re.compile(r"`(tests/[\w/]+\.py)(?:::([\w:]+))?`")
SECTION = re.compile(r"^## `(?P<file>[^`]+)`$")
SUMMARY = re.compile(r"^(\d+) tests: (\d+) ported, (\d+) set aside, (\d+) not yet\.$")
TOTALS = re.compile(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$")
STATUS = re.compile(r"^(ported|set aside|not yet \([^)]+\))$")


def kind(status: str) -> str:
    return status if status in ("ported", "set aside") else "not yet"


@cache
def sections() -> dict[str, list[tuple[str, str, str]]]:
    """W&B test file -> its rows (W&B test, status, asyncart test or reason)."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    current: list[tuple[str, str, str]] | None = None
    for line in DOC.read_text().splitlines():
        if head := SECTION.match(line):
            current = found.setdefault(head["file"], [])
        elif (row := ROW.match(line)) and current is not None:
            current.append((row["wandb"], row["status"], row["text"]))
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    """``name`` and ``Class::name`` of every test function in ``path``."""
    tree = ast.parse((ROOT / path).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.update(
                f"{node.name}::{sub.name}"
                for sub in node.body
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))
            )
    return frozenset(names)


def named_tests() -> list[tuple[str, str | None]]:
    """Every ``tests/…py[::test]`` of this repository the document names."""
    return sorted(
        {
            (path, test or None)
            for path, test in OUR_TEST.findall(DOC.read_text())
            if not path.startswith(WANDB_DIRS)
        },
        key=lambda named: (named[0], named[1] or ""),
    )


def test_the_document_lists_w_and_b_test_files() -> None:
    assert len(sections()) >= 20
    assert all(file.startswith(WANDB_DIRS) for file in sections())
    assert len(named_tests()) > 50


@pytest.mark.parametrize(
    ("path", "test"), named_tests(), ids=[f"{p}::{t}" if t else p for p, t in named_tests()]
)
def test_every_named_asyncart_test_exists(path: str, test: str | None) -> None:
    assert (ROOT / path).is_file(), f"docs/wandb-tests.md names {path}, which does not exist"
    if test is not None:
        assert test.split("[")[0] in defined_tests(path), (
            f"docs/wandb-tests.md names {path}::{test}, which is not defined there"
        )


def test_every_row_has_a_known_status_and_a_ported_row_names_its_test() -> None:
    for file, rows in sections().items():
        names = [wandb for wandb, _, _ in rows]
        assert len(names) == len(set(names)), f"{file}: a W&B test listed twice"
        for wandb, status, text in rows:
            assert STATUS.match(status), f"{file}::{wandb}: unknown status {status!r}"
            assert text.strip(), f"{file}::{wandb}: no asyncart test and no reason"
            if status == "ported":
                ours = [p for p, _ in OUR_TEST.findall(text) if not p.startswith(WANDB_DIRS)]
                assert ours, f"{file}::{wandb} is ported but names no asyncart test"


def test_the_totals_add_up() -> None:
    lines = DOC.read_text().splitlines()
    overall: Counter[str] = Counter()
    for file, rows in sections().items():
        counts = Counter(kind(status) for _, status, _ in rows)
        overall += counts
        heading = lines.index(f"## `{file}`")
        summary = next(SUMMARY.match(line) for line in lines[heading:] if SUMMARY.match(line))
        assert summary is not None
        assert [int(n) for n in summary.groups()] == [
            len(rows),
            counts["ported"],
            counts["set aside"],
            counts["not yet"],
        ], file
    totals = next(m for line in lines if (m := TOTALS.match(line)))
    assert [int(n) for n in totals.groups()] == [
        sum(overall.values()),
        overall["ported"],
        overall["set aside"],
        overall["not yet"],
    ]
