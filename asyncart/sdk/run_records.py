"""Lineage recorded through a run read back from the store (``Api().run(path)``), as
W&B's public ``Run.use_artifact`` / ``Run.log_artifact``: after the run finished, it
may still be given a stored version as an input or an output.

Both record exactly what a live run records (the same repository calls as
``AsyncRun``): a use is ``use_version`` with the run's id; a log is a commit of the
version's own manifest with the run's id, which finds the existing version (its
content is stored), moves the aliases asked for and records the run as a producer.
Only stored versions are accepted (W&B: "only existing artifacts"); a version is
logged to its own project, which must be the run's (W&B's check; the server asks for
write access on that project). Nothing here reads ``ASYNCART_PROJECT``: the run's
project is the only one used.
"""

from __future__ import annotations

from typing import TypeVar

from asyncart.client.client import Client
from asyncart.core.models import CommitRequest, RunInfo, VersionChanges
from asyncart.core.names import validate_aliases, validate_tags
from asyncart.errors import ConfigError
from asyncart.sdk.artifact import BaseArtifact
from asyncart.sdk.identity import source_of

A = TypeVar("A", bound=BaseArtifact)


def _stored(artifact: object, call: str) -> BaseArtifact:
    """``artifact`` if it is a stored version; a clear error for a draft or a name."""
    if not isinstance(artifact, BaseArtifact):
        raise ConfigError(
            f"{call} of a run read with Api().run() takes a stored artifact "
            f"(from Api().artifact(name)), not {type(artifact).__name__} {artifact!r}"
        )
    if artifact.is_logging:  # never wait for a log here: this may run on the portal loop
        raise ConfigError(
            f"artifact {artifact.name!r} is still being logged; call artifact.wait() first"
        )
    if artifact.is_draft:
        raise ConfigError(
            f"{call} of a run read with Api().run() takes only stored artifacts; "
            f"artifact {artifact.name!r} is a draft: log it from a run (asyncart.init()) "
            "or push it with `asyncart push`, then fetch it with Api().artifact(name)"
        )
    return artifact


async def use_stored(client: Client, run: RunInfo, artifact: A) -> A:
    """Record the stored version ``artifact`` as an input of ``run``; returns it."""
    stored = _stored(artifact, "use_artifact")
    info, _, _ = stored._require_stored("use")
    async with client.use() as remote:
        await remote.use_version(run.id, info.project, info.name, info.version, None)
    return artifact


async def log_stored(
    client: Client,
    run: RunInfo,
    artifact: A,
    aliases: list[str] | str | None,
    tags: list[str] | str | None,
) -> A:
    """Record the stored version ``artifact`` as an output of ``run`` in the run's project,
    moving ``latest`` and ``aliases`` onto it and giving it ``tags``; returns it, bound to
    the version as it is now.

    Raises:
        ConfigError: a draft or a name, or a version of another project than the run's.
    """
    stored = _stored(artifact, "log_artifact")
    info, manifest, _ = stored._require_stored("log")
    source = source_of(info)  # a link is logged to the collection it points at (W&B)
    if source.project != run.project:
        raise ConfigError(
            f"run {run.id} of project {run.project!r} cannot log artifact "
            f"{source.project}/{source.name}:{source.version} of another project; "
            f"log it from a run of project {source.project!r}"
        )
    alias_list = tuple(validate_aliases(aliases))  # one string is one alias, as W&B's
    tag_list = tuple(validate_tags(tags or []))
    request = CommitRequest(
        project=run.project,
        name=source.name,
        type=info.type,
        manifest=manifest,
        aliases=alias_list,
        metadata=dict(info.metadata),
        description=info.description,
        run_id=run.id,
    )
    async with client.use() as remote:
        logged = await remote.commit(request)
        if tag_list:
            logged = await remote.update_version(
                logged.project, logged.name, logged.version, VersionChanges(tags_add=tag_list)
            )
    stored._bind(client, logged, manifest)
    return artifact
