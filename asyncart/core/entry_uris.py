"""References between artifacts: the ``asyncart-artifact://`` URI of an entry of a version.

Two spellings name an entry of a logged version:

* ``asyncart-artifact://<project>/<name>:v<N>/<entry path>``: the stored form (what
  ``entry.ref_url()`` gives and a manifest records). A version index is never reused,
  so this names one version for good, and a reader resolves it with one manifest read.
* ``asyncart-artifact://<version id>/<entry path>``: W&B's shape, by the artifact's
  ``id`` (24 hex digits); accepted when added and resolved then to the stored form.

``wandb-artifact://`` is accepted as an alias of the scheme. Everything in a URI is
checked before it is used: its length, the names (``validate_name``), the version
(``v<N>``) and the entry path (``normalize_entry_path``: no ``..``, no absolute path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from asyncart.core.artifact_uris import PREFIXES, VERSION_ID_RE
from asyncart.core.names import validate_name
from asyncart.core.paths import normalize_entry_path
from asyncart.errors import ConfigError

#: Spellings of the scheme ``add_reference`` accepts (W&B's is the second): the same as
#: a run config's (:mod:`asyncart.core.artifact_uris`).
SCHEMES = tuple(prefix.removesuffix("://") for prefix in PREFIXES)
SCHEME = SCHEMES[0]
#: The longest artifact URI accepted (the entry path alone may be 4096 characters).
MAX_URI_LENGTH = 8192
_VERSION_RE = re.compile(r"v(0|[1-9][0-9]{0,17})")


@dataclass(frozen=True)
class ArtifactTarget:
    """What an artifact URI names: a version (by name, or by id) and an entry path."""

    path: str
    project: str | None = None
    name: str | None = None
    version: str | None = None
    version_id: str | None = None

    @property
    def uri(self) -> str:
        """The stored form (a target named by id has none until resolved)."""
        if self.project is None or self.name is None or self.version is None:
            raise ConfigError(f"reference to version id {self.version_id} is not resolved")
        return artifact_uri(self.project, self.name, self.version, self.path)


def is_artifact_uri(uri: object) -> bool:
    """Whether ``uri`` is a string of an artifact scheme (either spelling, any case)."""
    return isinstance(uri, str) and uri.partition(":")[0].lower() in SCHEMES


def artifact_uri(project: str, name: str, version: str, path: str) -> str:
    """The stored form of a reference to entry ``path`` of ``project/name:version``."""
    parts = (project, f"{name}:{version}", path)
    return f"{SCHEME}://" + "/".join(quote(p, safe="/:") for p in parts)


def parse_artifact_uri(uri: str) -> ArtifactTarget:
    """What an artifact URI names, every part checked.

    Raises:
        ConfigError: not an artifact URI, too long, or a part is malformed (a name,
            a version, an id, or an entry path with ``..``), naming which.
    """
    if not is_artifact_uri(uri):
        raise ConfigError(f"{uri[:80]!r} is not an {SCHEME}:// URI")
    if len(uri) > MAX_URI_LENGTH:
        raise ConfigError(
            f"artifact reference {uri[:60]!r}... is {len(uri)} characters; the limit is "
            f"{MAX_URI_LENGTH}"
        )
    rest = uri.partition(":")[2]
    if not rest.startswith("//"):
        raise ConfigError(f"artifact reference {uri!r} must start with {SCHEME}://")
    if "?" in rest or "#" in rest:
        raise ConfigError(f"artifact reference {uri!r} may hold no query or fragment")
    first, _, tail = rest[2:].partition("/")
    first = unquote(first)
    second, _, after = tail.partition("/")
    second = unquote(second)
    name, colon, version = second.rpartition(":")
    if colon and _VERSION_RE.fullmatch(version) and name:
        project = validate_name(first, what="project")
        return ArtifactTarget(_entry_path(uri, after), project, validate_name(name), version, None)
    if VERSION_ID_RE.fullmatch(first):
        return ArtifactTarget(_entry_path(uri, tail), version_id=first)
    raise ConfigError(
        f"artifact reference {uri!r} names no version: expected "
        f"{SCHEME}://<project>/<name>:v<N>/<path> or {SCHEME}://<artifact id>/<path>"
    )


def _entry_path(uri: str, raw: str) -> str:
    if not raw:
        raise ConfigError(f"artifact reference {uri!r} names no entry; add /<path of the file>")
    try:
        return normalize_entry_path(unquote(raw))
    except ConfigError as exc:
        raise ConfigError(f"artifact reference {uri!r}: {exc}") from None
