"""Downloading references to entries of other versions (``asyncart-artifact://``).

Before a pull, each such entry is replaced by the entry it names, under its own path:
the source version's manifest is read through the same remote, with the caller's
credentials, so a version the caller may not read is refused by the store, never
fetched (a server answers "does not exist, or your key has no access", as for any
project the key may not read: :class:`~asyncart.client.references.ReferenceNotFound`). The
source entry's digest must be the one recorded; the pull then fetches and verifies
its bytes as for any file of the version (or, if the source entry is itself a
``file://``/``http(s)://``/``s3://`` reference, fetches what that names). References
are recorded resolved to a concrete entry, but a chain is followed (at most
:data:`MAX_HOPS` versions) should a store hold one.
"""

from __future__ import annotations

from asyncart.client.references import ReferenceNotFound
from asyncart.client.remote import Remote
from asyncart.core.entry_uris import ArtifactTarget, is_artifact_uri, parse_artifact_uri
from asyncart.core.manifest import Manifest, ManifestEntry
from asyncart.errors import ConfigError, IntegrityError, NotFoundError

MAX_HOPS = 16


def has_artifact_references(manifest: Manifest) -> bool:
    """Whether any entry of ``manifest`` refers to another version's entry."""
    return any(is_artifact_uri(e.ref) for e in manifest)


async def source_entry(
    remote: Remote, target: ArtifactTarget, cache: dict[tuple[str, str, str], Manifest]
) -> tuple[ArtifactTarget, ManifestEntry]:
    """The entry ``target`` names, read through ``remote`` (a chain followed), and the
    target (version and path) that holds it.

    Raises:
        ReferenceNotFound: no such version, or no such entry in it.
        ConfigError: the chain is longer than :data:`MAX_HOPS` versions.
    """
    for _ in range(MAX_HOPS):
        if target.project is None or target.name is None or target.version is None:
            raise ConfigError(f"reference to version id {target.version_id} was not resolved")
        key = (target.project, target.name, target.version)
        manifest = cache.get(key)
        if manifest is None:
            try:
                manifest = cache[key] = await remote.get_manifest(*key)
            except NotFoundError as exc:
                raise ReferenceNotFound(
                    f"referenced version {target.project}/{target.name}:{target.version} "
                    f"cannot be read (deleted, never logged, or not readable with these "
                    f"credentials): {exc}"
                ) from None
        found = manifest.get(target.path)
        if found is None:
            raise ReferenceNotFound(
                f"referenced version {target.project}/{target.name}:{target.version} has no "
                f"entry {target.path!r}"
            )
        if not is_artifact_uri(found.ref):
            return target, found
        assert found.ref is not None
        target = parse_artifact_uri(found.ref)
    raise ConfigError(f"a reference chain is longer than {MAX_HOPS} versions")


async def resolve_artifact_references(
    remote: Remote,
    manifest: Manifest,
    missing: list[str] | None,
    only: list[str] | None = None,
) -> Manifest:
    """``manifest`` with each ``asyncart-artifact://`` entry replaced by its source's
    content under its own path; with ``missing`` (a list), an entry whose source is gone
    is left out and its path appended, else ReferenceNotFound is raised. With ``only``,
    the entries of other paths are kept as they are (they are not downloaded).

    Raises:
        ReferenceNotFound: a source version or entry is not there.
        IntegrityError: the source entry's digest is not the recorded one.
        PermissionDenied: the caller may not read a source version (from the store).
    """
    cache: dict[tuple[str, str, str], Manifest] = {}
    out: list[ManifestEntry] = []
    for entry in manifest:
        if not is_artifact_uri(entry.ref) or (only is not None and entry.path not in only):
            out.append(entry)
            continue
        assert entry.ref is not None
        try:
            _, found = await source_entry(remote, parse_artifact_uri(entry.ref), cache)
        except ReferenceNotFound:
            if missing is None:
                raise
            missing.append(entry.path)
            continue
        if found.digest != entry.digest:
            raise IntegrityError(
                f"entry {entry.path!r} refers to {entry.ref!r}, whose digest is now "
                f"{found.digest}, not the recorded {entry.digest}"
            )
        out.append(
            ManifestEntry(
                path=entry.path,
                size=found.size,
                digest=found.digest,
                chunks=found.chunks,
                ref=found.ref,
            )
        )
    return Manifest(entries=tuple(out), chunker=manifest.chunker)
