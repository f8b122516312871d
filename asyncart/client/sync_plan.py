"""What an ``asyncart sync`` will copy, found before any byte moves (``sync.py``).

A :class:`Selection` names a collection (all of its versions, or one). The plan holds,
per source collection, the logged versions to copy, oldest first, and the links of
each: a link selected stands for its source version (whose links include it), so
selecting a registry collection copies the versions it links and links them again.
The projects the copy writes to (the selections' and the links') are known from it, so
the destination's permissions are checked for all of them first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from asyncart.client.remote import Remote
from asyncart.core.models import VersionInfo
from asyncart.errors import ConfigError


@dataclass(frozen=True)
class Selection:
    """What to copy: one collection of a project, all of its versions or one (``ref``)."""

    project: str
    name: str
    ref: str | None = None


@dataclass
class CollectionPlan:
    """The logged versions of one source collection to copy, and their links."""

    project: str
    name: str
    versions: dict[int, VersionInfo] = field(default_factory=dict)
    links: dict[int, list[VersionInfo]] = field(default_factory=dict)

    def ordered(self) -> list[VersionInfo]:
        return [self.versions[i] for i in sorted(self.versions)]


@dataclass
class SyncPlan:
    """Every collection to copy, in the order first selected."""

    collections: dict[tuple[str, str], CollectionPlan] = field(default_factory=dict)

    @property
    def projects(self) -> list[str]:
        """The destination projects the copy writes versions or links to."""
        out: dict[str, None] = {}
        for plan in self.collections.values():
            out[plan.project] = None
            for links in plan.links.values():
                out.update((link.project, None) for link in links)
        return list(out)

    @property
    def link_targets(self) -> list[tuple[str, str]]:
        """(project, collection) of every link the copy makes."""
        found: dict[tuple[str, str], None] = {}
        for plan in self.collections.values():
            for links in plan.links.values():
                found.update(((link.project, link.name), None) for link in links)
        return list(found)

    @property
    def total_bytes(self) -> int:
        return sum(v.size for p in self.collections.values() for v in p.versions.values())

    @property
    def total_files(self) -> int:
        return sum(v.file_count for p in self.collections.values() for v in p.versions.values())


async def selections(src: Remote, names: Sequence[str], project: str | None) -> list[Selection]:
    """``[project/]NAME[:REF]`` references as selections; none: every collection of
    ``project`` (or of every project of the source)."""
    if names:
        return [parse_selection(n, project) for n in names]
    projects = [project] if project else await src.list_projects()
    out = []
    for p in projects:
        out += [Selection(p, c.name) for c in await src.list_collections(p)]
    return out


async def make_plan(src: Remote, chosen: Sequence[Selection]) -> SyncPlan:
    """The versions and links to copy for ``chosen`` (reads the source only)."""
    plan = SyncPlan()
    for sel in chosen:
        if sel.ref is None:
            found = await src.list_versions(sel.project, sel.name)
        else:
            found = [await src.get_version(sel.project, sel.name, sel.ref)]
        for version in found:
            if version.source is not None:  # a link: copy its source, which links it again
                s = version.source
                version = await src.get_version(s.project, s.name, s.version)
            coll = plan.collections.setdefault(
                (version.project, version.name), CollectionPlan(version.project, version.name)
            )
            coll.versions.setdefault(version.index, version)
    for coll in plan.collections.values():
        for index, version in coll.versions.items():
            links = await src.list_links(coll.project, coll.name, version.version)
            coll.links[index] = [v for v in links if v.source is not None]
    return plan


def parse_selection(reference: str, project: str | None) -> Selection:
    """``[project/]NAME[:REF]`` as a selection (``project`` when the reference has none).

    Raises:
        ConfigError: the reference names no project and ``project`` is None.
    """
    rest = reference
    proj = project
    if "/" in rest:
        proj, rest = rest.split("/", 1)
    name, _, ref = rest.partition(":")
    if not proj:
        raise ConfigError(
            f"{reference!r} names no project: write project/{reference} or use --project"
        )
    return Selection(proj, name, ref or None)
