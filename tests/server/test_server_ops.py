"""Operations: /health and /ready (spec §1.3 shapes), Prometheus /metrics."""

from __future__ import annotations

import re

from support.server import Api

from memtrace_server.routes.ops import go_duration


def metric(api: Api, name: str, **labels: str) -> float:
    text = api.client.get("/metrics").text
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def test_health_needs_no_key_and_has_the_original_shape(api: Api) -> None:
    body = api.client.get("/health").json()
    assert body["status"] == "ok" and body["service"] == "memtrace" and body["arc"] == {}
    assert re.fullmatch(r"(\d+h)?(\d+m)?[\d.]+(ms|s)", body["uptime"])


def test_ready_checks_the_store(api: Api) -> None:
    r = api.client.get("/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_metrics_count_writes_queries_duplicates_and_errors(api: Api, uid: str) -> None:
    h = api.headers
    single, batch = (
        metric(api, "memtrace_writes_total", kind="single"),
        metric(api, "memtrace_writes_total", kind="batch"),
    )
    dups, lists = metric(api, "memtrace_duplicates_total"), metric(api, "memtrace_queries_total", kind="list")
    errors = metric(api, "memtrace_errors_total", kind="validation")
    api.client.post("/api/v1/memories", json={"agent_id": uid, "content": "one"}, headers=h)
    api.client.post("/api/v1/memories", json={"agent_id": uid, "content": "one"}, headers=h)  # duplicate
    items = [{"agent_id": uid, "content": c} for c in ("a", "b", "a")]
    api.client.post("/api/v1/memories", json={"memories": items}, headers=h)
    api.client.get("/api/v1/memories", params={"agent_id": uid}, headers=h)
    api.client.get("/api/v1/memories", params={"limit": "x"}, headers=h)
    assert metric(api, "memtrace_writes_total", kind="single") == single + 1
    assert metric(api, "memtrace_writes_total", kind="batch") == batch + 2
    assert metric(api, "memtrace_duplicates_total") == dups + 2
    assert metric(api, "memtrace_queries_total", kind="list") == lists + 1
    assert metric(api, "memtrace_errors_total", kind="validation") == errors + 1
    assert metric(api, "memtrace_store_memories") >= 3 and metric(api, "memtrace_store_bytes") > 0


def test_latency_is_labelled_by_route_template_not_raw_path(api: Api, uid: str) -> None:
    created = api.client.post("/api/v1/memories", json={"agent_id": uid, "content": "x"}, headers=api.headers)
    api.client.get(f"/api/v1/memories/{created.json()['id']}", headers=api.headers)
    text = api.client.get("/metrics").text
    assert (
        'memtrace_request_duration_seconds_count{method="GET",route="/api/v1/memories/{memory_id}",status="200"}'
        in text
    )
    assert created.json()["id"] not in text
    assert "_created" not in text


def test_go_style_durations() -> None:
    assert go_duration(0.25) == "250ms"
    assert go_duration(15.5) == "15.5s"
    assert go_duration(3600 * 2 + 30 * 60 + 15.123456789) == "2h30m15.123456789s"
    assert go_duration(61) == "1m1s"
