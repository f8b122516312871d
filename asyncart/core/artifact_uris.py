"""Artifact URIs and references as a run's config holds them (W&B's ``wandb-artifact://``).

A config value may name a version to use:

* ``asyncart-artifact://<entity>/<project>/<name>[:<version or alias>]`` (no version
  means ``latest``; the entity is accepted and ignored, as everywhere in asyncart);
* ``asyncart-artifact://_id/<id>``: a version by its ``artifact.id`` (24 hex characters);
* either form after a store URL: ``asyncart-artifact://http://host:port/<entity>/...``.

``wandb-artifact://`` is accepted as another spelling of ``asyncart-artifact://``, so
configs written for W&B keep working. The stored config holds a *reference*: W&B's
``{"_type": "artifactVersion", "_version": "v0", "id": ..., "version": "v3",
"sequenceName": "mnist", "usedAs": None}``; such a dict given back to a config names the
version by its ``id``. Pure logic, no I/O: ``sdk/run_config.py`` resolves them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import blake3

from asyncart.core.names import parse_artifact_ref
from asyncart.errors import ConfigError

URI_PREFIX = "asyncart-artifact://"
WANDB_URI_PREFIX = "wandb-artifact://"
PREFIXES = (URI_PREFIX, WANDB_URI_PREFIX)
REFERENCE_TYPE = "artifactVersion"
VERSION_ID_RE = re.compile(r"[0-9a-f]{24}")

_FORMS = (
    f"expected {URI_PREFIX}<entity>/<project>/<name>:<version or alias> or "
    f"{URI_PREFIX}_id/<id> (optionally with the store URL after '{URI_PREFIX}'; "
    f"'{WANDB_URI_PREFIX}' is the same)"
)


@dataclass(frozen=True)
class ArtifactUri:
    """A parsed artifact URI: by ``version_id``, or by ``project``/``name``:``ref``."""

    text: str
    base_url: str | None = None
    version_id: str | None = None
    project: str | None = None
    name: str | None = None
    ref: str | None = None

    @property
    def reference(self) -> str:
        """``project/name:ref`` for ``use_artifact`` (a by-name URI only)."""
        return f"{self.project}/{self.name}:{self.ref}"


def is_artifact_uri(value: object) -> bool:
    """Whether ``value`` is a string meant as an artifact URI (well-formed or not)."""
    return isinstance(value, str) and value.startswith(PREFIXES)


def is_reference(value: object) -> bool:
    """Whether ``value`` is a config artifact reference (``{"_type": "artifactVersion"}``)."""
    return isinstance(value, Mapping) and value.get("_type") == REFERENCE_TYPE


def parse_artifact_uri(text: str) -> ArtifactUri:
    """Parse an artifact URI strictly (see the module doc).

    Raises:
        ConfigError: naming the URI and what is wrong with it.
    """
    prefix = next((p for p in PREFIXES if text.startswith(p)), None)
    if prefix is None:
        raise ConfigError(f"artifact URI {text!r} must start with {URI_PREFIX!r}; {_FORMS}")
    rest = text[len(prefix) :]
    base_url = None
    if rest.startswith(("http://", "https://")):
        split = urlsplit(rest)
        if not split.netloc:
            raise ConfigError(f"artifact URI {text!r} has a store URL without a host; {_FORMS}")
        base_url = f"{split.scheme}://{split.netloc}"
        rest = split.path.removeprefix("/")
        if split.query or split.fragment:
            raise ConfigError(f"artifact URI {text!r} has a query or fragment; {_FORMS}")
    parts = rest.split("/")
    if parts[0] == "_id":
        if len(parts) != 2 or not VERSION_ID_RE.fullmatch(parts[1]):
            raise ConfigError(
                f"artifact URI {text!r}: an id is 24 lowercase hex characters "
                f"(artifact.id); {_FORMS}"
            )
        return ArtifactUri(text, base_url, version_id=parts[1])
    if len(parts) != 3:
        raise ConfigError(f"artifact URI {text!r} has {len(parts)} path part(s), not 3; {_FORMS}")
    try:
        ref = parse_artifact_ref(rest)
    except ConfigError as exc:
        raise ConfigError(f"artifact URI {text!r}: {exc}; {_FORMS}") from None
    return ArtifactUri(text, base_url, project=ref.project, name=ref.name, ref=ref.ref)


def reference_id(value: Mapping[str, Any]) -> str:
    """The version id of a config artifact reference, checked.

    Raises:
        ConfigError: the reference has no well-formed ``id``.
    """
    found = value.get("id")
    if not isinstance(found, str) or not VERSION_ID_RE.fullmatch(found):
        raise ConfigError(
            f"a config artifact reference ({{'_type': {REFERENCE_TYPE!r}, ...}}) names its "
            f"version by 'id', 24 lowercase hex characters (artifact.id); got {found!r}"
        )
    return found


def nested_artifact(
    value: object, is_artifact: Callable[[object], bool], *, top: bool = True
) -> bool:
    """Whether ``value`` holds an artifact (``is_artifact``, a URI or a reference) below
    its top level: a config holds artifacts as top-level values only."""
    if not top and (is_artifact_uri(value) or is_reference(value) or is_artifact(value)):
        return True
    if isinstance(value, Mapping):
        return any(nested_artifact(v, is_artifact, top=False) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(nested_artifact(v, is_artifact, top=False) for v in value)
    return False


def version_id_for(project: str, name: str, index: int) -> str:
    """The id of version ``index`` of ``project/name`` (``artifact.id``): opaque, stable,
    never another version's (indexes are not reused)."""
    material = f"asyncart version\0{project}\0{name}\0{index}".encode()
    return blake3.blake3(material).hexdigest()[:24]
