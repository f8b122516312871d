"""API keys stored per server URL in ``<config dir>/credentials.json`` (mode 0600).

The file is ``{"servers": {"<url>": {"api_key": "..."}}}``. It is replaced atomically:
written under a temporary name created with mode 0600, fsynced, then renamed over the old
one, so it is never readable by others, not even for a moment, and never half written.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from asyncart.config import Settings
from asyncart.errors import ConfigError

FILE_NAME = "credentials.json"


def normalize_url(url: str) -> str:
    """The form a URL is stored under: no trailing slash."""
    return url.strip().rstrip("/")


def credentials_path(settings: Settings) -> Path:
    """Where the credentials file lives for these settings."""
    return settings.config_dir / FILE_NAME


def _load(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"servers": {}}
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(
            f"credentials file {path} is not valid JSON; fix it or delete it and log in again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("servers", {}), dict):
        raise ConfigError(f"credentials file {path} is malformed; delete it and log in again")
    data.setdefault("servers", {})
    return data


def stored_key(settings: Settings, url: str) -> str | None:
    """The key ``asyncart login`` stored for ``url``, if any."""
    entry = _load(credentials_path(settings))["servers"].get(normalize_url(url))
    key = entry.get("api_key") if isinstance(entry, dict) else None
    return key if isinstance(key, str) and key else None


def api_key_for(settings: Settings) -> str | None:
    """The key to send to ``settings.url``: ``ASYNCART_API_KEY``, else the stored one."""
    if settings.api_key:
        return settings.api_key
    if settings.url is None:
        return None
    return stored_key(settings, settings.url)


def store_key(settings: Settings, url: str, key: str) -> Path:
    """Remember ``key`` for ``url`` in the credentials file; returns the file's path."""
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = _load(path)
    data["servers"][normalize_url(url)] = {"api_key": key}
    tmp = path.with_name(f".{FILE_NAME}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
