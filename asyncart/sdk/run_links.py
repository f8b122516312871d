"""A run's links and model helpers, as W&B's: ``link_artifact``, ``log_model``,
``use_model``, ``link_model`` (part of the async core: :class:`AsyncRun` inherits them;
the sync ``Run`` delegates to them).

* ``link_artifact(artifact, target_path, aliases)`` logs a draft first, then links it;
  a target without a project is in the run's project.
* ``log_model(path, name=None, aliases=None)`` logs the file or directory at ``path``
  (or an ``s3://``/``https://`` reference) as an artifact of type ``model``, named
  ``run-<run id>-<basename>`` unless ``name`` is given.
* ``use_model(name)`` uses and downloads a model artifact (its type must contain
  ``model``) and returns the path of its one file, or of its directory.
* ``link_model(path, registered_model_name, name=None, aliases=None)`` logs the model
  (with the type of an existing ``name``, which must be a model) and links it into the
  model registry, the project ``model-registry``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio.to_thread

from asyncart.client.client import Client
from asyncart.core.names import MODEL_REGISTRY_PROJECT, parse_link_target, validate_name
from asyncart.errors import ConfigError, NotAModelError, NotFoundError
from asyncart.sdk.artifact import BaseArtifact

A = TypeVar("A", bound=BaseArtifact)

#: The type ``log_model`` gives (and ``link_model`` gives a new name).
MODEL_TYPE = "model"


def _require_model(artifact_type: str, what: str) -> None:
    if MODEL_TYPE not in artifact_type.lower():
        raise NotAModelError(
            f"{what} has type {artifact_type!r}; use_model and link_model take only model "
            "artifacts (a type that contains 'model')"
        )


class RunLinks(Generic[A]):
    """The link and model methods of :class:`~asyncart.sdk.async_run.AsyncRun`."""

    if TYPE_CHECKING:  # provided by AsyncRun
        client: Client
        artifact_class: type[A]

        @property
        def id(self) -> str: ...

        @property
        def project(self) -> str: ...

        def _check_open(self) -> None: ...

        async def log_artifact(
            self, artifact_or_path: A, *, aliases: list[str] | None = None
        ) -> A: ...

        async def use_artifact(self, artifact_or_name: A | str) -> A: ...

    async def link_artifact(
        self, artifact: A, target_path: str, aliases: list[str] | None = None
    ) -> A:
        """Link ``artifact`` into ``target_path`` (``[[entity/]project/]collection``, or
        ``wandb-registry-<registry>/<collection>``; a bare collection is in this run's
        project), logging it from this run first if it is a draft; returns the link."""
        self._check_open()
        project, collection = parse_link_target(target_path, self.project)
        if not isinstance(artifact, BaseArtifact):
            raise ConfigError(f"expected an Artifact, got {type(artifact).__name__}")
        if artifact.is_draft and not artifact.is_logging:
            await self.log_artifact(artifact)
        await artifact._wait(None)
        return await artifact._link_to(project, collection, aliases)

    def _model_artifact(self, path: str | os.PathLike[str], name: str | None, type: str) -> A:
        """A draft of the file, directory or reference at ``path`` (W&B's default name:
        ``run-<run id>-<basename>``)."""
        text = os.fspath(path)
        local = Path(text)
        name = name or f"run-{self.id}-{os.path.basename(text.rstrip('/'))}"
        artifact = self.artifact_class(validate_name(name), type)
        artifact._draft.cache_dir = self.client.settings.cache_dir
        if local.is_file():
            artifact.add_file(local)
        elif local.is_dir():
            artifact.add_dir(local)
        elif "://" in text:
            artifact.add_reference(text)
        else:
            raise ConfigError(
                f"model path {text!r} is not a file, a directory or a reference such as "
                "s3://bucket/path"
            )
        return artifact

    async def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> None:
        """Log the model at ``path`` as this run's output (type ``model``; returns None,
        as W&B's)."""
        self._check_open()
        artifact = await anyio.to_thread.run_sync(self._model_artifact, path, name, MODEL_TYPE)
        await self.log_artifact(artifact, aliases=aliases)

    async def use_model(self, name: str) -> str:
        """Use and download model artifact ``name`` (``[project/]name:version|alias``);
        returns the path of its one file, or of its directory when it holds several.

        Raises:
            NotAModelError: (an ``AssertionError``) its type does not contain ``model``.
        """
        artifact = await self.use_artifact(name)
        _require_model(artifact.type, f"artifact {artifact.qualified_name}")
        root = await artifact._download()
        found = await anyio.to_thread.run_sync(os.listdir, root)
        return os.path.join(root, found[0]) if len(found) == 1 else root

    async def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | None = None,
    ) -> A:
        """Log the model at ``path`` (as a new version of ``name`` if it exists: its type
        kept, and it must be a model) and link it into the registered model
        ``registered_model_name`` of the project ``model-registry``; returns the link.

        Raises:
            NotAModelError: ``registered_model_name`` is a path, or ``name`` is an
                artifact whose type does not contain ``model``.
        """
        self._check_open()
        if "/" in registered_model_name:
            raise NotAModelError(
                f"registered model name {registered_model_name!r} is a path; give the name "
                f"only (it is linked in project {MODEL_REGISTRY_PROJECT!r})"
            )
        validate_name(registered_model_name, what="registered model name")
        kind = MODEL_TYPE
        if name is not None:
            try:
                async with self.client.use() as remote:
                    existing = await remote.get_version(self.project, name, "latest")
            except NotFoundError:
                pass  # a new name: a new model artifact
            else:
                _require_model(existing.type, f"artifact {existing.qualified_name}")
                kind = existing.type
        artifact = await anyio.to_thread.run_sync(self._model_artifact, path, name, kind)
        await self.log_artifact(artifact)
        return await artifact._link_to(MODEL_REGISTRY_PROJECT, registered_model_name, aliases)
