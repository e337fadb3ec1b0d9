"""Server configuration: defaults, then `memtrace.toml`, then ``MEMTRACE_*`` environment variables, then flags.

The keys are the original's (spec §7) where they still mean something, plus ours (``[limits]``, ``[store]``,
``server.data_dir``, ``auth.cache_ttl_seconds``…). Every key ``section.name`` can be overridden by the variable
``MEMTRACE_SECTION_NAME`` (e.g. ``MEMTRACE_SERVER_PORT=9200``, ``MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG=50``);
``MEMTRACE_DATA_DIR`` is accepted as a short form of ``MEMTRACE_SERVER_DATA_DIR``.

Keys of the original that do not apply here (``[arc]``, ``auth.db_path``, ``server.read_timeout``,
``server.write_timeout``) are accepted and ignored, so an existing ``memtrace.toml`` still loads; unknown keys are an error, so typos do not pass silently.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_type_hints
from urllib.parse import urlsplit, urlunsplit

from memtrace import limits as core_limits
from memtrace.errors import ValidationError
from memtrace.retention import check_policy_mapping
from memtrace.sweep import MAX_SWEEP_BATCH

CONFIG_FILENAME = "memtrace.toml"
SEARCH_DIRS = (Path("."), Path("/etc/memtrace"), Path.home() / ".memtrace")
"""Where `memtrace.toml` is looked for when no ``--config`` is given, in order (as the original)."""


class ConfigError(ValueError):
    """The configuration file or an environment variable has a bad key or value."""


@dataclass
class ServerSection:
    host: str = "127.0.0.1"
    port: int = 9100
    data_dir: str = "./data"
    shutdown_timeout: float = 30.0
    """Seconds in-flight requests get to finish after SIGTERM/SIGINT before connections are closed."""
    keep_alive_timeout: float = 5.0
    """Seconds an idle keep-alive connection is kept open between requests."""
    header_timeout: float = 10.0
    """Seconds a connection gets to send a request's headers, counted from when it starts waiting for one
    (opened, or its previous response sent); then 408 and the connection is closed (slow-header clients)."""
    body_timeout: float = 60.0
    """Seconds a request gets to send its whole body once its headers are in; then 408 (slow-body clients).
    At the default body limit (32 MiB) this asks for about 4 Mbit/s; raise it for slow links."""
    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and headers); larger gets 431 and the connection is closed."""
    max_connections: int = 0
    """Open connections at most; at the bound, the connection idle the longest is closed for a new one.
    0 (default): derived from the process's open-file limit, leaving room for the store."""
    worker_threads: int = 8
    """Threads that run store calls (SQLite blocks; the event loop must not)."""
    cors_allow_origins: list[str] = field(default_factory=list)
    """Origins allowed by CORS; empty disables CORS (the original allowed ``*``)."""


@dataclass
class LogSection:
    level: str = "info"
    format: str = "console"
    """``console`` or ``json`` (one JSON object per line)."""
    access: bool = False
    """Log every request (costs throughput; off by default)."""


@dataclass
class AuthSection:
    enabled: bool = True
    """With auth off every request acts as an admin of ``org_default``: only for a trusted local network."""
    bcrypt_cost: int = 10
    cache_ttl_seconds: float = 300.0
    """How long a verified key stays cached (warm requests never pay bcrypt)."""
    revocation_poll_seconds: float = 2.0
    """How often the server re-reads the key table, so a key revoked elsewhere (the CLI, another node) stops
    working within this many seconds. Revoking through this server's REST API takes effect at once."""


@dataclass
class DedupSection:
    enabled: bool = True
    window_hours: float = 24.0


