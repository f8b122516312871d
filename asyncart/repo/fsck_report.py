"""What fsck reports: the kinds of finding, one :class:`Finding`, the whole :class:`FsckReport`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from asyncart.core.humanize import human_size

# Finding kinds.
TRASH = "trash_leftover"
PARTIAL = "partial_leftover"
PACK_MISSING = "pack_missing"
PACK_SIZE = "pack_size"
CHUNK_CORRUPT = "chunk_corrupt"
CHUNK_TRUNCATED = "chunk_truncated"
ORPHAN_PACK = "orphan_pack"
MANIFEST_BAD = "manifest_bad"
MANIFEST_MISMATCH = "manifest_mismatch"
VERSION_INCOMPLETE = "version_incomplete"
GARBAGE = "garbage"
IN_FLIGHT = "in_flight"


@dataclass(frozen=True)
class Finding:
    """One thing fsck found; ``problem`` ones make it fail unless ``repaired``."""

    kind: str
    subject: str
    message: str
    problem: bool = True
    repaired: bool = False
    action: str | None = None  # what --repair did (or why it could not)

    def line(self) -> str:
        label = "repaired" if self.repaired else "problem" if self.problem else "note"
        return f"{label}: {self.message}" + (f"; {self.action}" if self.action else "")


@dataclass
class FsckReport:
    """Everything fsck found, and what it covered."""

    repair: bool
    sample: float
    grace: float
    findings: list[Finding] = field(default_factory=list)
    packs: int = 0
    pack_bytes: int = 0
    chunks: int = 0
    chunks_hashed: int = 0
    bytes_hashed: int = 0
    versions: int = 0
    manifests: int = 0

    @property
    def problems(self) -> list[Finding]:
        """Problems not repaired: fsck exits 1 if there are any."""
        return [f for f in self.findings if f.problem and not f.repaired]

    @property
    def clean(self) -> bool:
        return not self.problems

    def kinds(self) -> set[str]:
        """Kinds of the unrepaired problems."""
        return {f.kind for f in self.problems}

    def summary(self) -> str:
        checked = (
            f"checked {self.packs} pack(s) ({human_size(self.pack_bytes)}), {self.chunks} "
            f"chunk(s) ({self.chunks_hashed} re-hashed, {human_size(self.bytes_hashed)}), "
            f"{self.versions} version(s), {self.manifests} manifest(s)"
        )
        repaired = sum(f.repaired for f in self.findings)
        fixed = f", {repaired} repaired" if repaired else ""
        if self.clean:
            return f"fsck: {checked}: clean{fixed}"
        return f"fsck: {checked}: {len(self.problems)} problem(s){fixed}"

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["clean"] = self.clean
        return data


def repaired(finding: Finding, action: str) -> Finding:
    """``finding``, marked as repaired by ``action``."""
    return replace(finding, repaired=True, action=action)
