"""The one size and time formatter every report prints through."""

from __future__ import annotations

import pytest

from asyncart.core.humanize import human_size, human_time


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536 << 10, "1.5 MiB"),
        (3 << 30, "3.0 GiB"),
        (2048 << 40, "2048.0 TiB"),  # TiB is the largest unit
        (-2048, "-2.0 KiB"),
    ],
)
def test_sizes_read_in_binary_units(n: int, shown: str) -> None:
    assert human_size(n) == shown


def test_times_read_as_date_and_clock() -> None:
    assert human_time(1_800_000_000, utc=True) == "2027-01-15 08:00:00Z"
    assert len(human_time(1_800_000_000)) == len("2027-01-15 08:00:00")  # local: zone varies
