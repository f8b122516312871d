"""``asyncart-artifact://`` URIs: the stored form round-trips, W&B's id form and scheme
spelling parse, and every part is checked (hostile URIs at ``add_reference``:
tests/compat/test_artifact_references.py)."""

from __future__ import annotations

import pytest

from asyncart.core.entry_uris import (
    ArtifactTarget,
    artifact_uri,
    is_artifact_uri,
    parse_artifact_uri,
)
from asyncart.errors import ConfigError


@pytest.mark.parametrize(
    ("project", "name", "version", "path"),
    [
        ("default", "bike dataset", "v0", "a.csv"),
        ("p", "n", "v12", "dir/sub/100% done #1?.txt"),
        ("p", "n", "v3", "名前/ファイル.bin"),
    ],
)
def test_stored_form_round_trips(project: str, name: str, version: str, path: str) -> None:
    uri = artifact_uri(project, name, version, path)
    assert uri.startswith("asyncart-artifact://") and " " not in uri and "?" not in uri
    assert parse_artifact_uri(uri) == ArtifactTarget(path, project, name, version)
    assert parse_artifact_uri(uri).uri == uri


def test_id_form_and_wandb_spelling() -> None:
    target = parse_artifact_uri("wandb-artifact://0123456789abcdef01234567/a/b.txt")
    assert target == ArtifactTarget("a/b.txt", version_id="0123456789abcdef01234567")
    assert is_artifact_uri("WANDB-ARTIFACT://x") and not is_artifact_uri("file:///x")
    with pytest.raises(ConfigError, match="not resolved"):
        _ = target.uri


@pytest.mark.parametrize(
    "uri",
    [
        "asyncart-artifact://0123456789ABCDEF01234567/a",  # an id is lowercase hex
        "asyncart-artifact://0123456789abcdef0123456/a",  # 23 digits
        "asyncart-artifact://p/n:v01/a",  # no leading zero in a version
        "asyncart-artifact://p/:v1/a",
        "asyncart-artifact://p/n:v1/a/%2E%2E/%2E%2E/b",  # an encoded ..
    ],
)
def test_malformed_parts_are_refused(uri: str) -> None:
    with pytest.raises(ConfigError):
        parse_artifact_uri(uri)
