"""The pure diff of two manifests: statuses, renames, chunk-level byte counts, totals."""

from __future__ import annotations

import blake3
from hypothesis import given
from hypothesis import strategies as st

from asyncart.core.diff_report import stat_lines, summary_line
from asyncart.core.manifest import ChunkRef, Manifest, ManifestEntry, uri_digest
from asyncart.core.manifest_diff import diff_manifests


def _h(text: str) -> str:
    return blake3.blake3(text.encode()).hexdigest()


def _file(path: str, *chunks: tuple[str, int]) -> ManifestEntry:
    refs = tuple(ChunkRef(_h(c), n) for c, n in chunks)
    digest = _h("file:" + "|".join(c for c, _ in chunks))
    return ManifestEntry.for_file(path, sum(n for _, n in chunks), digest, refs)


OLD = Manifest(
    (
        _file("big.bin", ("c1", 100), ("c2", 100), ("c3", 100)),
        _file("same.txt", ("s", 5)),
        _file("gone.txt", ("g", 7)),
        _file("moved/a.txt", ("m", 9)),
        ManifestEntry("empty", 0, _h("file:")),
    )
)
NEW = Manifest(
    (
        _file("big.bin", ("c1", 100), ("x2", 120), ("c3", 100), ("c1", 100)),
        _file("same.txt", ("s", 5)),
        _file("a.txt", ("m", 9)),
        _file("fresh.txt", ("f", 11)),
        ManifestEntry("empty2", 0, _h("file:")),
    )
)


def test_statuses_renames_and_chunk_level_bytes() -> None:
    d = diff_manifests(OLD, NEW)
    by_path = {f.path: f for f in d.files}
    assert {p: f.status for p, f in by_path.items()} == {
        "big.bin": "changed",
        "same.txt": "unchanged",
        "a.txt": "renamed",
        "fresh.txt": "added",
        "gone.txt": "removed",
        "empty": "removed",  # empty files are never paired as a rename
        "empty2": "added",
    }
    assert by_path["a.txt"].old_path == "moved/a.txt"
    big = by_path["big.bin"]
    assert (big.old_size, big.new_size, big.differing_bytes) == (300, 420, 120)
    assert by_path["fresh.txt"].differing_bytes == 11
    # new: x2 and f; shared: c1, c3, s, m (each distinct chunk once)
    assert (d.new_bytes, d.shared_bytes) == (131, 214)
    assert (d.old_size, d.new_size) == (321, 445)
    assert not d.identical and diff_manifests(OLD, OLD).identical
    assert d.counts() == {"added": 2, "removed": 2, "changed": 1, "renamed": 1, "unchanged": 1}


def test_the_report_reads_like_git_stat_with_one_summary_line() -> None:
    lines = stat_lines(diff_manifests(OLD, NEW))
    assert lines[0] == " R moved/a.txt -> a.txt | 9 B, same content"
    assert " M big.bin" in lines[1] and "120 B of 420 B differ (was 300 B)" in lines[1]
    assert lines[-1] == (
        "2 added, 2 removed, 1 changed, 1 renamed, 1 file unchanged; "
        "131 B new, 214 B shared (321 B -> 445 B)"
    )
    same = summary_line(diff_manifests(OLD, OLD))
    assert same.startswith("no changes, 5 files unchanged; 0 B new")


def test_a_reference_changes_by_digest_and_adds_no_chunk_bytes() -> None:
    a = Manifest((ManifestEntry("r.csv", 10, uri_digest("s3://b/k"), ref="s3://b/k"),))
    b = Manifest((ManifestEntry("r.csv", 12, uri_digest("s3://b/k2"), ref="s3://b/k2"),))
    d = diff_manifests(a, b)
    assert [(f.status, f.differing_bytes) for f in d.files] == [("changed", 12)]
    assert (d.new_bytes, d.shared_bytes) == (0, 0)


_chunk = st.tuples(st.sampled_from("abcdef"), st.integers(1, 50))
_manifest = st.dictionaries(
    st.sampled_from(["p", "q", "r/s", "t"]), st.lists(_chunk, min_size=1, max_size=4)
).map(lambda files: Manifest(tuple(_file(p, *cs) for p, cs in files.items())))


@given(_manifest, _manifest)
def test_every_path_is_accounted_once_and_bytes_add_up(old: Manifest, new: Manifest) -> None:
    d = diff_manifests(old, new)
    new_side = sorted(f.path for f in d.files if f.status != "removed")
    old_side = sorted(f.old_path or f.path for f in d.files if f.status != "added")
    assert new_side == sorted(e.path for e in new)
    assert old_side == sorted(e.path for e in old)
    distinct = {c.hash: c.size for e in new for c in e.chunks}
    assert d.new_bytes + d.shared_bytes == sum(distinct.values())
    assert all(0 <= f.differing_bytes <= (f.new_size or 0) for f in d.files)
    assert diff_manifests(new, new).identical
