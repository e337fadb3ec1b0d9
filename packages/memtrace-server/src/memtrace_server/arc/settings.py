"""``[arc]`` in memtrace.toml (or ``MEMTRACE_ARC_*``): tuning for every Arc store, and optionally a server-wide
default Arc that organisations without an Arc of their own use (without it they use the main store, as before).

The server's config loader accepts and ignores this section; its keys are checked here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from memtrace.errors import ValidationError
from memtrace.stores.arc.config import ArcConfig

from ..config import ConfigError, ServerConfig

# `[arc]` keys: the original's names (spec §7) and ours. Connection keys make a server-wide default Arc; the
# tuning keys apply to every organisation's Arc.
_CONNECTION_KEYS = {"url", "token", "api_key", "admin_token", "database", "measurement"}
_TUNING_KEYS = {
    "connect_timeout": "connect_timeout",
    "query_timeout": "timeout",
    "write_batch_size": "batch_size",
    "write_flush_interval_ms": "flush_interval",
    "max_spool_rows": "max_spool_rows",
    "visibility_timeout": "visibility_timeout",
    "dedup_checks_arc": "dedup_checks_arc",
}


@dataclass(frozen=True)
class ArcDefaults:
    """What ``[arc]`` says: tuning for every Arc store, and optionally a server-wide default Arc."""

    tuning: dict[str, Any]
    default: ArcConfig | None


def read_arc_section(config: ServerConfig, env: Mapping[str, str] | None = None) -> ArcDefaults:
    """``[arc]`` of the configuration file, then ``MEMTRACE_ARC_<KEY>`` variables (the server's config loader
    accepts and ignores this section; its keys are checked here)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config.source:
        data = tomllib.loads(Path(config.source).read_text(encoding="utf-8")).get("arc") or {}
        for key, value in data.items():
            if key not in _CONNECTION_KEYS and key not in _TUNING_KEYS:
                raise ConfigError(f"{config.source}: unknown key 'arc.{key}'")
            values[key] = value
    for key in (*_CONNECTION_KEYS, *_TUNING_KEYS):
        name = f"MEMTRACE_ARC_{key.upper()}"
        if env.get(name):
            values[key] = env[name]
    tuning: dict[str, Any] = {}
    kinds = {f.name: f.type for f in fields(ArcConfig)}
    for key, target in _TUNING_KEYS.items():
        if key not in values:
            continue
        raw = values[key]
        try:
            if kinds[target] in (bool, "bool"):
                value: Any = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes", "on")
            elif kinds[target] in (int, "int"):
                value = int(raw)
            else:
                value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"arc.{key}: expected a number, got {raw!r}") from None
        if key == "write_flush_interval_ms":
            value = value / 1000
        tuning[target] = value
    default = None
    if values.get("url"):
        token = values.get("token") or values.get("api_key")
        try:
            default = ArcConfig(
                url=str(values["url"]),
                token=str(token) if token else None,
                admin_token=str(values["admin_token"]) if values.get("admin_token") else None,
                database=str(values.get("database") or "memory"),
                measurement=str(values.get("measurement") or "events"),
                **tuning,
            )
        except ValidationError as exc:
            raise ConfigError(f"arc.{exc.field}: {exc.message}") from None
    return ArcDefaults(tuning, default)
