"""The retention rules (core/retention.py): which versions a policy and their ttl select,
and which protection keeps; no store involved."""

from __future__ import annotations

import pytest

from asyncart.core.retention import (
    BEYOND_POLICY,
    PROTECTED_ALIASED,
    PROTECTED_LINKED,
    TTL_EXPIRED,
    Candidate,
    RetentionPolicy,
    decide,
)
from asyncart.errors import ConfigError

DAY = 86400.0
NOW = 100 * DAY


def v(index: int, age_days: float, *aliases: str, ttl: int | None = None, linked: bool = False):
    return Candidate(index, NOW - age_days * DAY, ttl, aliases, linked)


def going(policy: RetentionPolicy | None, versions: list[Candidate]) -> list[tuple[int, str]]:
    return [(d.index, d.reason) for d in decide(policy, versions, NOW) if d.goes]


def test_keep_last_keeps_the_newest_and_latest_does_not_protect() -> None:
    versions = [v(0, 9), v(1, 8), v(2, 7), v(3, 6, "latest")]
    assert going(RetentionPolicy(keep_last=2), versions) == [(0, BEYOND_POLICY), (1, BEYOND_POLICY)]
    # max_age alone may empty a collection: latest is not a protecting alias
    assert [i for i, _ in going(RetentionPolicy(max_age=int(DAY)), versions)] == [0, 1, 2, 3]


def test_the_rules_are_a_union_of_keeps() -> None:
    versions = [v(0, 40), v(1, 35), v(2, 10), v(3, 5), v(4, 1)]
    policy = RetentionPolicy(keep_last=1, max_age=int(30 * DAY))
    assert going(policy, versions) == [(0, BEYOND_POLICY), (1, BEYOND_POLICY)]


def test_aliased_and_linked_versions_are_protected_unless_the_policy_says_otherwise() -> None:
    versions = [v(0, 9, "best"), v(1, 8, linked=True), v(2, 7), v(3, 1, "latest")]
    decisions = {d.index: d for d in decide(RetentionPolicy(keep_last=1), versions, NOW)}
    assert decisions[0].protected == PROTECTED_ALIASED
    assert decisions[1].protected == PROTECTED_LINKED
    assert decisions[2].goes
    loose = RetentionPolicy(keep_last=1, keep_aliased=False)
    assert going(loose, versions) == [(0, BEYOND_POLICY), (2, BEYOND_POLICY)]  # links stay


def test_a_ttl_expires_a_version_with_or_without_a_policy_but_not_an_aliased_one() -> None:
    versions = [v(0, 2, ttl=int(DAY)), v(1, 2, ttl=int(3 * DAY)), v(2, 2, "best", ttl=1)]
    assert going(None, versions) == [(0, TTL_EXPIRED)]
    assert going(RetentionPolicy(keep_last=5), versions) == [(0, TTL_EXPIRED)]
    assert going(RetentionPolicy(keep_last=5, keep_aliased=False), versions) == [
        (0, TTL_EXPIRED),
        (2, TTL_EXPIRED),
    ]


@pytest.mark.parametrize(
    ("keep_last", "max_age", "keep_aliased"),
    [
        (None, None, True),
        (0, None, True),
        (-3, None, True),
        (10**7, None, True),
        (None, 0, True),
        (None, 2**40, True),
        (True, None, True),
        (1.5, None, True),
        (1, None, "yes"),
    ],
)
def test_policies_out_of_range_are_refused(
    keep_last: object, max_age: object, keep_aliased: object
) -> None:
    with pytest.raises(ConfigError):
        RetentionPolicy(keep_last, max_age, keep_aliased)  # type: ignore[arg-type]


def test_describe_names_the_rules() -> None:
    text = RetentionPolicy(keep_last=3, max_age=30 * 86400).describe()
    assert "the last 3 version(s) or versions younger than 30d" in text
