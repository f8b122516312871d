"""What a run is given instead of an artifact or a label list: a bare path or URI for
``log_artifact`` (W&B's defaults), and ``init``'s ``group``/``tags``/``notes``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from asyncart.core.run_labels import validate_group, validate_notes, validate_run_tags
from asyncart.errors import ConfigError
from asyncart.sdk.artifact import BaseArtifact

A = TypeVar("A", bound=BaseArtifact)

#: W&B's type of an artifact logged from a bare path without ``type=``.
UNSPECIFIED_TYPE = "unspecified"


def artifact_of_path(
    cls: type[A],
    where: str | os.PathLike[str],
    name: str | None,
    type: str | None,
    run_id: str,
    cache_dir: Path,
) -> A:
    """The draft W&B makes of a path given to ``log_artifact``: a file, a directory, or
    a reference URI (``file://``, ``s3://``, ``http(s)://``), its snapshots staged under
    ``cache_dir``. Named ``run-<run id>-<base
    name>`` unless ``name`` is given, of type ``'unspecified'`` unless ``type`` is.

    Raises:
        ConfigError: the path is neither a file, a directory nor a URI.
        InvalidNameError: the name made is not a valid artifact name (give ``name=``).
    """
    text = os.fspath(where)
    artifact = cls(name or f"run-{run_id}-{os.path.basename(text)}", type or UNSPECIFIED_TYPE)
    artifact._draft.cache_dir = cache_dir  # snapshots are staged in the run's cache
    if os.path.isfile(text):
        artifact.add_file(text)
    elif os.path.isdir(text):
        artifact.add_dir(text)
    elif "://" in text:
        artifact.add_reference(text)
    else:
        raise ConfigError(
            f"{text!r} is not a file or a directory, nor a reference URI such as "
            "s3://bucket/path or https://host/file; pass an existing path or a URI"
        )
    return artifact


def check_labels(
    group: object, tags: Sequence[str] | None, notes: object
) -> tuple[str | None, tuple[str, ...], str | None]:
    """``init``'s ``group``, ``tags`` and ``notes``, checked (the server checks again)."""
    return (
        None if group is None else validate_group(group),
        () if tags is None else validate_run_tags(list(tags) if isinstance(tags, tuple) else tags),
        None if notes is None else validate_notes(notes),
    )
