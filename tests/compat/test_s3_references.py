"""``s3://`` references, as W&B's S3 handler records and loads them (test_references_s3.py,
test_s3_handler.py): an object by ETag (and version id), a prefix as one entry per
object, fetched on download and held to the recorded ETag.

Against the SeaweedFS S3 server the tests already run (``tests/support/s3.py``), through
the embedded store (the references never reach the store's own bytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from tests.support.s3 import S3Bucket, s3_bucket, s3_server  # noqa: F401 - fixtures

S3 = "tests/unit_tests/test_artifacts/test_references_s3.py"


@pytest.fixture
def objects(s3_bucket: S3Bucket) -> Iterator[tuple[Any, str]]:  # noqa: F811 - a fixture
    """A client of the bucket and its name; the objects a test put are removed after."""
    client = s3_bucket.server.client()
    try:
        yield client, s3_bucket.name
    finally:
        listed = client.list_objects_v2(Bucket=s3_bucket.name).get("Contents", [])
        for obj in listed:
            client.delete_object(Bucket=s3_bucket.name, Key=obj["Key"])
        client.close()


def log(art: asyncart.Artifact) -> asyncart.Artifact:
    with asyncart.init(job_type="t") as run:
        run.log_artifact(art)
    return asyncart.Api().artifact(art.name)  # NAME:vN once logged


def test_add_s3_reference_object(objects: tuple[Any, str]) -> None:
    """Mirrors test_references_s3.py::test_add_s3_reference_object: one entry named by the
    key, its size recorded, the URI as ref; it downloads, and ref_target() is the URI."""
    client, bucket = objects
    client.put_object(Bucket=bucket, Key="my_path/my_object.pb", Body=b"model bytes")
    art = asyncart.Artifact("s3ref", "model")
    (entry,) = art.add_reference(f"s3://{bucket}/my_path/my_object.pb")
    assert (entry.path, entry.size) == ("my_object.pb", 11)
    assert entry.ref is not None and entry.ref.startswith(f"s3://{bucket}/my_path/my_object.pb")
    logged = log(art)
    path = logged.get_entry("my_object.pb").download("out")
    assert Path(path).read_bytes() == b"model bytes"
    assert logged.get_entry("my_object.pb").ref_target() == entry.ref


def test_add_s3_reference_prefix(objects: tuple[Any, str]) -> None:
    """Mirrors test_references_s3.py::test_add_s3_reference_object_directory,
    ::test_add_s3_reference_path and ::test_add_s3_max_objects: an entry per object below a
    prefix (the bucket root too), under name/ if given; max_objects bounds them."""
    client, bucket = objects
    for key, body in {"data/a.csv": b"a", "data/sub/b.csv": b"bb", "other.csv": b"c"}.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    art = asyncart.Artifact("s3dir", "dataset")
    entries = art.add_reference(f"s3://{bucket}/data", name="train")
    assert sorted((e.path, e.size) for e in entries) == [("train/a.csv", 1), ("train/sub/b.csv", 2)]
    whole = asyncart.Artifact("s3root", "dataset").add_reference(f"s3://{bucket}/")
    assert sorted(e.path for e in whole) == ["data/a.csv", "data/sub/b.csv", "other.csv"]
    with pytest.raises(ValueError, match="max_objects"):
        asyncart.Artifact("x", "dataset").add_reference(f"s3://{bucket}/data", max_objects=1)
    root = Path(log(art).download("out"))
    assert (root / "train" / "sub" / "b.csv").read_bytes() == b"bb"


def test_s3_reference_changed_after_logging_is_refused(objects: tuple[Any, str]) -> None:
    """Mirrors S3Handler.load_path (s3_handler.py): an object whose ETag is not the recorded
    one (overwritten, no version to fetch) does not download."""
    client, bucket = objects
    client.put_object(Bucket=bucket, Key="w.bin", Body=b"first")
    art = asyncart.Artifact("s3w", "model")
    art.add_reference(f"s3://{bucket}/w.bin")
    logged = log(art)
    client.put_object(Bucket=bucket, Key="w.bin", Body=b"second, other bytes")
    with pytest.raises(asyncart.IntegrityError, match="changed since it was logged"):
        logged.download("out")
    assert not Path("out/w.bin").exists()


def test_missing_s3_reference(objects: tuple[Any, str]) -> None:
    """Mirrors test_references_s3.py (missing objects) and Artifact._download: a deleted
    object raises FileNotFoundError unless allow_missing_references=True; adding a key
    that is neither an object nor a prefix fails at once."""
    client, bucket = objects
    client.put_object(Bucket=bucket, Key="gone.bin", Body=b"soon gone")
    Path("kept.txt").write_text("kept")
    art = asyncart.Artifact("s3gone", "model")
    art.add_file("kept.txt")
    art.add_reference(f"s3://{bucket}/gone.bin")
    logged = log(art)
    client.delete_object(Bucket=bucket, Key="gone.bin")
    with pytest.raises(FileNotFoundError):
        logged.download("strict")
    assert sorted(p.name for p in Path(logged.download("lenient", True)).iterdir()) == ["kept.txt"]
    with pytest.raises(FileNotFoundError):
        asyncart.Artifact("x", "model").add_reference(f"s3://{bucket}/never/there")


def test_s3_reference_without_checksum(objects: tuple[Any, str]) -> None:
    """Mirrors test_references_s3.py::test_add_reference_s3_no_checksum: the URI only (S3 is
    not asked); the download takes what the key holds then."""
    client, bucket = objects
    client.put_object(Bucket=bucket, Key="live.txt", Body=b"one")
    art = asyncart.Artifact("s3live", "dataset")
    (entry,) = art.add_reference(f"s3://{bucket}/live.txt", checksum=False)
    assert entry.path == "live.txt"
    logged = log(art)
    client.put_object(Bucket=bucket, Key="live.txt", Body=b"two, changed")
    assert Path(logged.download("out"), "live.txt").read_bytes() == b"two, changed"
