"""``artifact.diff(other)``: what changed from one logged version to another.

Both manifests are what the artifacts already hold (a reference string is fetched:
its version info and manifest, one read each), so a diff never reads pack bytes. The
comparison itself is pure (``core/manifest_diff.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncart.client.client import Client
from asyncart.core.diff_report import stat_lines
from asyncart.core.manifest import Manifest
from asyncart.core.manifest_diff import FileDiff, ManifestDiff, Status, diff_manifests
from asyncart.core.models import VersionInfo
from asyncart.core.names import parse_artifact_ref


@dataclass(frozen=True)
class ArtifactDiff:
    """The changes from version ``old`` (A) to version ``new`` (B).

    ``old``/``new`` are ``project/name:vN``; the figures are :class:`ManifestDiff`'s
    (``new_bytes``: bytes of chunks of B that A lacks; ``shared_bytes``: of those A holds).
    ``str()`` gives the ``asyncart diff`` lines.
    """

    old: str
    new: str
    manifest_diff: ManifestDiff

    @property
    def files(self) -> tuple[FileDiff, ...]:
        return self.manifest_diff.files

    def of(self, status: Status) -> list[FileDiff]:
        """The files ``added``, ``removed``, ``changed``, ``renamed`` or ``unchanged``."""
        return self.manifest_diff.of(status)

    @property
    def new_bytes(self) -> int:
        return self.manifest_diff.new_bytes

    @property
    def shared_bytes(self) -> int:
        return self.manifest_diff.shared_bytes

    @property
    def identical(self) -> bool:
        return self.manifest_diff.identical

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, **self.manifest_diff.to_json()}

    def __str__(self) -> str:
        return "\n".join([f"{self.old} -> {self.new}", *stat_lines(self.manifest_diff)])


def artifact_diff(
    old: VersionInfo, old_manifest: Manifest, new: VersionInfo, new_manifest: Manifest
) -> ArtifactDiff:
    """The diff of two stored versions, from their manifests."""
    return ArtifactDiff(
        old.qualified_name, new.qualified_name, diff_manifests(old_manifest, new_manifest)
    )


async def fetch_version(
    client: Client, reference: str, default_project: str
) -> tuple[VersionInfo, Manifest]:
    """The version ``[project/]name[:ref]`` names and its manifest (no use is recorded)."""
    ref = parse_artifact_ref(reference)
    project = ref.project or default_project
    async with client.use() as remote:
        info = await remote.get_version(project, ref.name, ref.ref)
        return info, await remote.get_manifest(project, ref.name, info.version)
