"""Settings: the only place ``ASYNCART_*`` environment variables are read.

===========================  =========================================  ====================
variable                     meaning                                    default
===========================  =========================================  ====================
ASYNCART_URL                 server URL; unset = embedded local store   (unset)
ASYNCART_DIR                 embedded store directory                   ~/.asyncart/store
ASYNCART_PROJECT             default project                            default
ASYNCART_CONCURRENCY         parallel transfers to start with           4
ASYNCART_MAX_CONCURRENCY     most parallel transfers it may grow to     16 (or CONCURRENCY
                             while throughput grows (= CONCURRENCY:     if larger)
                             fixed)
ASYNCART_PACK_SIZE           target bytes per uploaded pack             32 MiB
ASYNCART_CHUNKER             ``cdc`` or ``fixed``                       cdc
ASYNCART_CHUNK_SIZE          average (cdc) or exact (fixed) chunk size  256 KiB (cdc), 1 MiB (fixed)
ASYNCART_IDLE_TIMEOUT        seconds without a byte before a retry      60
ASYNCART_RETRY_DEADLINE      total seconds spent retrying one request   300
ASYNCART_MAX_ATTEMPTS        attempts per request                       10
ASYNCART_CONNECT_PATIENCE    seconds a request retries a server that    10 (the CLI: 2)
                             has not answered yet in this process
                             (refused, connect timeout); an unknown
                             host or http/https mismatch: no retry
ASYNCART_LOCK_TIMEOUT        seconds a pull waits for another process   (unset: no limit)
                             pulling into the same directory (0: fail
                             at once instead of waiting)
ASYNCART_CACHE_DIR           local cache directory (holds the hash      $XDG_CACHE_HOME/asyncart,
                             cache, ``hashes-v1.sqlite3``)              else ~/.cache/asyncart
ASYNCART_CACHE_MAX_SIZE      budget of the download cache (``blobs/``   auto
                             under the cache directory): ``20GB``,
                             ``500MiB``, bytes, or ``auto`` (10% of
                             its file system, at most 50 GiB); ``0``
                             turns the download cache off
ASYNCART_HASH_CACHE          ``0`` disables the hash cache (unchanged   1
                             files are then read again on every push)
ASYNCART_DIRECT_TRANSFER     ``0``: never move pack bytes straight to   1 (used when the server
                             or from the server's object store          offers it)
ASYNCART_THREAD_READS        ``0``: pull pack ranges through aiohttp on  1
                             the event loop instead of blocking
                             sockets in worker threads
ASYNCART_CA_BUNDLE           PEM file of CA certificates trusted for    (unset: the system's
                             an https:// server URL                     trust store)
ASYNCART_API_KEY             API key sent as ``Authorization: Bearer``  (unset: the key
                             to the server                              ``asyncart login``
                                                                        stored for the URL)
ASYNCART_CONFIG_DIR          where ``credentials.json`` lives           $XDG_CONFIG_HOME/asyncart,
                                                                        else ~/.config/asyncart
ASYNCART_PUSH_WORKER         where background uploads hash and send     auto
                             their bytes: ``auto`` = a low-priority
                             worker process for logs of 64 MiB or more
                             that run while the caller goes on (so the
                             training loop keeps its core and the GIL),
                             ``always``, ``never`` = in this process
ASYNCART_ALLOW_INSECURE_KEY  ``1`` sends the API key even over plain    0 (refused: a key
                             ``http://`` to a host that is not          goes to such a host
                             loopback (the key then crosses the         only over https://)
                             network in clear text)
===========================  =========================================  ====================
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from asyncart.core.chunking import ChunkerSpec
from asyncart.core.humanize import parse_size
from asyncart.errors import ConfigError

MiB = 1 << 20
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
PUSH_WORKER_MODES = ("auto", "always", "never")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/asyncart`` if that is an absolute path, else ``~/.cache/asyncart``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "asyncart"


def default_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/asyncart`` if that is an absolute path, else ``~/.config/asyncart``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "asyncart"


def env_flag(env: Mapping[str, str], var: str) -> bool | None:
    """A boolean variable: ``1/true/yes/on`` or ``0/false/no/off`` (any case); None when
    unset or empty. ConfigError, naming the variable, for anything else."""
    text = env.get(var, "").strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{var}={env[var]!r} is not a yes/no value: use 1 or 0")


#: Where the command line's defaults differ from the SDK's: a command keeps retrying a
#: server that has not answered yet for 2 s (a mistyped URL fails in about a second), a
#: program using the SDK for ``Settings.connect_patience``.
CLI_DEFAULTS = {"ASYNCART_CONNECT_PATIENCE": "2"}


def apply_cli_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """Put :data:`CLI_DEFAULTS` into ``environ`` (``os.environ``) where the user set none."""
    env = os.environ if environ is None else environ
    for var, value in CLI_DEFAULTS.items():
        env.setdefault(var, value)


@dataclass(frozen=True)
class Settings:
    """Client settings; each knob is checked on construction."""

    url: str | None = None
    store_dir: Path = field(default_factory=lambda: Path.home() / ".asyncart" / "store")
    project: str = "default"
    concurrency: int = 4
    max_concurrency: int | None = None  # None: max(16, concurrency)
    pack_size: int = 32 * MiB
    range_size: int = 32 * MiB
    chunker: ChunkerSpec = field(default_factory=ChunkerSpec)
    idle_timeout: float = 60.0
    connect_timeout: float = 10.0
    retry_deadline: float = 300.0
    max_attempts: int = 10
    # Seconds of retrying a server that has not answered in this process yet (a wrong URL
    # looks like that); once it has answered, retries run to retry_deadline.
    connect_patience: float = 10.0
    # Seconds a pull waits while another process pulls into the same directory (None: no limit).
    lock_timeout: float | None = None
    retry_initial_wait: float = 0.25
    retry_max_wait: float = 10.0
    cache_dir: Path = field(default_factory=default_cache_dir)
    # Bytes the download cache may hold (None: 10% of its file system, capped; 0: off).
    cache_max_size: int | None = None
    hash_cache: bool = True
    # Move pack bytes to/from the server's object store with presigned URLs when offered.
    direct_transfer: bool = True
    thread_reads: bool = True
    ca_bundle: Path | None = None  # trusted CAs for https:// (None: the system's)
    api_key: str | None = field(default=None, repr=False)  # a secret: never in reprs
    config_dir: Path = field(default_factory=default_config_dir)
    # Send a key over plain http:// to a non-loopback host (in clear text) all the same.
    allow_insecure_key: bool = False
    # Background uploads in a low-priority worker process: "auto", "always" or "never".
    push_worker: str = "auto"

    def __post_init__(self) -> None:
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"server URL {self.url!r} must start with http:// or https://")
        if not 1 <= self.concurrency <= 256:
            raise ConfigError(f"concurrency must be within 1..256, got {self.concurrency}")
        if self.max_concurrency is not None and not (
            self.concurrency <= self.max_concurrency <= 256
        ):
            raise ConfigError(
                f"max concurrency must be within concurrency ({self.concurrency})..256, "
                f"got {self.max_concurrency}"
            )
        if not MiB <= self.pack_size <= 128 * MiB:
            raise ConfigError(f"pack size must be within 1 MiB..128 MiB, got {self.pack_size}")
        if not 64 << 10 <= self.range_size <= 256 * MiB:
            raise ConfigError(f"range size must be within 64 KiB..256 MiB, got {self.range_size}")
        for name in (
            "idle_timeout",
            "connect_timeout",
            "retry_deadline",
            "retry_initial_wait",
            "connect_patience",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be a positive number of seconds")
        if not self.retry_max_wait >= self.retry_initial_wait:
            raise ConfigError(
                f"retry_max_wait ({self.retry_max_wait}) must be at least retry_initial_wait "
                f"({self.retry_initial_wait})"
            )
        if self.lock_timeout is not None and not self.lock_timeout >= 0:
            raise ConfigError(f"lock_timeout must be 0 or more seconds, got {self.lock_timeout}")
        if self.push_worker not in PUSH_WORKER_MODES:
            raise ConfigError(
                f"push worker mode (ASYNCART_PUSH_WORKER) {self.push_worker!r} is unknown; use "
                + ", ".join(repr(m) for m in PUSH_WORKER_MODES)
            )
        if self.cache_max_size is not None and self.cache_max_size < 0:
            raise ConfigError(f"cache_max_size must be 0 or more bytes, got {self.cache_max_size}")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            raise ConfigError(
                f"CA bundle {self.ca_bundle} is not a file; point ASYNCART_CA_BUNDLE "
                "at a PEM file of CA certificates"
            )

    @property
    def concurrency_ceiling(self) -> int:
        """The most transfers the adaptive limit may run at once."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        return max(16, self.concurrency)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``ASYNCART_*`` variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}
        if env.get("ASYNCART_URL"):
            kwargs["url"] = env["ASYNCART_URL"].rstrip("/")
        if env.get("ASYNCART_DIR"):
            kwargs["store_dir"] = Path(env["ASYNCART_DIR"]).expanduser()
        if env.get("ASYNCART_PROJECT"):
            kwargs["project"] = env["ASYNCART_PROJECT"]
        kwargs["cache_dir"] = (
            Path(env["ASYNCART_CACHE_DIR"]).expanduser()
            if env.get("ASYNCART_CACHE_DIR")
            else default_cache_dir(env)
        )
        if env.get("ASYNCART_CACHE_MAX_SIZE", "").strip().lower() == "auto":
            kwargs["cache_max_size"] = None
        elif env.get("ASYNCART_CACHE_MAX_SIZE", "").strip():
            try:
                kwargs["cache_max_size"] = parse_size(
                    env["ASYNCART_CACHE_MAX_SIZE"], what="ASYNCART_CACHE_MAX_SIZE"
                )
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if env.get("ASYNCART_API_KEY"):
            kwargs["api_key"] = env["ASYNCART_API_KEY"].strip()
        kwargs["config_dir"] = (
            Path(env["ASYNCART_CONFIG_DIR"]).expanduser()
            if env.get("ASYNCART_CONFIG_DIR")
            else default_config_dir(env)
        )
        if env.get("ASYNCART_CA_BUNDLE"):
            kwargs["ca_bundle"] = Path(env["ASYNCART_CA_BUNDLE"]).expanduser()
        for var, key in (
            ("ASYNCART_HASH_CACHE", "hash_cache"),
            ("ASYNCART_DIRECT_TRANSFER", "direct_transfer"),
            ("ASYNCART_THREAD_READS", "thread_reads"),
            ("ASYNCART_ALLOW_INSECURE_KEY", "allow_insecure_key"),
        ):
            flag = env_flag(env, var)
            if flag is not None:
                kwargs[key] = flag
        if env.get("ASYNCART_PUSH_WORKER"):
            kwargs["push_worker"] = env["ASYNCART_PUSH_WORKER"].strip().lower()
        for var, key, conv in (
            ("ASYNCART_CONCURRENCY", "concurrency", int),
            ("ASYNCART_MAX_CONCURRENCY", "max_concurrency", int),
            ("ASYNCART_PACK_SIZE", "pack_size", int),
            ("ASYNCART_IDLE_TIMEOUT", "idle_timeout", float),
            ("ASYNCART_RETRY_DEADLINE", "retry_deadline", float),
            ("ASYNCART_MAX_ATTEMPTS", "max_attempts", int),
            ("ASYNCART_CONNECT_PATIENCE", "connect_patience", float),
            ("ASYNCART_LOCK_TIMEOUT", "lock_timeout", float),
        ):
            if env.get(var):
                try:
                    kwargs[key] = conv(env[var])
                except ValueError:
                    raise ConfigError(f"{var}={env[var]!r} is not a valid number") from None
        kind = env.get("ASYNCART_CHUNKER", "cdc")
        size_text = env.get("ASYNCART_CHUNK_SIZE")
        try:
            size = int(size_text) if size_text else None
        except ValueError:
            raise ConfigError(f"ASYNCART_CHUNK_SIZE={size_text!r} is not a number") from None
        if kind == "fixed":
            kwargs["chunker"] = ChunkerSpec.fixed(size or MiB)
        elif kind == "cdc":
            if size:
                kwargs["chunker"] = ChunkerSpec(
                    kind="cdc", avg_size=size, min_size=max(64, size // 8 * 2), max_size=size * 4
                )
        else:
            raise ConfigError(f"ASYNCART_CHUNKER={kind!r} is unknown; use 'cdc' or 'fixed'")
        return cls(**kwargs)  # type: ignore[arg-type]
