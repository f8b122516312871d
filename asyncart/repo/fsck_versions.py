"""fsck's check of the versions and manifest objects (see :mod:`asyncart.repo.fsck`).

Every version's manifest object must exist, be the one its commit stored (its BLAKE3 is
the recorded manifest hash; it describes the version's digest, size and file count) and
decode, and every chunk it names must be indexed and not found damaged. Manifest objects no
version reads are garbage (noted), or damaged garbage (removed by ``repair``).
"""

from __future__ import annotations

from collections.abc import Sequence

from asyncart.core.manifest import Manifest
from asyncart.errors import ConfigError, NotFoundError
from asyncart.repo.fsck_packs import FsckIndex
from asyncart.repo.fsck_report import (
    GARBAGE,
    MANIFEST_BAD,
    MANIFEST_MISMATCH,
    VERSION_INCOMPLETE,
    Finding,
    FsckReport,
)
from asyncart.repo.fsck_report import repaired as _repaired
from asyncart.repo.housekeeping import (
    ManifestMismatch,
    check_describes,
    check_unreferenced,
    describe,
    read_manifest,
    remove_manifest,
)
from asyncart.repo.metastores.base import StoredVersion
from asyncart.repo.service import Repository


async def check_versions(
    repo: Repository, report: FsckReport, index: FsckIndex, versions: list[StoredVersion]
) -> set[str]:
    """Check every version's manifest and chunks; returns the chunks versions use."""
    by_name: dict[str, list[StoredVersion]] = {}
    report.versions = len(versions)
    for version in versions:
        by_name.setdefault(version.manifest_name, []).append(version)
    usable = {c.hash for members in index.chunks.values() for c in members} - index.damaged
    live: set[str] = set()
    for name, users in by_name.items():
        manifest = await _read_checked(repo, report, name, users)
        if manifest is None:
            continue
        hashes = manifest.chunk_hashes()
        live.update(hashes)
        lacking = sorted(hashes - usable)
        if lacking:
            report.findings.append(
                Finding(
                    VERSION_INCOMPLETE,
                    name,
                    f"{_labels(users)}: {len(lacking)} of its {len(hashes)} chunk(s) are "
                    f"missing or damaged (first: {lacking[0]})",
                    action="push its files again: the push uploads exactly those chunks",
                )
            )
    await _check_unreferenced(repo, report, set(by_name))
    return live


async def _read_checked(
    repo: Repository, report: FsckReport, name: str, users: list[StoredVersion]
) -> Manifest | None:
    """The manifest object ``name`` its versions read, if it is the one each committed;
    a finding for each version it is not (None when no version can use it)."""
    try:
        manifest = await read_manifest(repo, users[0])
    except ManifestMismatch as exc:
        _mismatch(report, name, users, str(exc))
        return None
    except (NotFoundError, ConfigError) as exc:
        report.findings.append(
            Finding(
                MANIFEST_BAD,
                name,
                f"the manifest of {_labels(users)} (manifests/{name}): {describe(exc)}",
                action="push the same files again to rewrite it",
            )
        )
        return None
    wrong: list[tuple[StoredVersion, str]] = []
    for version in users[1:]:
        try:
            check_describes(manifest, version)
        except ManifestMismatch as exc:
            wrong.append((version, str(exc)))
    for version, reason in wrong:
        _mismatch(report, name, [version], reason)
    return manifest


def _mismatch(report: FsckReport, name: str, users: list[StoredVersion], reason: str) -> None:
    report.findings.append(
        Finding(
            MANIFEST_MISMATCH,
            name,
            f"the manifest of {_labels(users)} (manifests/{name}) is not the one its commit "
            f"stored: {reason}",
            action="push the same files again with the same chunker (that rewrites the "
            "object), restore it from a backup, or delete the version",
        )
    )


async def _check_unreferenced(repo: Repository, report: FsckReport, read: set[str]) -> None:
    """Manifest objects no version reads: garbage, or damaged garbage."""
    stored = await repo.blobs.list_objects("manifests")
    report.manifests = len(stored)
    unused = 0
    for blob in stored:
        name = blob.key.partition("/")[2]
        if name in read:
            continue
        try:
            await check_unreferenced(repo, name)
            unused += 1
        except (NotFoundError, ConfigError) as exc:
            finding = Finding(
                MANIFEST_BAD, name, f"unreferenced manifest object {name}: {describe(exc)}"
            )
            if report.repair and await remove_manifest(repo, name):
                finding = _repaired(finding, "removed")
            report.findings.append(finding)
    if unused:
        report.findings.append(
            Finding(
                GARBAGE,
                "manifests",
                f"{unused} manifest object(s) no version references; 'asyncart server gc' "
                "removes them",
                problem=False,
            )
        )


def _labels(users: Sequence[StoredVersion]) -> str:
    shown = ", ".join(v.label for v in users[:3])
    return shown if len(users) <= 3 else f"{shown} and {len(users) - 3} more"
