"""Applying retention, then garbage collection: what ``asyncart server gc`` and
``asyncart gc`` run.

Retention (rules: ``core/retention.py``; docs/retention.md) deletes the versions the
policies and ttls select, one transaction per collection, each deletion appended to
the audit log as ``delete`` with ``reason: retention``; gc then frees the packs no
remaining version uses. A dry run changes nothing: it lists the versions that would
go, per version the bytes no remaining version holds, and what gc would then free
(a dry gc that counts those versions as deleted already).
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass, field

from asyncart.core.humanize import human_size
from asyncart.core.retention import PROTECTED_ALIASED, PROTECTED_LINKED
from asyncart.repo.audit import AuditEvent, AuditLog
from asyncart.repo.gc import DEFAULT_GRACE, GcReport, collect_garbage
from asyncart.repo.metastores.base_retention import CollectionRetention
from asyncart.repo.service import Repository

_PROTECTION = {
    PROTECTED_LINKED: "a link points at it",
    PROTECTED_ALIASED: "it holds an alias (the policy keeps aliased versions)",
}


@dataclass
class RetentionReport:
    """What retention selected (and, unless ``dry_run``, deleted), per collection."""

    dry_run: bool
    collections: list[CollectionRetention] = field(default_factory=list)

    @property
    def deleted(self) -> list[str]:
        """``project/name:vN`` of every version that goes (went)."""
        return [
            f"{c.artifact}:{d.version}" for c in self.collections for d in c.decisions if d.goes
        ]

    def to_json(self, unshared: dict[str, int] | None = None) -> dict[str, object]:
        out = []
        for c in self.collections:
            for d in c.decisions:
                label = f"{c.artifact}:{d.version}"
                item: dict[str, object] = {
                    "version": label,
                    "reason": d.reason,
                    "aliases": list(d.aliases),
                    "deleted": d.goes and not self.dry_run,
                    "protected": d.protected,
                }
                if unshared is not None and d.goes:
                    item["unshared_bytes"] = unshared.get(label, 0)
                out.append(item)
        return {"dry_run": self.dry_run, "versions": out}

    def lines(self, unshared: dict[str, int] | None = None) -> list[str]:
        """One line per version selected, then a count; nothing when nothing was selected
        (gc's own lines then read as before retention existed)."""
        if not self.collections:
            return []
        verb = "would delete" if self.dry_run else "deleted"
        out = []
        for c in self.collections:
            for d in c.decisions:
                label = f"{c.artifact}:{d.version}"
                why = "its ttl expired" if d.reason == "ttl" else "beyond the retention policy"
                if d.protected is not None:
                    out.append(f"retention: kept {label} ({why}, but {_PROTECTION[d.protected]})")
                    continue
                frees = ""
                if unshared is not None:
                    frees = f"; {human_size(unshared.get(label, 0))} no other version holds"
                out.append(f"retention: {verb} {label} ({why}{frees})")
        out.append(f"retention: {verb} {len(self.deleted)} version(s)")
        return out


async def apply_retention(
    repo: Repository,
    *,
    dry_run: bool = False,
    now: float | None = None,
    audit: AuditLog | None = None,
    via: str = "asyncart server gc",
) -> RetentionReport:
    """Apply every collection's retention (see the module doc) at ``now`` (default: the
    current time); record each deletion in ``audit`` when given."""
    now = time.time() if now is None else now
    report = RetentionReport(dry_run=dry_run)
    for project, name in await repo.meta.retention_collections():
        done = await repo.meta.apply_retention(project, name, now=now, dry_run=dry_run)
        if done.decisions:
            report.collections.append(done)
        if audit is None or dry_run:
            continue
        for d in done.decisions:
            if d.goes:
                await audit.record(_deletion_event(done, d.index, d.reason, d.aliases, via))
    return report


def _deletion_event(
    done: CollectionRetention, index: int, reason: str, aliases: tuple[str, ...], via: str
) -> AuditEvent:
    try:
        os_user = getpass.getuser()
    except (OSError, KeyError):
        os_user = "unknown"
    return AuditEvent(
        action="delete",
        user=None,
        project=done.project,
        artifact=done.name,
        version=index,
        detail={
            "reason": "retention",
            "rule": reason,
            "policy": None if done.policy is None else done.policy.to_json(),
            "aliases": list(aliases),
            "via": via,
            "os_user": os_user,
        },
    )


async def retain_and_collect(
    repo: Repository,
    *,
    grace: float = DEFAULT_GRACE,
    dry_run: bool = False,
    retention: bool = True,
    now: float | None = None,
    audit: AuditLog | None = None,
    via: str = "asyncart server gc",
) -> tuple[RetentionReport | None, GcReport]:
    """Retention (unless ``retention`` is False), then gc; see the module doc."""
    kept: RetentionReport | None = None
    if retention:
        kept = await apply_retention(repo, dry_run=dry_run, now=now, audit=audit, via=via)
    forget = kept.deleted if kept is not None and dry_run else ()
    return kept, await collect_garbage(repo, grace=grace, dry_run=dry_run, forget=forget)
