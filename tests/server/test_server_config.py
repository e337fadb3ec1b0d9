"""Configuration: defaults < memtrace.toml < MEMTRACE_* environment < command-line flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from memtrace_server.config import ConfigError, ServerConfig, load_config, to_toml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "memtrace.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = load_config(None, env={}, search=False)
    assert (config.server.host, config.server.port, config.server.data_dir) == ("127.0.0.1", 9100, "./data")
    assert config.auth.enabled and config.auth.bcrypt_cost == 10
    assert config.dedup.enabled and config.dedup.window_hours == 24
    assert config.limits.rate_limit_per_org == 1000 and config.limits.max_body_bytes == 32 * 1024 * 1024
    assert config.store.synchronous == "FULL" and config.source is None


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
port = 9200
host = "0.0.0.0"
[log]
format = "json"
[limits]
rate_limit_per_org = 50
max_content_length = 2000
""",
    )
    env = {
        "MEMTRACE_SERVER_PORT": "9300",
        "MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "12.5",
        "MEMTRACE_DATA_DIR": "/srv/d",
    }
    config = load_config(path, env=env, overrides={"server.port": 9400, "server.host": None})
    assert config.server.port == 9400  # flag beats env beats file
    assert config.server.host == "0.0.0.0"  # a flag left unset does not override
    assert config.limits.rate_limit_per_org == 12.5 and config.limits.max_content_length == 2000
    assert config.log.format == "json" and config.server.data_dir == "/srv/d" and config.source == str(path)


def test_the_original_config_file_still_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[server]
host = "0.0.0.0"
port = 9100
read_timeout = 30
write_timeout = 30
shutdown_timeout = 30
[log]
level = "info"
format = "console"
[arc]
connect_timeout = 5
query_timeout = 30
write_batch_size = 100
write_flush_interval_ms = 1000
[auth]
enabled = true
db_path = "./data/memtrace.db"
[dedup]
enabled = true
window_hours = 24
""",
    )
    config = load_config(path, env={})
    assert config.server.shutdown_timeout == 30 and config.dedup.window_hours == 24


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[limits]\nmax_contnet_length = 5\n", {}, "unknown key 'limits.max_contnet_length'"),
        ("[nope]\nx = 1\n", {}, "unknown section [nope]"),
        ("[server]\nport = 'ninety'\n", {}, "server.port"),
        ("[server]\nport = 70000\n", {}, "server.port must be between"),
        ("[auth]\nbcrypt_cost = 4\n", {}, "bcrypt_cost"),
        ("[log]\nformat = 'xml'\n", {}, "log.format"),
        ("[store]\nbackend = 'postgres'\n", {}, "store.backend"),
        ("[server\n", {}, "memtrace.toml"),
        ("", {"MEMTRACE_AUTH_ENABLED": "maybe"}, "MEMTRACE_AUTH_ENABLED"),
        ("", {"MEMTRACE_LIMITS_MAX_BODY_BYTES": "1.5"}, "MEMTRACE_LIMITS_MAX_BODY_BYTES"),
    ],
)
def test_bad_configuration_is_an_error_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        load_config(write(tmp_path, text), env=env)


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", env={})


def test_to_toml_round_trips(tmp_path: Path) -> None:
    config = load_config(
        None,
        env={
            "MEMTRACE_LIMITS_RATE_LIMIT_PER_ORG": "3",
            "MEMTRACE_SERVER_CORS_ALLOW_ORIGINS": "https://a.example,https://b.example",
        },
        search=False,
    )
    assert config.server.cors_allow_origins == ["https://a.example", "https://b.example"]
    again = load_config(write(tmp_path, to_toml(config)), env={})
    again.source = None
    assert again == config
    assert to_toml(ServerConfig()) == to_toml()


def test_printed_configuration_hides_the_database_password_and_the_cookie_secret() -> None:
    config = load_config(
        None,
        env={
            "MEMTRACE_STORE_URL": "postgresql://memtrace:s3cret-pw@db.internal:6432/memtrace?sslmode=require",
            "MEMTRACE_UI_SESSION_SECRET": "x" * 40,
        },
        search=False,
    )
    printed = to_toml(config)
    assert "s3cret-pw" not in printed and "x" * 40 not in printed
    assert 'url = "postgresql://memtrace:<redacted>@db.internal:6432/memtrace?sslmode=require"' in printed
    # What is not a secret is printed as configured.
    assert (
        to_toml(load_config(None, env={"MEMTRACE_STORE_URL": "/var/lib/memtrace"}, search=False)).count(
            'url = "/var/lib/memtrace"'
        )
        == 1
    )


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (None, "sqlite"),
        ("/var/lib/memtrace", "sqlite"),
        ("sqlite:////var/lib/memtrace", "sqlite"),
        ("postgresql://db/memtrace", "postgresql"),
        ("postgres://db/memtrace", "postgresql"),
        ("postgresql+psycopg://db/memtrace", "postgresql"),
    ],
)
def test_health_names_the_store_the_url_chooses(url: str | None, kind: str) -> None:
    env = {"MEMTRACE_STORE_URL": url} if url else {}
    assert load_config(None, env=env, search=False).store.kind == kind
