"""A run's config, as W&B's ``run.config``: a mapping with attribute access whose values
may be artifacts.

An artifact put in (``init(config=...)``, ``config[key] = ...``, ``config.update(...)``)
is an ``Artifact`` (a draft is logged first, as ``use_artifact`` does), an ``Api()``
artifact, an artifact URI (``asyncart-artifact://`` or ``wandb-artifact://``:
``core/artifact_uris.py``) or a reference dict read back from a config: the run uses the
version (``used_artifacts``), the stored config holds the reference
``{"_type": "artifactVersion", ...}`` (what ``Api().run(path).config`` shows) and
``run.config[key]`` gives the artifact. As W&B's, artifacts are top-level values only,
and changing a key's value needs ``allow_val_change=True``.

``ConfigCore`` (a base of ``AsyncRun``) holds the logic; ``AsyncRunConfig`` and
``RunConfig`` are the async and sync faces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

from asyncart.core.artifact_uris import (
    REFERENCE_TYPE,
    ArtifactUri,
    is_artifact_uri,
    is_reference,
    nested_artifact,
    parse_artifact_uri,
    reference_id,
)
from asyncart.core.models import RunInfo
from asyncart.errors import ConfigError
from asyncart.sdk import portal
from asyncart.sdk.artifact import BaseArtifact

if TYPE_CHECKING:
    from asyncart.client.client import Client

A = TypeVar("A", bound=BaseArtifact)


def reference_of(artifact: BaseArtifact) -> dict[str, Any]:
    """The stored form of an artifact in a config (W&B's, field for field)."""
    return {
        "_type": REFERENCE_TYPE,
        "_version": "v0",
        "id": artifact.id,
        "version": artifact.source_version,
        "sequenceName": artifact.source_name.split(":")[0],
        "usedAs": None,
    }


def _is_artifact(value: object) -> bool:
    return isinstance(value, BaseArtifact)


def _check_json(key: str, value: object) -> None:
    # Here, not only in the store: over HTTP the encoder's TypeError would name no key.
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"config key {key!r}: the value is not JSON ({exc}); store a str, number, "
            "bool, None, list or dict of them"
        ) from None


def check_config_values(values: Mapping[Any, Any]) -> dict[str, Any]:
    """``values`` with keys checked, artifact URIs parsed (an :class:`ArtifactUri`) and
    references' ids checked: what can be refused before any I/O.

    Raises:
        ConfigError: a key that is not a string, a value that is not JSON, a malformed
            URI or reference, or an artifact below the top level of a value.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"a run's config must be a dict, got {type(values).__name__}")
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys are strings, got {key!r}")
        if nested_artifact(value, _is_artifact):
            raise ConfigError(
                f"config key {key!r}: artifacts can only be top-level values of a run's "
                "config (as W&B's), not inside a dict or list"
            )
        if isinstance(value, ArtifactUri):
            pass  # parsed already (init checks before the run exists, then sets these)
        elif is_artifact_uri(value):
            value = parse_artifact_uri(value)
        elif is_reference(value):
            reference_id(value)
        elif not _is_artifact(value):
            _check_json(key, value)
        checked[key] = value
    return checked


def names_artifact(value: object) -> bool:
    """Whether a value :func:`check_config_values` passed names an artifact to use."""
    return isinstance(value, (BaseArtifact, ArtifactUri)) or is_reference(value)


class ConfigCore(Generic[A]):
    """The config logic of :class:`~asyncart.sdk.async_run.AsyncRun`."""

    info: RunInfo
    client: Client
    _config_artifacts: dict[str, A]
    _config_lock: anyio.Lock

    if TYPE_CHECKING:  # provided by AsyncRun

        @property
        def id(self) -> str: ...

        def _check_open(self) -> None: ...

        async def use_artifact(
            self,
            artifact_or_name: A | str | None = None,
            type: str | None = None,
            aliases: list[str] | None = None,
            *,
            name: str | None = None,
        ) -> A: ...

    @property
    def config(self) -> AsyncRunConfig[A]:
        """The run's config (reads as a dict; ``await run.config.update({...})`` and
        ``await run.config.set(key, value)`` change it)."""
        return AsyncRunConfig(self)

    async def _update_config(
        self, values: Mapping[Any, Any], allow_val_change: bool = False
    ) -> None:
        """Set ``values`` (artifacts used and stored as references), then store the whole
        config. One change at a time: concurrent updates never lose each other's keys."""
        self._check_open()
        checked = check_config_values(values)
        async with self._config_lock:
            stored = dict(self.info.config)
            artifacts: dict[str, A] = {}
            for key, value in checked.items():
                if not names_artifact(value):
                    self._check_change(stored, key, value, allow_val_change)
            for key, value in checked.items():
                if names_artifact(value):
                    artifacts[key] = await self._use_config_artifact(value)
                    value = reference_of(artifacts[key])
                self._check_change(stored, key, value, allow_val_change)
                stored[key] = value
            async with self.client.use() as remote:
                self.info = await remote.set_run_config(self.id, stored)
            for key in checked:
                self._config_artifacts.pop(key, None)
            self._config_artifacts.update(artifacts)

    @staticmethod
    def _check_change(stored: dict[str, Any], key: str, value: Any, allowed: bool) -> None:
        if not allowed and key in stored and stored[key] != value:
            raise ConfigError(
                f"config key {key!r} is {stored[key]!r}; changing it to {value!r} needs "
                "run.config.update({...}, allow_val_change=True)"
            )

    async def _use_config_artifact(self, value: Any) -> A:
        """Use the version ``value`` names (a draft artifact is logged first)."""
        if isinstance(value, BaseArtifact):
            return await self.use_artifact(value)  # type: ignore[arg-type]
        if isinstance(value, ArtifactUri):
            self._check_store(value)
            if value.version_id is None:
                return await self.use_artifact(value.reference)
            version_id = value.version_id
        else:
            version_id = reference_id(value)
        async with self.client.use() as remote:
            info = await remote.version_by_id(version_id)
        return await self.use_artifact(f"{info.project}/{info.name}:{info.version}")

    def _check_store(self, uri: ArtifactUri) -> None:
        """A URI naming a store URL must name this run's store."""
        if uri.base_url is None:
            return
        url = self.client.settings.url
        if url is None or url.rstrip("/") != uri.base_url:
            here = url or "the embedded store"
            raise ConfigError(
                f"artifact URI {uri.text!r} names the store {uri.base_url}, but this run "
                f"writes to {here}; drop the store URL or start the run on that store"
            )