@dataclass
class LimitsSection:
    max_body_bytes: int = 32 * 1024 * 1024
    """Largest accepted request body; larger ones get 413."""
    max_batch_reply_bytes: int = 64 * 1024 * 1024
    """Bytes of replies one ``POST /api/v1/batch`` may gather: a batch holds every reply in memory until it is
    sent, so without it one request of 1,000 large listings could hold gigabytes. Sub-requests not yet started
    when the replies pass it are not run and answer 413 (send them again)."""
    max_content_length: int = 1_000_000
    """Longest accepted memory content, in characters; longer gets 400 naming the field."""
    rate_limit_per_org: float = 1000.0
    """Requests per second per organisation; 0 disables. Over the limit: 429 with Retry-After, answered before
    the request's body is read."""
    rate_limit_burst: int = 0
    """Bucket size; 0 means one second's worth of requests."""
    auth_failures_per_address: float = 10.0
    """Failed authentications (missing, malformed, unknown or revoked key) per second per client address; past
    it (and the burst), that address gets 429 with Retry-After before any key lookup. 0 disables."""
    auth_failures_burst: int = 100
    max_metadata_bytes: int = core_limits.MAX_METADATA_BYTES
    """Largest metadata (memory, session) or agent config, as compact UTF-8 JSON; larger gets 400."""
    max_metadata_depth: int = core_limits.MAX_METADATA_DEPTH
    """Deepest nesting of metadata objects and arrays; deeper gets 400."""
    max_filter_tags: int = core_limits.MAX_FILTER_TAGS
    """Tags in one list, search or delete filter."""
    max_filter_types: int = core_limits.MAX_FILTER_TYPES
    """Entries in one search's event_types or memory_types."""
    query_time_budget_seconds: float = core_limits.QUERY_TIME_BUDGET_SECONDS
    """Wall time one store query may take; longer gets 422 (query too expensive). 0 disables."""
    max_concurrent_per_org: int = 0
    """Store calls one organisation may run at once (of ``server.worker_threads``); the rest of its calls
    wait, so another organisation's requests are served at once. 0 (default): half the worker threads."""

    def concurrent_calls_per_org(self, worker_threads: int = 0) -> int:
        return self.max_concurrent_per_org or max(1, worker_threads // 2)


@dataclass
class StoreSection:
    url: str | None = None
    """Where memories and metadata live: a directory or ``sqlite:///path`` (the embedded store), or
    ``postgresql://...``. Default: the data directory (``server.data_dir``). ``--store-url`` /
    ``MEMTRACE_STORE_URL``."""
    backend: str = "sqlite"
    synchronous: str = "FULL"
    """SQLite durability: FULL (every acknowledged write is on disk) or NORMAL (survives a process crash,
    may lose the last commits on power loss)."""

    @property
    def sqlite_synchronous(self) -> Literal["FULL", "NORMAL"]:
        return "NORMAL" if self.synchronous.upper() == "NORMAL" else "FULL"

    @property
    def kind(self) -> str:
        """Which store `url` names, as /health reports it: ``postgresql`` or ``sqlite`` (`backend`)."""
        scheme = (self.url or "").split("://", 1)[0].split("+", 1)[0].lower()
        return "postgresql" if scheme in ("postgresql", "postgres") else self.backend


@dataclass
class UISection:
    enabled: bool = True
    """Serve the web dashboard at ``/ui``."""
    session_secret: str = ""
    """Signs and encrypts dashboard sessions. Give every replica the same value so they accept each other's
    cookies; empty means a random secret kept in ``<data_dir>/ui_session_secret`` (mode 0600)."""
    session_ttl_seconds: float = 8 * 3600.0
    """How long a dashboard sign-in lasts."""


@dataclass
class AuditSection:
    retention_days: float = 365.0
    """How long audit entries are kept (`memtrace.audit`); older ones are deleted by the leader replica's
    pruning job. 0 keeps them forever."""
    prune_interval_seconds: float = 3600.0
    """How often the leader looks for audit entries past `retention_days`."""


@dataclass
class RetentionSection:
    """The retention policy of the default organisation (``org_default``), and the sweeper's pace.

    Each type key takes a duration (``30d``, ``12w``, ``36h``: at least an hour) or ``forever``; ``default``
    covers every type without its own key. A key left out (empty) leaves that rule as it is stored, so rules set
    with ``memtrace retention set`` or the admin API stay; a key given here is written at every start, so the file
    wins for the rules it names. Other organisations' policies are set with the CLI or the admin API."""

    default: str = ""
    episodic: str = ""
    session: str = ""
    decision: str = ""
    entity: str = ""
    sweep_interval_seconds: float = 60.0
    """How often the leader deletes expired and out-of-policy memories: the bound on how long an expired memory
    stays on disk (plus one sweep's duration). Reads never return it after it expires either way."""
    sweep_batch: int = 100
    """Memories per sweep transaction: each holds the store's write lock for its statements and commit."""

    def policy(self) -> dict[str, str]:
        """The rules this section names: ``{"default" or type: keep}``."""
        return {
            key: value.strip()
            for key, value in (
                ("default", self.default),
                ("episodic", self.episodic),
                ("session", self.session),
                ("decision", self.decision),
                ("entity", self.entity),
            )
            if value.strip()
        }


@dataclass
class ServerConfig:
    server: ServerSection = field(default_factory=ServerSection)
    log: LogSection = field(default_factory=LogSection)
    auth: AuthSection = field(default_factory=AuthSection)
    dedup: DedupSection = field(default_factory=DedupSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    store: StoreSection = field(default_factory=StoreSection)
    ui: UISection = field(default_factory=UISection)
    audit: AuditSection = field(default_factory=AuditSection)
    retention: RetentionSection = field(default_factory=RetentionSection)
    source: str | None = None
    """The file this configuration was read from, if any."""

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)

    def validate(self) -> ServerConfig:
        problems = []
        if not 0 < self.server.port < 65536:
            problems.append("server.port must be between 1 and 65535")
        if self.server.header_timeout <= 0 or self.server.body_timeout <= 0:
            problems.append("server.header_timeout and server.body_timeout must be positive")
        if self.server.max_header_bytes < 1024:
            problems.append("server.max_header_bytes must be at least 1024")
        if self.server.max_connections < 0:
            problems.append("server.max_connections must not be negative (0 = from the open-file limit)")
        if self.server.worker_threads < 1:
            problems.append("server.worker_threads must be at least 1")
        if self.log.format not in ("console", "json"):
            problems.append("log.format must be 'console' or 'json'")
        if self.log.level.lower() not in ("debug", "info", "warning", "warn", "error", "critical"):
            problems.append("log.level must be debug, info, warning, error or critical")
        if not 10 <= self.auth.bcrypt_cost <= 16:
            problems.append("auth.bcrypt_cost must be between 10 and 16")
        if self.limits.max_body_bytes < 1024:
            problems.append("limits.max_body_bytes must be at least 1024")
        if self.limits.max_batch_reply_bytes < 1024:
            problems.append("limits.max_batch_reply_bytes must be at least 1024")
        if self.limits.max_content_length < 1:
            problems.append("limits.max_content_length must be at least 1")
        if min(self.limits.max_metadata_bytes, self.limits.max_metadata_depth) < 1:
            problems.append("limits.max_metadata_bytes and max_metadata_depth must be at least 1")
        if min(self.limits.max_filter_tags, self.limits.max_filter_types) < 1:
            problems.append("limits.max_filter_tags and max_filter_types must be at least 1")
        if self.limits.query_time_budget_seconds < 0:
            problems.append("limits.query_time_budget_seconds must not be negative")
        if self.limits.rate_limit_per_org < 0 or self.limits.rate_limit_burst < 0:
            problems.append("limits.rate_limit_per_org and rate_limit_burst must not be negative")
        if self.limits.max_concurrent_per_org < 0:
            problems.append(
                "limits.max_concurrent_per_org must not be negative (0 = half the worker threads)"
            )
        if self.store.url is not None and not self.store.url.strip():
            problems.append("store.url must not be empty (leave it out to use the data directory)")
        if self.limits.auth_failures_per_address < 0 or self.limits.auth_failures_burst < 0:
            problems.append("limits.auth_failures_per_address and auth_failures_burst must not be negative")
        if self.store.backend != "sqlite":
            problems.append("store.backend: only 'sqlite' is available in this build")
        if self.store.synchronous.upper() not in ("FULL", "NORMAL"):
            problems.append("store.synchronous must be FULL or NORMAL")
        if self.dedup.window_hours <= 0:
            problems.append("dedup.window_hours must be positive")
        if not 60 <= self.ui.session_ttl_seconds <= 30 * 86400:
            problems.append("ui.session_ttl_seconds must be between 60 and 2592000 (30 days)")
        if self.ui.session_secret and len(self.ui.session_secret) < 32:
            problems.append("ui.session_secret must be at least 32 characters")
        if self.audit.retention_days < 0:
            problems.append("audit.retention_days must not be negative (0 = keep forever)")
        if self.audit.prune_interval_seconds < 1:
            problems.append("audit.prune_interval_seconds must be at least 1")
        if not 1 <= self.retention.sweep_interval_seconds <= 86400:
            problems.append("retention.sweep_interval_seconds must be between 1 and 86400")
        if not 1 <= self.retention.sweep_batch <= MAX_SWEEP_BATCH:
            problems.append(f"retention.sweep_batch must be between 1 and {MAX_SWEEP_BATCH}")
        try:
            check_policy_mapping(self.retention.policy(), "retention")
        except ValidationError as exc:
            problems.append(exc.message)
        if problems:
            raise ConfigError("; ".join(problems))
        return self


_SECTIONS = {f.name for f in dataclasses.fields(ServerConfig) if f.name != "source"}
# Keys of the original that mean nothing here (Arc settings, the auth DB path, Fiber's read/write timeouts);
# accepted so an existing memtrace.toml loads, and otherwise ignored.
_IGNORED_SECTIONS = {"arc"}
_IGNORED_KEYS = {"server.read_timeout", "server.write_timeout", "auth.db_path"}


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Convert a TOML or environment value to the field's type, or raise ConfigError naming `where`."""
    text = isinstance(value, str)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if text and value.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if text and value.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is int:
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind == list[str]:
            if text:
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError(value)
        if kind == str | None:
            return None if value is None else str(value)
        if kind is str:
            if not text:
                raise ValueError(value)
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid {getattr(kind, '__name__', kind)}") from None
    raise ConfigError(f"{where}: unsupported type")


def _apply(config: ServerConfig, section: str, key: str, value: Any, where: str) -> None:
    target = getattr(config, section)
    hints = get_type_hints(type(target))
    if key not in hints:
        raise ConfigError(f"{where}: unknown key '{section}.{key}'")
    setattr(target, key, _coerce(value, hints[key], where))


def find_config_file() -> Path | None:
    for directory in SEARCH_DIRS:
        candidate = directory / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    search: bool = True,
) -> ServerConfig:
    """Build the configuration.

    `path` is an explicit ``memtrace.toml`` (it must exist); without it the standard places are searched when
    `search` is true. `env` defaults to ``os.environ``. `overrides` maps ``"section.key"`` to values from
    command-line flags (None values are skipped).
    """
    config = ServerConfig()
    env = os.environ if env is None else env
    file = Path(path) if path is not None else (find_config_file() if search else None)
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"config file {file} does not exist")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from None
        for section, values in data.items():
            if section in _IGNORED_SECTIONS:
                continue
            if section not in _SECTIONS or not isinstance(values, dict):
                raise ConfigError(f"{file}: unknown section [{section}]")
            for key, value in values.items():
                if f"{section}.{key}" in _IGNORED_KEYS:
                    continue
                _apply(config, section, key, value, f"{file}: {section}.{key}")
        config.source = str(file)

    if env.get("MEMTRACE_DATA_DIR"):
        config.server.data_dir = env["MEMTRACE_DATA_DIR"]
    for section in _SECTIONS:
        for key in get_type_hints(type(getattr(config, section))):
            name = f"MEMTRACE_{section.upper()}_{key.upper()}"
            if name in env:
                _apply(config, section, key, env[name], name)

    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        _apply(config, section, key, value, f"--{key.replace('_', '-')}")
    return config.validate()


def to_toml(config: ServerConfig | None = None) -> str:
    """`config` (default: all defaults) as a `memtrace.toml`."""
    config = config or ServerConfig()
    lines = ["# memtrace server configuration (every key can be overridden by MEMTRACE_<SECTION>_<KEY>)"]
    for section in ("server", "log", "auth", "dedup", "limits", "store", "ui", "audit", "retention"):
        lines.append(f"\n[{section}]")
        for f in dataclasses.fields(getattr(config, section)):
            value = getattr(getattr(config, section), f.name)
            if value is None:
                continue
            value = _redacted(section, f.name, value)
            lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _redacted(section: str, name: str, value: Any) -> Any:
    """`value` without its secrets: `memtrace config` output ends up in terminals, tickets and logs."""
    if (section, name) == ("ui", "session_secret") and value:
        return "<redacted>"
    if (section, name) == ("store", "url") and isinstance(value, str):
        return redacted_url(value)
    return value


def redacted_url(url: str) -> str:
    """A store URL with its password (if any) replaced by ``<redacted>``, for output people read."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    netloc = f"{user}<redacted>@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
