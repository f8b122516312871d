"""Artifact, project and alias names, and the ``project/name:ref`` references built from them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from asyncart.errors import InvalidNameError

MAX_NAME_LENGTH = 128
LATEST = "latest"
#: What ``Artifact.entity`` reports: an asyncart store is one namespace, so it has one
#: name; the entity part of an ``entity/project/name:ref`` path is accepted and ignored.
STORE_ENTITY = "asyncart"
_VERSION_RE = re.compile(r"^v(0|[1-9][0-9]{0,9})$")
#: W&B's tag rule: words of letters, digits, ``_`` and ``-``, separated by single or more spaces.
_TAG_RE = re.compile(r"^[-\w]+( +[-\w]+)*$")


def validate_name(name: object, *, what: str = "artifact name") -> str:
    """Return ``name`` if it is a valid artifact/project/type name, else raise.

    Names may hold spaces and most printable characters (``bike dataset``), but
    not ``/`` or ``:`` (they separate project, name and version), control
    characters, leading/trailing whitespace, or more than 128 characters.

    Raises:
        InvalidNameError: naming the rule that was broken.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"{what} must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidNameError(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"{what} {name[:20]!r}... is {len(name)} characters; the limit is {MAX_NAME_LENGTH}"
        )
    if name != name.strip():
        raise InvalidNameError(f"{what} {name!r} must not start or end with whitespace")
    for ch in name:
        if ch in "/:":
            raise InvalidNameError(
                f"{what} {name!r} must not contain {ch!r}: it separates "
                "project/name:version; pick another character such as '-'"
            )
        if ch == "\\" or unicodedata.category(ch).startswith("C"):
            raise InvalidNameError(
                f"{what} {name!r} contains a control or backslash character ({ch!r}); "
                "use printable characters only"
            )
    if name in (".", ".."):
        raise InvalidNameError(f"{what} {name!r} is reserved")
    return name


def validate_alias(alias: object) -> str:
    """Validate an alias (``latest``, ``production``); version-like aliases (``v3``) are refused."""
    alias = validate_name(alias, what="alias")
    assert isinstance(alias, str)
    if _VERSION_RE.match(alias):
        raise InvalidNameError(
            f"alias {alias!r} looks like a version number; version names are assigned by asyncart"
        )
    return alias


def validate_aliases(aliases: object) -> list[str]:
    """``None``, an alias, or a list of aliases, validated, duplicates dropped (first kept,
    in order): one string is one alias, as W&B's ``validate_aliases`` has it."""
    if aliases is None:
        return []
    items = [aliases] if isinstance(aliases, str) else aliases
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise InvalidNameError(f"aliases must be a list of strings, got {type(aliases).__name__}")
    return list(dict.fromkeys(validate_alias(a) for a in items))


def validate_tag(tag: object) -> str:
    """Validate a version tag (``W&B``'s rule: ``-``/``_``/alphanumeric words, single spaces
    or more between them, at most 128 characters)."""
    if not isinstance(tag, str):
        raise InvalidNameError(f"tag must be a string, got {type(tag).__name__}")
    if len(tag) > MAX_NAME_LENGTH or not _TAG_RE.match(tag):
        raise InvalidNameError(
            f"Invalid tag {tag[:40]!r}: tags must only contain alphanumeric characters "
            "separated by hyphens, underscores, and/or spaces (at most "
            f"{MAX_NAME_LENGTH} characters)"
        )
    return tag


def validate_tags(tags: object) -> list[str]:
    """A tag or an iterable of tags, validated, duplicates dropped (first kept, in order)."""
    items = [tags] if isinstance(tags, str) else tags
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise InvalidNameError(f"tags must be a list of strings, got {type(tags).__name__}")
    return list(dict.fromkeys(validate_tag(t) for t in items))


def parse_version(ref: str) -> int | None:
    """``'v3'`` -> 3; anything else -> None (it is an alias)."""
    m = _VERSION_RE.match(ref)
    return int(ref[1:]) if m else None


def format_version(index: int) -> str:
    """3 -> ``'v3'``."""
    return f"v{index}"


@dataclass(frozen=True)
class ArtifactRef:
    """A parsed ``[[entity/]project/]name[:version-or-alias]`` reference.

    ``entity`` is what a W&B path names first; asyncart keeps it but no store uses it
    (see :data:`STORE_ENTITY`).
    """

    name: str
    ref: str = LATEST
    project: str | None = None
    entity: str | None = None

    @property
    def version_index(self) -> int | None:
        return parse_version(self.ref)

    def __str__(self) -> str:
        prefix = f"{self.project}/" if self.project else ""
        return f"{prefix}{self.name}:{self.ref}"


def parse_artifact_ref(text: object) -> ArtifactRef:
    """Parse ``name``, ``name:v3``, ``name:alias``, ``project/name:alias`` or W&B's
    ``entity/project/name:alias`` (the entity is kept, and ignored by every store).

    A bare name means ``:latest``.

    Raises:
        InvalidNameError: for an empty part, more than two ``/``, several ``:``, or an
            invalid name.
    """
    if not isinstance(text, str):
        raise InvalidNameError(f"artifact reference must be a string, got {type(text).__name__}")
    project: str | None = None
    entity: str | None = None
    rest = text
    if "/" in rest:
        project, _, rest = rest.partition("/")
        if "/" in rest:
            entity, (project, _, rest) = project, rest.partition("/")
            if "/" in rest:
                raise InvalidNameError(
                    f"artifact reference {text!r} has more than two '/'; expected "
                    "[entity/]project/name:version"
                )
            validate_name(entity, what="entity name")
        validate_name(project, what="project name")
    name, sep, ref = rest.partition(":")
    if sep and ":" in ref:
        raise InvalidNameError(
            f"artifact reference {text!r} has more than one ':'; "
            "expected name:version or name:alias"
        )
    validate_name(name)
    if sep:
        if not ref:
            raise InvalidNameError(f"artifact reference {text!r} has an empty version after ':'")
        if parse_version(ref) is None:
            validate_name(ref, what="alias")
    return ArtifactRef(name=name, ref=ref if sep else LATEST, project=project, entity=entity)


#: The project W&B's ``run.link_model`` links into (its legacy model registry).
MODEL_REGISTRY_PROJECT = "model-registry"


def parse_link_target(text: object, default_project: str) -> tuple[str, str]:
    """Parse where ``artifact.link`` links to: ``collection``, ``project/collection`` or
    ``entity/project/collection`` (the entity is ignored, as in every path); returns
    ``(project, collection)``.

    W&B's registry form ``wandb-registry-<registry>/<collection>`` needs nothing more: a
    registry is the project of that name (``wandb-registry-model``).

    Raises:
        InvalidNameError: an invalid part, more than two ``/``, or a ``:`` (a target
            names a collection, not a version).
    """
    if not isinstance(text, str):
        raise InvalidNameError(f"link target must be a string, got {type(text).__name__}")
    parts = text.split("/")
    if len(parts) > 3:
        raise InvalidNameError(
            f"link target {text!r} has more than two '/'; expected [[entity/]project/]collection"
        )
    if ":" in parts[-1]:
        raise InvalidNameError(
            f"link target {text!r} names a version; name the collection only "
            "([[entity/]project/]collection): the link gets the collection's next version"
        )
    if len(parts) == 3:
        validate_name(parts[0], what="entity name")
    project = parts[-2] if len(parts) > 1 else default_project
    return validate_name(project, what="project name"), validate_name(
        parts[-1], what="collection name"
    )
