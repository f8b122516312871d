"""API keys stored per server URL in ``<config dir>/credentials.json`` (mode 0600).

The file is ``{"servers": {"<url>": {"api_key": "..."}}}``. It is replaced atomically:
written under a temporary name created with mode 0600, fsynced, then renamed over the old
one, so it is never readable by others, not even for a moment, and never half written.

A key is never sent (nor stored for sending) in clear text across a network: to a plain
``http://`` URL whose host is not loopback (``127.0.0.0/8``, ``::1``, ``localhost``) it
is refused with a :class:`ConfigError` before any request, unless
``ASYNCART_ALLOW_INSECURE_KEY=1`` (:attr:`Settings.allow_insecure_key`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asyncart.config import Settings
from asyncart.core.net import is_loopback
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


def display_url(url: str) -> str:
    """``url`` fit for messages: normalized, without any ``user:password@`` part."""
    url = normalize_url(url)
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def clear_text_host(url: str) -> str | None:
    """The host a key sent to ``url`` would reach in clear text across a network, if any.

    That is a plain ``http://`` URL whose host is not loopback (a host name other than
    ``localhost`` counts as not loopback: it may resolve anywhere). ``None`` for
    ``https://`` and for ``http://`` to ``127.0.0.0/8``, ``::1`` or ``localhost``.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "http":
        return None
    host = parts.hostname or ""
    if host and is_loopback(host):
        return None
    return host or display_url(url)


def check_key_transport(settings: Settings, url: str, *, action: str) -> None:
    """Refuse to send (or store for sending) an API key to ``url`` in clear text.

    ``action`` says what was about to happen, e.g. ``"send the API key from
    ASYNCART_API_KEY to"``; it starts the message.

    Raises:
        ConfigError: ``url`` is plain ``http://`` to a host that is not loopback and
            ``settings.allow_insecure_key`` is false. The message says why and what to
            do; it never contains the key.
    """
    host = clear_text_host(url)
    if host is None or settings.allow_insecure_key:
        return
    raise ConfigError(
        f"refusing to {action} {display_url(url)}: it is plain http:// and {host} is not a "
        "loopback address, so the key would cross the network in clear text; use an "
        "https:// URL (serve with 'asyncart server --certfile ... --keyfile ...'), or set "
        "ASYNCART_ALLOW_INSECURE_KEY=1 if you accept that risk on a trusted network"
    )


def key_source(settings: Settings) -> str | None:
    """Where the key for ``settings.url`` comes from, for messages (never the key itself)."""
    if settings.api_key:
        return "the API key in ASYNCART_API_KEY"
    if settings.url is not None and stored_key(settings, settings.url):
        return f"the API key 'asyncart login' stored in {credentials_path(settings)}"
    return None


def api_key_for(settings: Settings) -> str | None:
    """The key to send to ``settings.url``: ``ASYNCART_API_KEY``, else the stored one.

    Raises:
        ConfigError: there is a key and ``settings.url`` would carry it in clear text
            across a network (see :func:`check_key_transport`).
    """
    if settings.url is None:
        return settings.api_key or None
    key = settings.api_key or stored_key(settings, settings.url)
    if key:
        source = (
            "the API key from ASYNCART_API_KEY"
            if settings.api_key
            else "the API key 'asyncart login' stored"
        )
        check_key_transport(settings, settings.url, action=f"send {source} to")
    return key


def store_key(settings: Settings, url: str, key: str) -> Path:
    """Remember ``key`` for ``url`` in the credentials file; returns the file's path.

    Raises:
        ConfigError: ``url`` would carry the key in clear text across a network (see
            :func:`check_key_transport`); nothing is written then.
    """
    check_key_transport(settings, url, action="store an API key for")
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
