"""Where the server keeps its data: ``store.url`` (memtrace.toml ``[store] url``, ``MEMTRACE_STORE_URL``,
``--store-url``), readiness when the store fails, and the one-time move of Arc instances out of ``arc.db``."""

from __future__ import annotations

import base64
import secrets
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.server import memtrace

from memtrace_server.app import create_app
from memtrace_server.arc import MasterKey
from memtrace_server.arc_admin import get_org_arc
from memtrace_server.config import ConfigError, load_config
from memtrace_server.state import open_state


def test_ready_answers_503_when_the_store_fails(tmp_path: Path) -> None:
    config = load_config(None, env={}, search=False, overrides={"server.data_dir": str(tmp_path / "data")})
    state = open_state(config)
    with TestClient(create_app(state, close_state=False), raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        state.engine.close()  # the store goes away under a running server
        r = client.get("/ready")
    assert r.status_code == 503, r.text
    assert r.json()["status"] == "not ready" and r.json()["reason"].startswith("store_unavailable")


def test_store_url_picks_the_store_and_bad_urls_fail_at_start_naming_the_setting(tmp_path: Path) -> None:
    store_dir = tmp_path / "elsewhere"
    url = f"sqlite:///{store_dir}"  # an absolute path after the third slash
    created = memtrace("org", "create", "Acme", "--id", "org_acme", "--json", "--data-dir", str(tmp_path / "data"),
                       "--store-url", url)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert (store_dir / "memtrace.db").is_file()
    listed = memtrace("org", "list", "--json", env={"MEMTRACE_STORE_URL": url})
    assert listed.returncode == 0 and "org_acme" in listed.stdout

    toml = tmp_path / "memtrace.toml"
    toml.write_text('[store]\nurl = "mysql://db/memtrace"\n')
    refused = memtrace("org", "list", "--config", str(toml))
    assert refused.returncode == 2 and "store.url" in refused.stderr and "mysql" in refused.stderr
    with pytest.raises(ConfigError, match=r"store\.url"):
        open_state(load_config(None, env={"MEMTRACE_STORE_URL": "sqlite://host/x"}, search=False))


def test_arc_instances_move_out_of_a_legacy_arc_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    monkeypatch.setenv("MEMTRACE_MASTER_KEY", key)
    cipher, nonce = MasterKey.from_env({"MEMTRACE_MASTER_KEY": key}).encrypt("arc-token")  # type: ignore[union-attr]
    legacy = sqlite3.connect(data_dir / "arc.db")
    legacy.execute(  # the table as memtrace 0.1 created it in <data_dir>/arc.db
        """CREATE TABLE arc_instances (id TEXT PRIMARY KEY, org_id TEXT NOT NULL UNIQUE, url TEXT NOT NULL,
        database TEXT NOT NULL, measurement TEXT NOT NULL DEFAULT 'events', api_key_cipher BLOB NOT NULL,
        api_key_nonce BLOB NOT NULL, admin_key_cipher BLOB, admin_key_nonce BLOB, created_us INTEGER NOT NULL,
        updated_us INTEGER NOT NULL)"""
    )
    legacy.execute(
        "INSERT INTO arc_instances VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        ("arc_1", "org_acme", "http://arc:8000", "acme", "events", cipher, nonce, None, None, 10, 20),
    )
    legacy.commit()
    legacy.close()

    config = load_config(None, env={}, search=False, overrides={"server.data_dir": str(data_dir)})
    state = open_state(config)
    try:
        moved = get_org_arc(state, "org_acme")
        assert (moved.id, moved.url, moved.database, moved.created_us, moved.updated_us) == (
            "arc_1",
            "http://arc:8000",
            "acme",
            10,
            20,
        )
        assert MasterKey.from_env().decrypt(moved.token_cipher, moved.token_nonce) == "arc-token"  # type: ignore[union-attr]
    finally:
        state.close()
    assert not (data_dir / "arc.db").exists() and (data_dir / "arc.db.imported").is_file()
    # Opening again finds the instance in the metadata store and no file to import.
    state = open_state(config)
    try:
        assert get_org_arc(state, "org_acme").id == "arc_1"
    finally:
        state.close()
