"""The rotation reads the asyncart CLI's own --json account of each timed command
(bench/rotation_participants.py ``note_cli``): a push that did not upload every byte to
its cold store is refused, and the time outside the CLI's timer is kept apart."""

from __future__ import annotations

import json

import pytest

from bench.measure import Measurement
from bench.rotation_participants import note_cli


def printed(**fields: object) -> str:
    return "progress noise\n" + json.dumps({"size": 1000, "seconds": 1.5, **fields}, indent=2)


def test_the_cli_account_lands_in_extra() -> None:
    m = note_cli(Measurement(wall_s=2.0, nbytes=1000), printed(bytes_downloaded=1000), "pull")
    assert m.extra["cli_seconds"] == 1.5
    assert m.extra["start_up_and_exit_s"] == pytest.approx(0.5)
    assert m.extra["bytes_downloaded"] == 1000


def test_a_push_to_a_cold_store_must_upload_every_byte() -> None:
    m = Measurement(wall_s=2.0, nbytes=1000)
    with pytest.raises(RuntimeError, match="cold store"):
        note_cli(m, printed(bytes_uploaded=600), "push", cold=True)


def test_a_size_other_than_the_file_is_refused() -> None:
    with pytest.raises(RuntimeError, match="expected 2000"):
        note_cli(Measurement(wall_s=2.0, nbytes=2000), printed(), "pull")