class _ConfigView(Mapping[str, Any], Generic[A]):
    """Reads of a run's config: stored values, and artifacts for artifact keys."""

    __slots__ = ("_run",)

    def __init__(self, run: ConfigCore[A]) -> None:
        object.__setattr__(self, "_run", run)

    def __getitem__(self, key: str) -> Any:
        artifacts = self._run._config_artifacts
        return artifacts[key] if key in artifacts else self._run.info.config[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._run.info.config)

    def __len__(self) -> int:
        return len(self._run.info.config)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"the run's config has no key {key!r}") from None

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of the config (artifacts as artifacts)."""
        return dict(self)

    def __repr__(self) -> str:
        return repr(self.as_dict())


class AsyncRunConfig(_ConfigView[A]):
    """``AsyncRun.config``: read it as a dict (or by attribute); change it with
    ``await config.update({...})`` or ``await config.set(key, value)``."""

    __slots__ = ()

    async def update(self, values: Mapping[str, Any], allow_val_change: bool = False) -> None:
        """Set several keys (W&B's ``config.update``)."""
        await self._run._update_config(values, allow_val_change)

    async def set(self, key: str, value: Any, allow_val_change: bool = False) -> None:
        """Set one key (W&B's ``config[key] = value``, awaited)."""
        await self._run._update_config({key: value}, allow_val_change)

    def __setitem__(self, key: str, value: Any) -> None:
        raise ConfigError(
            f"an async run's config changes by awaiting: await run.config.set({key!r}, ...)"
        )

    def __setattr__(self, key: str, value: Any) -> None:
        self.__setitem__(key, value)


class RunConfig(_ConfigView[A]):
    """``Run.config`` (sync): W&B's ``run.config``. ``config[key] = value``,
    ``config.key = value`` and ``config.update({...})`` store the change at once."""

    __slots__ = ()

    def update(self, values: Mapping[str, Any], allow_val_change: bool = False) -> None:
        """Set several keys (W&B's ``config.update``)."""
        portal.call(self._run._update_config, values, allow_val_change)

    def __setitem__(self, key: str, value: Any) -> None:
        portal.call(self._run._update_config, {key: value})

    def __setattr__(self, key: str, value: Any) -> None:
        self.__setitem__(key, value)
