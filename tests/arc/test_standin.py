"""The stand-in behaves like Arc where the Arc store depends on it (spec/arc-api.md).

These are the stand-in's own checks: if one of these behaviours drifted, the store's tests against the
stand-in would prove nothing about Arc.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import msgpack
import pytest

from .standin import ArcStandIn

T0_US = 1_766_400_000_000_000  # 2025-12-22T10:40:00Z


def write(
    standin: ArcStandIn,
    payload: Any,
    *,
    database: str = "db",
    token: str | None = None,
    raw: bytes | None = None,
) -> httpx.Response:
    body = raw if raw is not None else msgpack.packb(payload, use_bin_type=True)
    return httpx.post(
        standin.url + "/api/v1/write/msgpack",
        content=body,
        headers={
            "Authorization": f"Bearer {token or standin.admin_token}",
            "x-arc-database": database,
            "Content-Type": "application/msgpack",
        },
    )


def query(
    standin: ArcStandIn, sql: str, *, database: str | None = "db", token: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or standin.admin_token}", "Content-Type": "application/json"}
    if database:
        headers["x-arc-database"] = database
    return httpx.post(standin.url + "/api/v1/query", content=json.dumps({"sql": sql}), headers=headers)


def test_write_is_204_empty_and_invisible_until_flushed(make_standin) -> None:
    standin = make_standin(max_buffer_age_ms=60_000)
    answer = write(standin, {"m": "events", "columns": {"time": [T0_US], "v": [1.5]}})
    assert answer.status_code == 204 and answer.content == b""
    # Buffered, not queryable: a measurement without files is an empty success, not an error.
    empty = query(standin, "SELECT * FROM events ORDER BY time").json()
    assert empty["success"] is True and empty["columns"] == [] and empty["data"] == []
    standin.flush()
    assert standin.rows("SELECT v FROM events ORDER BY time", "db") == [{"v": 1.5}]


def test_buffer_age_makes_rows_visible_without_a_flush(make_standin) -> None:
    standin = make_standin(max_buffer_age_ms=150)
    write(standin, {"m": "events", "columns": {"time": [T0_US], "v": [1]}})
    deadline = time.monotonic() + 5
    while not standin.rows("SELECT v FROM events ORDER BY time", "db"):
        assert time.monotonic() < deadline, "never became visible"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("first", "unit"),
    [(1_766_400_000, "s"), (1_766_400_000_000, "ms"), (T0_US, "us"), (T0_US * 1000, "ns")],
)
def test_time_unit_comes_from_the_first_element_and_is_stored_as_microseconds(standin, first, unit) -> None:
    scale = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 0}[unit]
    second = first + 1
    write(standin, {"m": "t_" + unit, "columns": {"time": [first, second], "n": [0, 1]}})
    standin.flush()
    times = [r["time"] for r in standin.rows(f"SELECT time FROM t_{unit} ORDER BY time", "db")]
    assert times[0] == "2025-12-22T10:40:00Z"  # RFC3339Nano: no fraction for whole seconds
    expected_second = {
        1_000_000: "2025-12-22T10:40:01Z",
        1000: "2025-12-22T10:40:00.001Z",
        1: "2025-12-22T10:40:00.000001Z",
        0: "2025-12-22T10:40:00Z",
    }[scale]
    assert times[1] == expected_second


def test_mixed_units_in_one_column_are_silently_wrong(standin) -> None:
    # The unit of element 0 (µs) is applied to a millisecond value: it lands in 1970, as in Arc.
    write(standin, {"m": "mixed", "columns": {"time": [T0_US, 1_766_400_000_000], "n": [0, 1]}})
    standin.flush()
    times = [r["time"] for r in standin.rows("SELECT time FROM mixed ORDER BY time", "db")]
    assert times[0].startswith("1970-01-21")


def test_column_types_follow_the_first_value(standin) -> None:
    columns = {"time": [T0_US, T0_US + 1], "i": [1, 0.9], "f": [0.5, 2], "all_nil": [None, None]}
    assert write(standin, {"m": "types", "columns": columns}).status_code == 204
    standin.flush()
    rows = standin.rows("SELECT i, f, all_nil FROM types ORDER BY time", "db")
    assert rows == [{"i": 1, "f": 0.5, "all_nil": None}, {"i": 0, "f": 2.0, "all_nil": None}]  # 0.9 truncated


@pytest.mark.parametrize("bad", [b"bytes", [1, 2], {"k": "v"}])
def test_bytes_and_nested_values_are_a_500(standin, bad) -> None:
    answer = write(standin, {"m": "bad", "columns": {"time": [T0_US], "x": [bad]}})
    assert answer.status_code == 500
    assert "unsupported column type for 'x'" in answer.json()["error"]


def test_bad_payloads_are_400(standin) -> None:
    assert write(standin, None, raw=b"").json() == {"error": "Empty payload"}
    assert write(standin, {"m": "x", "columns": {"time": [T0_US, T0_US], "v": [1]}}).status_code == 400
    assert write(standin, {"m": "x", "columns": {"time": [None], "v": [1]}}).status_code == 400
    assert write(standin, {"m": "bad name", "columns": {"time": [T0_US]}}).status_code == 400
    assert write(standin, {"m": "x", "columns": {"time": [T0_US]}}, database="1db").status_code == 400


def test_gzip_is_detected_by_magic_bytes_not_headers(standin) -> None:
    body = gzip.compress(msgpack.packb({"m": "gz", "columns": {"time": [T0_US], "v": [7]}}))
    assert write(standin, None, raw=body).status_code == 204  # no Content-Encoding header at all
    standin.flush()
    assert standin.rows("SELECT v FROM gz ORDER BY time", "db") == [{"v": 7}]


def test_batch_and_array_forms_swallow_bad_items_with_a_204(standin) -> None:
    good = {"m": "forms", "columns": {"time": [T0_US], "v": [1]}}
    bad = {"m": "forms", "columns": {"time": [None], "v": [2]}}
    assert write(standin, {"batch": [good, bad]}).status_code == 204
    assert write(standin, [bad, "not a map", good]).status_code == 204
    standin.flush()
    assert [r["v"] for r in standin.rows("SELECT v FROM forms ORDER BY time", "db")] == [1, 1]


def test_row_form_clobbers_the_host_tag(standin) -> None:
    write(standin, {"m": "rows", "t": T0_US, "fields": {"v": 1.0}, "tags": {"host": "web-1"}})
    standin.flush()
    assert standin.rows("SELECT host FROM rows ORDER BY time", "db") == [{"host": "unknown"}]


def test_query_rules(standin) -> None:
    write(standin, {"m": "events", "columns": {"time": [T0_US], "v": [1.0]}})
    standin.flush()
    assert query(standin, "SELECT * FROM db.events").status_code == 400  # db.table with the header
    assert query(standin, "SELECT * FROM db.events", database=None).json()["data"]  # fine without it
    assert query(standin, "SELECT * FROM Events").json()["columns"] == []  # case matters: empty success
    assert query(standin, "SELECT 1; SELECT 2").status_code == 400
    assert query(standin, "SELECT * FROM read_parquet('x')").status_code == 400
    assert query(standin, "SELECT " + "1," * 5000 + "1").status_code == 400  # over 10,000 characters
    for statement in ("DROP TABLE events", "SET threads = 1", "COPY events TO 'x'"):
        assert query(standin, statement).status_code == 400, statement
    # Keywords inside literals are masked before validation and rewriting.
    ok = query(standin, "SELECT count(*) AS n FROM events WHERE 'DROP TABLE x; FROM other' <> ''").json()
    assert ok["data"] == [[1]]
    no_json = httpx.post(
        standin.url + "/api/v1/query",
        content=b'{"sql": "SELECT 1"}',
        headers={"Authorization": f"Bearer {standin.admin_token}", "Content-Type": "text/plain"},
    )
    assert no_json.status_code == 400
    failed = query(standin, "SELECT nope FROM events").json()
    assert failed["success"] is False and failed["columns"] is None and failed["data"] is None


def test_arc_masker_quirk_backslash_before_quote(standin) -> None:
    """Arc's literal masker treats \\' as an escaped quote, DuckDB does not: for Arc the literal 'a\\' runs on
    and hides the FROM after it from the table rewriter. The stand-in reproduces it, so a client sending such a
    literal fails here as it would on Arc (which is why memtrace never puts a backslash in a literal)."""
    write(standin, {"m": "events", "columns": {"time": [T0_US], "v": [1.0]}})
    standin.flush()
    assert query(standin, "SELECT 'a' AS s, v FROM events ORDER BY time").json()["data"] == [["a", 1.0]]
    broken = query(standin, "SELECT 'a\\' AS s, v FROM events ORDER BY time")
    assert broken.status_code == 500 and "events" in broken.json()["error"]
    spliced = query(standin, "SELECT 'a' || chr(92) AS s, v FROM events ORDER BY time")
    assert spliced.json()["data"] == [["a\\", 1.0]]


def test_nan_and_infinity_come_back_as_null(standin) -> None:
    write(standin, {"m": "nan", "columns": {"time": [T0_US, T0_US + 1], "v": [float("nan"), float("inf")]}})
    standin.flush()
    assert standin.rows("SELECT v FROM nan ORDER BY time", "db") == [{"v": None}, {"v": None}]


def test_tokens_and_permissions(standin) -> None:
    reader = standin.create_token(["read"])
    writer = standin.create_token(["read", "write"])
    payload = {"m": "auth", "columns": {"time": [T0_US], "v": [1]}}
    assert write(standin, payload, token="nope").status_code == 401
    assert write(standin, payload, token=reader).status_code == 403
    assert write(standin, payload, token=writer).status_code == 204
    raw_header = httpx.post(
        standin.url + "/api/v1/write/msgpack",
        content=msgpack.packb(payload),
        headers={"Authorization": writer, "x-arc-database": "db"},  # a raw token is accepted too
    )
    assert raw_header.status_code == 204
    flush = httpx.post(
        standin.url + "/api/v1/write/line-protocol/flush", headers={"Authorization": f"Bearer {writer}"}
    )
    assert flush.status_code == 403  # flush is admin only


def delete(standin: ArcStandIn, where: str, **extra: Any) -> httpx.Response:
    body = {"database": "db", "measurement": "del", "where": where, "confirm": True, **extra}
    return httpx.post(
        standin.url + "/api/v1/delete",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {standin.admin_token}", "Content-Type": "application/json"},
    )


def test_delete_validation_and_null_hazard(standin) -> None:
    columns = {"time": [T0_US, T0_US + 1, T0_US + 2], "agent_id": ["a1", None, "a2"]}
    write(standin, {"m": "del", "columns": columns})
    standin.flush()
    assert delete(standin, "agent_id = 'select me'").status_code == 400  # keywords even inside literals
    assert delete(standin, "agent_id = 'x--y'").status_code == 400
    assert delete(standin, "agent_id = 'a1'", confirm=False).status_code == 400
    # NULL hazard: the row with agent_id NULL is in the same "file" as a real match, so it goes too.
    answer = delete(standin, "agent_id = 'a1'")
    assert answer.status_code == 200 and answer.json()["deleted_count"] == 2
    assert standin.rows("SELECT agent_id FROM del ORDER BY time", "db") == [{"agent_id": "a2"}]


def test_delete_leaves_buffered_rows_and_can_be_disabled(make_standin) -> None:
    standin = make_standin(max_buffer_age_ms=60_000, delete_enabled=False)
    write(standin, {"m": "del", "columns": {"time": [T0_US], "agent_id": ["a1"]}})
    refused = delete(standin, "agent_id IS NOT DISTINCT FROM 'a1'")
    assert refused.status_code == 403 and "disabled" in refused.json()["error"]
    standin.configure(delete_enabled=True)
    assert delete(standin, "agent_id IS NOT DISTINCT FROM 'a1'").json()["deleted_count"] == 0  # buffered
    standin.flush()
    assert standin.rows("SELECT agent_id FROM del ORDER BY time", "db") == [{"agent_id": "a1"}]


def test_a_killed_standin_loses_its_buffer_and_a_stopped_one_flushes_it(make_standin) -> None:
    standin = make_standin(max_buffer_age_ms=60_000)
    write(standin, {"m": "crash", "columns": {"time": [T0_US], "v": [1]}})
    standin.kill()
    standin.start()
    assert query(standin, "SELECT v FROM crash ORDER BY time").json()["columns"] == []
    write(standin, {"m": "crash", "columns": {"time": [T0_US], "v": [2]}})
    standin.stop()
    standin.start()
    assert standin.rows("SELECT v FROM crash ORDER BY time", "db") == [{"v": 2}]
