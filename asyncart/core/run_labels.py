"""What a run is labelled with (W&B's ``init(group=, tags=, notes=)``) and the
``distributed_id`` that joins the runs of one distributed job: their rules, checked by
the client when it is called and by the server at its boundary.
"""

from __future__ import annotations

import unicodedata

from asyncart.errors import ConfigError, InvalidNameError

MAX_GROUP_LENGTH = 128  #: characters of a run group or a distributed id
MAX_RUN_TAG_LENGTH = 64  #: characters of one run tag (W&B's limit)
MAX_RUN_TAGS = 100  #: tags of one run
MAX_NOTES_BYTES = 64 << 10  #: a run's notes, UTF-8


def _label(value: object, what: str, limit: int) -> str:
    """A one-line printable string of 1..``limit`` characters, no surrounding whitespace."""
    if not isinstance(value, str):
        raise InvalidNameError(f"{what} must be a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise InvalidNameError(
            f"{what} {value!r} must not be empty or start or end with whitespace"
        )
    if len(value) > limit:
        raise InvalidNameError(
            f"{what} {value[:20]!r}... is {len(value)} characters; the limit is {limit}"
        )
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise InvalidNameError(f"{what} {value!r} contains a control character; use printable ones")
    return value


def validate_group(group: object) -> str:
    """A run group (``init(group=)``): what the runs of one job share."""
    return _label(group, "run group", MAX_GROUP_LENGTH)


def validate_distributed_id(value: object) -> str:
    """A ``distributed_id``: the processes of one job writing one version share it."""
    return _label(value, "distributed_id", MAX_GROUP_LENGTH)


def validate_run_tags(tags: object) -> tuple[str, ...]:
    """Run tags (``init(tags=)``): a list of labels of at most 64 characters, duplicates
    dropped (the first kept, in order)."""
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
        raise ConfigError(f"run tags must be a list of strings, got {type(tags).__name__}")
    if len(tags) > MAX_RUN_TAGS:
        raise ConfigError(f"a run has at most {MAX_RUN_TAGS} tags, got {len(tags)}")
    return tuple(dict.fromkeys(_label(t, "run tag", MAX_RUN_TAG_LENGTH) for t in tags))


def validate_notes(notes: object) -> str:
    """Run notes (``init(notes=)``): free text of at most 64 KiB of UTF-8, no NUL."""
    if not isinstance(notes, str):
        raise ConfigError(f"run notes must be a string, got {type(notes).__name__}")
    if "\x00" in notes:
        raise ConfigError("run notes must not contain NUL characters")
    if len(notes.encode("utf-8", "surrogatepass")) > MAX_NOTES_BYTES:
        raise ConfigError(
            f"run notes are at most {MAX_NOTES_BYTES} bytes of UTF-8; put longer text in a file"
        )
    return notes
