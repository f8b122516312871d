"""Retention: which versions of a collection a policy (and their own ttl) lets go.

Pure rules, no I/O (docs/retention.md has the reasoning):

* A version is **kept by the policy** when it is one of the newest ``keep_last``
  versions, or younger than ``max_age`` seconds; a policy names at least one of the
  two, and a version kept by either rule stays (the union, as ``restic forget``'s
  ``--keep-*`` options).
* A version's own **ttl** (W&B's ``artifact.ttl``, seconds after ``created_at``) expires
  it whatever the policy says, even with no policy: W&B deletes an artifact "shortly
  after its TTL passes".
* **Protection** beats both: a version a link points at (a registry or portfolio
  entry) is never deleted by retention; a version holding an alias other than
  ``latest`` is kept while the policy's ``keep_aliased`` is True (the default, also for
  a collection with no policy: a ttl never deletes an aliased version unless a policy
  with ``keep_aliased=False`` says so; W&B's server decides that silently). ``latest`` is
  not a protecting alias: it moves by itself, and deleting the version it names moves
  it to the newest remaining version (the rule of ``asyncart delete``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asyncart.core import protocol as P
from asyncart.core.names import LATEST, format_version
from asyncart.errors import ConfigError

#: The largest ``keep_last`` a policy may name.
MAX_KEEP_LAST = 1_000_000
#: The longest ``max_age`` (seconds), as long as the longest ttl (~68 years).
MAX_AGE_SECONDS = P.MAX_TTL_SECONDS

#: Why a version goes (reason strings in reports, the audit log and JSON).
TTL_EXPIRED = "ttl"
BEYOND_POLICY = "policy"
#: Why a version that would go stays.
PROTECTED_LINKED = "linked"
PROTECTED_ALIASED = "aliased"


@dataclass(frozen=True)
class RetentionPolicy:
    """A collection's retention policy.

    Args:
        keep_last: keep the newest N versions (1 to :data:`MAX_KEEP_LAST`); None: no
            count rule.
        max_age: keep versions younger than this many seconds (1 to
            :data:`MAX_AGE_SECONDS`); None: no age rule.
        keep_aliased: keep versions holding an alias other than ``latest``.
    """

    keep_last: int | None = None
    max_age: int | None = None
    keep_aliased: bool = True

    def __post_init__(self) -> None:
        check_policy(self.keep_last, self.max_age, self.keep_aliased)

    def to_json(self) -> dict[str, object]:
        return {
            "keep_last": self.keep_last,
            "max_age": self.max_age,
            "keep_aliased": self.keep_aliased,
        }

    def describe(self) -> str:
        """``keep the last 5 versions or those younger than 30d; aliased versions kept``."""
        rules = []
        if self.keep_last is not None:
            rules.append(f"the last {self.keep_last} version(s)")
        if self.max_age is not None:
            rules.append(f"versions younger than {human_seconds(self.max_age)}")
        aliased = "kept" if self.keep_aliased else "not protected"
        return f"keep {' or '.join(rules)}; aliased versions {aliased}; linked versions kept"


def check_policy(keep_last: object, max_age: object, keep_aliased: object) -> None:
    """Raise ConfigError unless the three values make a policy (see :class:`RetentionPolicy`)."""
    for value, what, top in (
        (keep_last, "keep_last", MAX_KEEP_LAST),
        (max_age, "max_age", MAX_AGE_SECONDS),
    ):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise ConfigError(f"{what} must be a whole number from 1 to {top}, got {value!r}")
    if not isinstance(keep_aliased, bool):
        raise ConfigError(f"keep_aliased must be true or false, got {keep_aliased!r}")
    if keep_last is None and max_age is None:
        raise ConfigError(
            "a retention policy needs keep_last, max_age or both (to remove a policy, clear it)"
        )


def human_seconds(seconds: int) -> str:
    """``30d``, ``12h``, ``90m``, ``45s``: the largest unit that divides ``seconds``."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Candidate:
    """What retention needs to know about one version."""

    index: int
    created_at: float
    ttl: int | None
    aliases: tuple[str, ...]
    linked: bool  # a link points at it


@dataclass(frozen=True)
class Decision:
    """A version retention would delete (``protected`` None) or keeps only because of
    a protection rule (``protected`` names it)."""

    index: int
    reason: str  # TTL_EXPIRED or BEYOND_POLICY
    aliases: tuple[str, ...]
    protected: str | None = None

    @property
    def version(self) -> str:
        return format_version(self.index)

    @property
    def goes(self) -> bool:
        return self.protected is None


def decide(
    policy: RetentionPolicy | None, versions: Sequence[Candidate], now: float
) -> list[Decision]:
    """The versions of one collection that retention selects at time ``now``, oldest first
    (see the module doc); those protected are returned with ``protected`` set."""
    newest_first = sorted(versions, key=lambda v: v.index, reverse=True)
    out = []
    for rank, v in enumerate(newest_first):
        if v.ttl is not None and v.created_at + v.ttl <= now:
            reason = TTL_EXPIRED
        elif policy is not None and not _kept_by(policy, rank, v, now):
            reason = BEYOND_POLICY
        else:
            continue
        named = tuple(a for a in v.aliases if a != LATEST)
        protected = None
        if v.linked:
            protected = PROTECTED_LINKED
        elif named and (policy is None or policy.keep_aliased):
            protected = PROTECTED_ALIASED
        out.append(Decision(v.index, reason, v.aliases, protected))
    return sorted(out, key=lambda d: d.index)


def _kept_by(policy: RetentionPolicy, rank: int, v: Candidate, now: float) -> bool:
    if policy.keep_last is not None and rank < policy.keep_last:
        return True
    return policy.max_age is not None and now - v.created_at < policy.max_age
