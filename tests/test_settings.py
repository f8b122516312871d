"""Settings from the environment: every knob checked, none dead (issue 16)."""

from __future__ import annotations

import dataclasses

import pytest

from asyncart.config import Settings, env_flag
from asyncart.core.chunking import ChunkerSpec
from asyncart.errors import ConfigError


def test_a_large_fixed_chunker_is_a_valid_setting() -> None:
    """A 12 MiB fixed chunker used to be refused by the unused read_block_size check."""
    settings = Settings.from_env({"ASYNCART_CHUNKER": "fixed", "ASYNCART_CHUNK_SIZE": "12582912"})
    assert settings.chunker == ChunkerSpec.fixed(12582912)
    assert "read_block_size" not in {f.name for f in dataclasses.fields(Settings)}


@pytest.mark.parametrize("text,value", [("1", True), ("YES", True), (" on ", True),
                                        ("true", True), ("0", False), ("off", False),
                                        ("No", False), ("", None)])
def test_env_flag_reads_yes_and_no(text: str, value: bool | None) -> None:
    assert env_flag({"ASYNCART_X": text}, "ASYNCART_X") is value
    assert env_flag({}, "ASYNCART_X") is None


@pytest.mark.parametrize("var", ["ASYNCART_HASH_CACHE", "ASYNCART_DIRECT_TRANSFER",
                                 "ASYNCART_ALLOW_INSECURE_KEY"])
def test_every_boolean_variable_names_itself_when_wrong(var: str) -> None:
    with pytest.raises(ConfigError, match=var):
        Settings.from_env({var: "maybe"})
    flipped = Settings.from_env({var: "0"})
    assert getattr(flipped, var.removeprefix("ASYNCART_").lower()) is False


@pytest.mark.parametrize("changes,field", [
    ({"range_size": 1000}, "range size"),
    ({"range_size": 1 << 30}, "range size"),
    ({"connect_timeout": 0}, "connect_timeout"),
    ({"retry_initial_wait": -1.0}, "retry_initial_wait"),
    ({"retry_initial_wait": 5.0, "retry_max_wait": 1.0}, "retry_max_wait"),
    ({"idle_timeout": float("nan")}, "idle_timeout"),
])
def test_out_of_range_settings_are_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        Settings(**changes)  # type: ignore[arg-type]
