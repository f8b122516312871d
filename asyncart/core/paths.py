"""Entry paths inside an artifact: normalised relative POSIX paths, never escaping the root."""

from __future__ import annotations

import hashlib
import posixpath
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from asyncart.errors import ConfigError

MAX_PATH_LENGTH = 4096
#: Bytes (UTF-8) of one path component: what Linux, macOS and Windows filesystems take.
MAX_COMPONENT_BYTES = 255
RESERVED_SUFFIX = ".asyncart-part"  # a file being downloaded, beside its final name
JOURNAL_SUFFIX = ".asyncart-journal"  # which regions of that part file are verified
RESERVED_SUFFIXES = (RESERVED_SUFFIX, JOURNAL_SUFFIX)
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def normalize_entry_path(path: object) -> str:
    """Return the canonical form of an artifact entry path, or raise.

    Accepts ``a/b.txt``, ``./a//b.txt``; refuses absolute paths, ``..``
    components, NUL and control characters, invisible format characters
    (category Cf: the right-to-left override, zero-width spaces and joiners,
    the byte-order mark), backslashes, Windows drives,
    empty paths, and components ending in a download suffix
    (``RESERVED_SUFFIXES``: a directory ``x.asyncart-part`` would collide with
    the part file of ``x``).

    Raises:
        ConfigError: naming the path and what is wrong with it.
    """
    if not isinstance(path, str):
        raise ConfigError(f"entry path must be a string, got {type(path).__name__}")
    if not path:
        raise ConfigError("entry path '' is empty; name the file")
    if len(path) > MAX_PATH_LENGTH:
        raise ConfigError(
            f"entry path {path[:60]!r}... is {len(path)} characters; the limit is {MAX_PATH_LENGTH}"
        )
    if not is_utf8_encodable(path):
        raise ConfigError(f"entry path {path!r} is not valid Unicode (it holds a lone surrogate)")
    if "\\" in path:
        raise ConfigError(f"entry path {path!r} contains a backslash; use '/' as the separator")
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        raise ConfigError(f"entry path {path!r} contains a control character")
    formats = sorted({f"U+{ord(ch):04X}" for ch in path if unicodedata.category(ch) == "Cf"})
    if formats:
        raise ConfigError(
            f"entry path {path!r} contains the invisible format character(s) "
            f"{', '.join(formats)} (direction overrides, zero-width characters, byte-order "
            "marks make a name display as another one); remove them"
        )
    if path.startswith("/") or _DRIVE_RE.match(path):
        raise ConfigError(
            f"entry path {path!r} is absolute; entry paths are relative to the artifact"
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ConfigError(
            f"entry path {path!r} contains '..'; entry paths may not leave the artifact"
        )
    if not parts:
        raise ConfigError(f"entry path {path!r} names no file")
    for part in parts:  # a directory too: it would take the place of a file's part file
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise ConfigError(
                f"entry path {path[:80]!r}... has a component of {len(part.encode())} bytes; "
                f"filesystems take at most {MAX_COMPONENT_BYTES}, so it could never be "
                "downloaded: shorten it"
            )
        for suffix in RESERVED_SUFFIXES:
            if part.endswith(suffix):
                raise ConfigError(
                    f"entry path {path!r} has a component ending with {suffix!r}, which "
                    "downloads use for partly written files; rename it"
                )
    return "/".join(parts)


def twin_key(path: str) -> str:
    """The key under which two entry paths name the same file on macOS or Windows.

    Their default filesystems ignore case and (APFS, HFS+) Unicode normalisation, so
    ``Model.bin`` / ``model.bin`` and a precomposed / decomposed ``é`` are one file
    there. The key is Unicode canonical caseless matching: NFD(casefold(NFD(path))).
    """
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", path).casefold())


class TwinIndex:
    """Entry paths seen so far, by :func:`twin_key`, to refuse a twin of one of them.

    A twin is a different path with the same key, or a file whose key is that of a
    directory of another path spelt differently (``Data`` a file, ``data/x`` below).
    Identical spellings are left to the callers' exact checks (same path twice, a
    file where a directory is needed), which say so in their own words.
    """

    def __init__(self) -> None:
        self._files: dict[str, str] = {}  # key -> the path that claimed it
        self._dirs: dict[str, dict[str, str]] = {}  # key -> {directory as spelt: a path below}

    def check(self, path: str) -> None:
        """Raise if ``path`` (normalised) is a twin of a path already :meth:`add`-ed.

        Raises:
            ConfigError: naming both paths.
        """
        key = twin_key(path)
        other = self._files.get(key)
        if other == path:
            other = None
        if other is None:
            other = next((p for d, p in self._dirs.get(key, {}).items() if d != path), None)
        if other is None:
            for depth, parent in enumerate(_parent_keys(key), 1):
                found = self._files.get(parent)
                if found is not None and found != path.rsplit("/", depth)[0]:
                    other = found
                    break
        if other is not None:
            raise ConfigError(
                f"entry paths {other!r} and {path!r} differ only in letter case or Unicode "
                "normalisation, so they would be the same file on macOS and Windows; "
                "rename one of them"
            )

    def add(self, path: str) -> None:
        """Record ``path`` (normalised, already :meth:`check`-ed)."""
        key = twin_key(path)
        self._files[key] = path
        spelt = path
        for parent in _parent_keys(key):
            spelt = spelt.rsplit("/", 1)[0]
            self._dirs.setdefault(parent, {}).setdefault(spelt, path)


def _parent_keys(key: str) -> Iterator[str]:
    """The keys of the directories above ``key``, innermost first."""
    end = key.rfind("/")
    while end > 0:
        yield key[:end]
        end = key.rfind("/", 0, end)


def sidecar_path(final: Path, suffix: str) -> Path:
    """Where a download keeps its part file or journal (``suffix``) beside ``final``.

    Normally ``<name><suffix>``; for a name too long to take the suffix within
    :data:`MAX_COMPONENT_BYTES`, a shortened name plus a digest of the full one, so the
    sidecar is still one fixed, valid file name per target.
    """
    name = final.name
    if len((name + suffix).encode("utf-8")) <= MAX_COMPONENT_BYTES:
        return final.with_name(name + suffix)
    tag = "." + hashlib.blake2b(name.encode("utf-8"), digest_size=8).hexdigest()
    room = MAX_COMPONENT_BYTES - len(tag) - len(suffix)
    short = name.encode("utf-8")[:room].decode("utf-8", "ignore")
    return final.with_name(short + tag + suffix)


def is_utf8_encodable(text: str) -> bool:
    """False for strings holding lone surrogates (which JSON ``\\udXXX`` escapes can make)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def safe_join(root: Path, entry_path: str, checked: dict[Path, bool] | None = None) -> Path:
    """Join a (re-validated) entry path under ``root``; never returns a path outside it.

    The entry path itself cannot escape (no ``..``, not absolute); what is checked
    is that no symlinked directory on the way leads out of ``root``. ``checked``
    caches the verdict per parent directory, for callers joining many paths.
    """
    normalized = normalize_entry_path(entry_path)
    target = root.joinpath(*normalized.split("/"))
    parent = target.parent
    inside = checked.get(parent) if checked is not None else None
    if inside is None:
        root_resolved = root.resolve()
        parent_resolved = parent.resolve()
        inside = parent_resolved == root_resolved or root_resolved in parent_resolved.parents
        if checked is not None:
            checked[parent] = inside
    if not inside:
        raise ConfigError(f"entry path {entry_path!r} resolves outside {root}")
    return target


def is_ancestor_path(a: str, b: str) -> bool:
    """True when entry path ``a`` is a directory prefix of ``b`` (``x`` of ``x/y``)."""
    return posixpath.commonpath([a, b]) == a and a != b
