"""Who may do what: per-project roles and the principal a request acts as.

Roles are ordered: ``read`` < ``write`` < ``admin``; each includes the ones below.

* read: list, resolve and download artifacts, see runs and lineage of the project;
* write: also push (upload packs, commit versions, move aliases), create and finish
  runs, record inputs of the project's runs;
* admin: also delete versions and artifacts, read the project's audit log.

A grant names a project (it may precede the project) or ``*`` for every project.
A caller with no role on a project is told that it does not exist (404, the same answer
as for a project that really does not exist); a caller who may read it but lacks the
role for an operation is told so (403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from asyncart.errors import ConfigError, NotFoundError, PermissionDenied
from asyncart.repo.metastores.base import ChunkScope

ALL_PROJECTS = "*"


class Role(IntEnum):
    """A user's role on a project; a higher role includes the lower ones."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        """``read`` / ``write`` / ``admin`` -> the role.

        Raises:
            ConfigError: any other word.
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ConfigError(f"role {text!r} is not one of read, write, admin") from None

    @property
    def label(self) -> str:
        """The role's name as users write it."""
        return self.name.lower()


def no_such_project(project: str) -> NotFoundError:
    """The one answer for a project that does not exist or that the caller may not see."""
    return NotFoundError(f"project {project!r} does not exist, or your key has no access to it")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as.

    ``user`` None is the unrestricted principal: the embedded store, and a server whose
    store has no users (which serves only on loopback unless told otherwise).
    """

    user: str | None
    grants: Mapping[str, Role] = field(default_factory=dict)

    @classmethod
    def unrestricted(cls) -> Principal:
        """The principal of a store without users."""
        return cls(None)

    @property
    def restricted(self) -> bool:
        """Whether this principal's roles are checked at all."""
        return self.user is not None

    def role(self, project: str) -> Role | None:
        """The caller's role on ``project`` (the higher of its own and a ``*`` grant)."""
        if self.user is None:
            return Role.ADMIN
        found = [r for r in (self.grants.get(project), self.grants.get(ALL_PROJECTS)) if r]
        return max(found) if found else None

    def can(self, project: str, role: Role) -> bool:
        """Whether the caller has at least ``role`` on ``project``."""
        have = self.role(project)
        return have is not None and have >= role

    def require(self, project: str, role: Role, doing: str) -> None:
        """Raise unless the caller has ``role`` on ``project``.

        Raises:
            NotFoundError: no role at all (the project's existence is not revealed).
            PermissionDenied: a lower role; the message names the one needed.
        """
        have = self.role(project)
        if have is None:
            raise no_such_project(project)
        if have < role:
            raise PermissionDenied(
                f"user {self.user!r} has {have.label} access to project {project!r}; "
                f"{doing} needs {role.label} access (ask a project admin for a grant: "
                f"'asyncart server admin grant {self.user} {project} {role.label}')"
            )

    def readable(self) -> frozenset[str] | None:
        """Projects the caller may read, or None for every project."""
        if self.user is None or ALL_PROJECTS in self.grants:
            return None
        return frozenset(self.grants)

    def may_write_somewhere(self) -> bool:
        """Whether some grant lets the caller write (uploading packs needs that)."""
        return self.user is None or any(r >= Role.WRITE for r in self.grants.values())

    def chunk_scope(self) -> ChunkScope | None:
        """What this caller may learn about chunks (None: everything)."""
        if self.user is None:
            return None
        return ChunkScope(projects=self.readable(), uploader=self.user)
