"""Runs and lineage in the repository: creating and finishing runs, recording which
versions a run used, and reading lineage both ways (``Repository`` inherits these).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

import blake3

from asyncart.core.models import RunInfo, VersionInfo
from asyncart.core.names import parse_version, validate_name
from asyncart.core.run_labels import validate_group, validate_notes, validate_run_tags
from asyncart.errors import ConfigError, ConflictError, TypeConflict
from asyncart.repo.metastores import MetaStore
from asyncart.repo.prepared import check_metadata

_RUN_ID_RE = re.compile(r"[0-9a-f]{8,64}")


class RunMethods:
    """The run and lineage operations of :class:`~asyncart.repo.service.Repository`."""

    meta: MetaStore

    async def create_run(
        self,
        project: str,
        job_type: str,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        run_id: str | None = None,
        *,
        group: str | None = None,
        tags: Sequence[str] = (),
        notes: str | None = None,
    ) -> RunInfo:
        """Create a run. A client-chosen ``run_id`` makes a retried create idempotent.

        ``group``, ``tags`` and ``notes`` are W&B's ``init`` labels (checked here: this is
        where the server's and the embedded store's rules meet).

        The run's id is then :func:`project_run_id` of the project and ``run_id``, not
        ``run_id`` itself: client ids name runs per project, so a create never collides
        with (and so never reveals) a run of another project. Use the answer's id.
        """
        validate_name(project, what="project name")
        validate_name(job_type, what="job type")
        if name is not None:
            validate_name(name, what="run name")
        if run_id is not None and not _RUN_ID_RE.fullmatch(run_id):
            raise ConfigError(f"run id {run_id!r} must be 8-64 lowercase hex characters")
        check_metadata(config or {}, "run config")
        if group is not None:
            validate_group(group)
        if notes is not None:
            validate_notes(notes)
        run = RunInfo(
            id=secrets.token_hex(6) if run_id is None else project_run_id(project, run_id),
            project=project,
            job_type=job_type,
            name=name,
            config=dict(config or {}),
            status="running",
            started_at=time.time(),
            group=group,
            tags=validate_run_tags(list(tags)),
            notes=notes,
        )
        try:
            return await self.meta.create_run(run)
        except ConflictError:
            existing = await self.meta.get_run(run.id)
            if (existing.project, existing.job_type, existing.name) != (project, job_type, name):
                raise
            return existing  # the same create, retried after its answer was lost

    async def get_run(self, run_id: str) -> RunInfo:
        return await self.meta.get_run(run_id)

    async def set_run_config(self, run_id: str, config: dict[str, Any]) -> RunInfo:
        """Replace a running run's config (``run.config`` changed after ``init``, W&B's
        ``config.update`` / ``config[key] = value``); a finished run's stays fixed."""
        check_metadata(config, "run config")
        return await self.meta.set_run_config(run_id, config)

    async def finish_run(self, run_id: str, status: str = "finished") -> RunInfo:
        if status not in ("finished", "failed", "crashed"):
            raise ConfigError(f"run status {status!r} is not one of finished, failed, crashed")
        return await self.meta.finish_run(run_id, status, time.time())

    async def use_version(
        self, run_id: str | None, project: str, name: str, ref: str, type: str | None = None
    ) -> VersionInfo:
        """Resolve a version, check its type, and record it as the run's input."""
        info = await self.meta.get_version(project, name, ref)
        if type is not None and info.type != type:
            raise TypeConflict(
                f"artifact {project}/{name} is of type {info.type!r}, not {type!r}; "
                f"ask for type {info.type!r} (type= in Python, --type on the command line) "
                "or use another artifact"
            )
        if run_id is not None:
            await self.meta.add_run_input(run_id, project, name, info.index)
        return info

    async def run_outputs(self, run_id: str) -> list[VersionInfo]:
        return await self.meta.run_outputs(run_id)

    async def run_inputs(self, run_id: str) -> list[VersionInfo]:
        return await self.meta.run_inputs(run_id)

    async def version_consumers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        index = await self._index(project, name, ref)
        return await self.meta.version_consumers(project, name, index)

    async def version_producers(self, project: str, name: str, ref: str) -> list[RunInfo]:
        index = await self._index(project, name, ref)
        return await self.meta.version_producers(project, name, index)

    async def _index(self, project: str, name: str, ref: str) -> int:
        index = parse_version(ref)
        if index is None:
            index = (await self.meta.get_version(project, name, ref)).index
        return index


def project_run_id(project: str, client_id: str) -> str:
    """The id of the run a client creates in ``project`` with its own id ``client_id``.

    24 hex characters (server-made ids have 12, so the two never meet); a retried create
    finds the same run, and another project's runs are out of reach.
    """
    material = f"asyncart run id\0{project}\0{client_id}".encode()
    return blake3.blake3(material).hexdigest()[:24]
