"""Artifact metadata as W&B validates it: a JSON object, copied, normalised.

``normalize_metadata`` is applied when metadata is set (the constructor, the
``metadata`` setter) and again when it is logged or saved, so changes made in place
(``artifact.metadata["k"] = v``) are checked too. Normalising turns NumPy scalars and
arrays into plain numbers and lists, tuples into lists, ``NaN`` into ``None`` (JSON
``null``), and makes a deep copy through JSON, so later changes to the caller's
objects never reach the artifact.
"""

from __future__ import annotations

import json
import math
from typing import Any

from asyncart.errors import ConfigError

#: W&B's bound on the top-level keys of an artifact's metadata.
MAX_METADATA_KEYS = 100


def _plain(value: Any) -> Any:
    """``value`` with NumPy values, tuples and NaN made JSON-friendly (recursively)."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ConfigError(
                "artifact metadata must not hold Infinity or -Infinity (JSON has no such "
                "number); store it as a string or leave it out"
            )
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if type(value).__module__ == "numpy":  # a NumPy scalar or array, without importing it
        converted = value.tolist() if hasattr(value, "tolist") else value.item()
        return _plain(converted)
    return value


def normalize_metadata(metadata: object) -> dict[str, Any]:
    """A checked, JSON-normalised deep copy of ``metadata`` (None: ``{}``; a string: a
    JSON object to parse).

    Raises:
        ConfigError: not a dict (nor a JSON object's text), not JSON-serialisable,
            holding Infinity, or more than :data:`MAX_METADATA_KEYS` top-level keys.
    """
    if metadata is None:
        return {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata else {}
        except ValueError as exc:
            raise ConfigError(f"artifact metadata given as text must be JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise ConfigError(f"artifact metadata must be a dict, got {type(metadata).__name__}")
    try:
        copied: dict[str, Any] = json.loads(json.dumps(_plain(metadata), allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"artifact metadata must be JSON-serialisable: {exc}") from None
    if len(copied) > MAX_METADATA_KEYS:
        raise ConfigError(
            f"artifact metadata has {len(copied)} keys; W&B's limit, kept by asyncart, is "
            f"{MAX_METADATA_KEYS} (nest the rest under fewer keys)"
        )
    return copied
