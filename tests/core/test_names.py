"""Artifact, project and alias names, and ``project/name:ref`` references."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncart.core.names import (
    LATEST,
    MAX_NAME_LENGTH,
    ArtifactRef,
    format_version,
    parse_artifact_ref,
    parse_version,
    validate_alias,
    validate_name,
)
from asyncart.errors import ConfigError, InvalidNameError

# -- validate_name -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "bike dataset",
        "mnist",
        "resnet-50_weights.v2",
        "v3",  # a version-like *name* is fine; only aliases may not look like versions
        "latest",
        "a",
        "x" * MAX_NAME_LENGTH,
        "données d'entraînement",
        "数据集",
        "a.b",
        "..a",
        "a (copy) #2 + [final]",
    ],
)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("x" * (MAX_NAME_LENGTH + 1), "limit is 128"),
        (" bike", "whitespace"),
        ("bike ", "whitespace"),
        ("\tbike", "whitespace"),
        ("bike\n", "whitespace"),
        ("team/bike", "'/'"),
        ("bike:v1", "':'"),
        ("a\x00b", "control"),
        ("a\x07b", "control"),
        ("a\x1bb", "control"),
        ("a\nb", "control"),
        ("a\rb", "control"),
        ("a\x7fb", "control"),
        ("a\u200bb", "control"),  # zero-width space: format character (Cf)
        ("a\\b", "backslash"),
        (".", "reserved"),
        ("..", "reserved"),
    ],
)
def test_invalid_names_are_refused_with_the_rule(name: str, fragment: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    assert fragment in str(info.value)


def test_invalid_name_error_is_a_config_error_and_value_error() -> None:
    with pytest.raises(ConfigError):
        validate_name("a/b")
    with pytest.raises(ValueError):
        validate_name("a/b")


@pytest.mark.parametrize("value", [None, 3, b"bike", ["bike"]])
def test_non_string_names_are_refused(value: object) -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        validate_name(value)


def test_the_message_names_what_was_validated() -> None:
    with pytest.raises(InvalidNameError, match=r"^project name"):
        validate_name("", what="project name")


def test_overlong_name_message_is_truncated_not_echoed_whole() -> None:
    name = "y" * 10_000
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    assert "10000 characters" in str(info.value)
    assert len(str(info.value)) < 300


# -- validate_alias / versions ---------------------------------------------------


@pytest.mark.parametrize(
    "alias", ["latest", "production", "best model", "v", "v01", "V3", "v-3", "3"]
)
def test_valid_aliases(alias: str) -> None:
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("alias", ["v0", "v3", "v1234567890"])
def test_version_like_aliases_are_refused(alias: str) -> None:
    with pytest.raises(InvalidNameError, match="looks like a version"):
        validate_alias(alias)


@pytest.mark.parametrize("alias", ["", " prod", "a:b", "a/b", "a\x00"])
def test_aliases_follow_the_name_rules(alias: str) -> None:
    with pytest.raises(InvalidNameError, match=r"^alias"):
        validate_alias(alias)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("v0", 0), ("v3", 3), ("v10", 10), ("v1234567890", 1234567890)],
)
def test_parse_version(text: str, expected: int) -> None:
    assert parse_version(text) == expected
    assert format_version(expected) == text


@pytest.mark.parametrize(
    "text", ["v", "v01", "V3", "3", "v-1", "v3 ", "latest", "v12345678901", "v3a"]
)
def test_parse_version_leaves_non_versions_as_aliases(text: str) -> None:
    assert parse_version(text) is None


# -- parse_artifact_ref ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bike dataset", ArtifactRef("bike dataset", LATEST, None)),
        ("bike dataset:v3", ArtifactRef("bike dataset", "v3", None)),
        ("bike dataset:production", ArtifactRef("bike dataset", "production", None)),
        (
            "my project/bike dataset:best model",
            ArtifactRef("bike dataset", "best model", "my project"),
        ),
        ("proj/mnist", ArtifactRef("mnist", LATEST, "proj")),
        ("proj/mnist:v0", ArtifactRef("mnist", "v0", "proj")),
        ("team/proj/mnist:v0", ArtifactRef("mnist", "v0", "proj", "team")),
        ("team/proj/mnist", ArtifactRef("mnist", LATEST, "proj", "team")),
    ],
)
def test_parse_artifact_ref(text: str, expected: ArtifactRef) -> None:
    assert parse_artifact_ref(text) == expected


def test_version_index_of_parsed_refs() -> None:
    assert parse_artifact_ref("p/m:v3").version_index == 3
    assert parse_artifact_ref("p/m:prod").version_index is None
    assert parse_artifact_ref("p/m").version_index is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "must not be empty"),
        ("a/b/c/d", "more than two '/'"),  # a/b/c is entity/project/name (issue 17)
        ("/p/bike", "entity name"),
        ("a:b:c", "more than one ':'"),
        ("bike:", "empty version"),
        ("/bike", "project name"),
        ("proj/", "artifact name"),
        ("proj/:v1", "artifact name"),
        (":v1", "artifact name"),
        (" bike:v1", "whitespace"),
        ("bike: prod", "whitespace"),
        ("bike:pr\x00d", "control"),
        ("p\tx/bike", "project name"),
        ("b\\ike", "backslash"),
        ("x" * 129 + ":v1", "limit is 128"),
    ],
)
def test_malformed_refs_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        parse_artifact_ref(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize("value", [None, 1, b"a:v1"])
def test_non_string_refs_are_refused(value: object) -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        parse_artifact_ref(value)


def test_str_of_ref() -> None:
    assert str(ArtifactRef("bike dataset")) == "bike dataset:latest"
    assert str(ArtifactRef("m", "v2", "p")) == "p/m:v2"


# -- property: every accepted name round-trips ------------------------------------

_name_chars = st.characters(codec="utf-8", exclude_characters="/:")
candidate_names = st.text(_name_chars, min_size=1, max_size=MAX_NAME_LENGTH + 4)


def _accepted(name: str) -> bool:
    try:
        validate_name(name)
    except InvalidNameError:
        return False
    return True


def _accepted_alias(alias: str) -> bool:
    try:
        validate_alias(alias)
    except InvalidNameError:
        return False
    return True


names = candidate_names.filter(_accepted)
refs = st.one_of(
    st.integers(min_value=0, max_value=9_999_999_999).map(format_version),
    candidate_names.filter(_accepted_alias),
)


@given(name=names, ref=refs, project=st.one_of(st.none(), names))
def test_accepted_names_round_trip_through_str_and_parse(
    name: str, ref: str, project: str | None
) -> None:
    original = ArtifactRef(name=name, ref=ref, project=project)
    parsed = parse_artifact_ref(str(original))
    assert parsed == original
    assert parsed.version_index == parse_version(ref)


@given(name=names)
def test_bare_accepted_name_parses_to_latest(name: str) -> None:
    assert parse_artifact_ref(name) == ArtifactRef(name=name, ref=LATEST, project=None)


@given(text=st.text(max_size=40))
def test_parse_either_accepts_or_raises_invalid_name(text: str) -> None:
    try:
        ref = parse_artifact_ref(text)
    except InvalidNameError:
        return
    assert validate_name(ref.name) == ref.name
    assert parse_artifact_ref(str(ref)) == ref
