"""The benchmark harness at tiny sizes: loading, reading with checks, worker processes, RESULTS.md, the plot,
and the load generator against a real server. Figures are not asserted (targets live in bench/, not in tests);
that the machinery measures the right thing and refuses wrong answers is."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from bench.__main__ import discover, run_one
from bench.bulk_load import load_store
from bench.common import CorrectnessError, Row, latency_row, rate_row
from bench.core_ingest import measure, rows_from_rates
from bench.read_ops import OPS, Truth, agreement, call_client, plan
from bench.reads import measure_inprocess, truth_of
from bench.report import Outcome, render
from memtrace import Memtrace


def test_bulk_load_stores_every_memory_once_and_is_reused(bench_env: Path) -> None:
    store = load_store(1_500)
    db = sqlite3.connect(Path(store.data_dir) / "memtrace.db")
    assert db.execute("SELECT COUNT(*) FROM memories").fetchone()[0] == 1_500
    db.close()
    raw = sqlite3.connect(store.raw_db)
    assert raw.execute("SELECT COUNT(*) FROM memories").fetchone()[0] == 1_500
    raw.close()
    assert len(store.rates) == len(store.raw_rates) == 2  # two batches of up to 1,000
    assert sum(store.agent_counts.values()) == 1_500
    assert store.payload_bytes > 1_500 * 50 and store.data_bytes > 0
    assert Path(store.data_dir).is_relative_to(bench_env)
    again = load_store(1_500)
    assert again == store  # loaded once per run, then shared


def test_reads_check_their_answers_and_time_every_op() -> None:
    store = load_store(2_000)
    ours, raw, found, agree = measure_inprocess(store, plan(store.dataset().shape, 4))
    assert all(len(ours[op]) == len(raw[op]) == 4 for op in OPS)
    assert found["list_agent"] == found["context"] == 4
    # How much of the exact top 10 (every match ranked by bm25()) our ranked search returned, per search; and
    # of plain single-tier BM25's. At 2,000 memories no rank window applies: ours is the exact answer.
    assert {op: len(v) for op, v in agree.items() if v} == {
        "search_agent": 4,
        "search_org": 4,
        "search_agent:plain": 4,
        "search_org:plain": 4,
    }
    assert agree["search_agent"] == agree["search_org"] == [1.0] * 4
    assert all(0.0 <= a <= 1.0 for v in agree.values() for a in v)
    # A wrong expectation is caught: the checks are what keeps a fast wrong answer out of RESULTS.md.
    truth = truth_of(store)
    agent = min(truth.agent_counts, key=truth.agent_counts.__getitem__)  # fewer than 100: all are listed
    lying = Truth(truth.shape, {**truth.agent_counts, agent: truth.agent_counts[agent] + 1_000})
    call = next(c for c in plan(truth.shape, 1) if c.op == "list_agent")
    call = type(call)(call.op, agent, call.query, call.session)
    with Memtrace.open(store.data_dir) as client, pytest.raises(CorrectnessError, match="list_agent"):
        call_client(client, call, lying)


def test_core_ingest_measures_ours_and_both_raw_peers() -> None:
    run_rates, batch_rates = measure(2_000, 2)
    assert {k: len(v) for k, v in run_rates.items()} == {
        "ours": 2,
        "raw_one_index": 2,
        "raw_memtrace_schema": 2,
    }
    assert {k: len(v) for k, v in batch_rates.items()} == {k: 4 for k in run_rates}
    main, schema = rows_from_rates(run_rates, batch_rates, 2_000, 2)
    assert main.peer is not None and main.ratio is not None
    assert main.ratio == pytest.approx(main.ours / main.peer)
    assert main.met == (main.ours >= 40_000 and main.ratio >= 0.4)
    assert schema.peer_name.endswith("memtrace schema")


def test_agreement_is_the_share_of_the_full_ranking_returned() -> None:
    assert agreement(["a", "b", "c"], ["c", "b", "x", "y"]) == 0.5
    assert agreement([], []) == 1.0 and agreement(["a"], []) == 0.0


def test_rows_give_median_p99_ratio_and_whether_the_target_was_met() -> None:
    fast = latency_row("b", "m, ms", [1.0, 2.0, 3.0, 100.0], "peer", [4.0, 4.0, 4.0], target_ms=2.5)
    assert (fast.ours, fast.ours_p99, fast.peer, fast.ratio, fast.met) == (2.5, 100.0, 4.0, 1.6, True)
    slow = rate_row("b", "m/s", [10.0, 20.0, 30.0], "peer", [40.0], target=">= 25/s", met=False)
    assert (slow.ours, slow.ours_p99, slow.ratio) == (20.0, 10.0, 0.5)


def test_results_show_every_row_the_machine_and_what_failed() -> None:
    good = Row("1. in-process ingest", "memories/s", 9_000.0, "raw", 50_000.0, ">= 40,000/s", False,
               extra={"ratio": 0.18}, published=2_222.0, samples=60)  # fmt: skip
    outcomes = [
        Outcome("ingest", "bench.core_ingest", [good], "ok", seconds=12),
        Outcome("adapter_crewai", "bench/adapter_crewai.py", [], "missing", "does not exist"),
        Outcome("reads", "bench.reads", [], "failed", "CorrectnessError: list returned 7 memories"),
    ]
    text = render(outcomes, {"CPU": "Test CPU", "Cores": "2"}, mode="quick", command="python -m bench",
                  total_seconds=60, plot=None)  # fmt: skip
    assert "| Test CPU |" in text
    assert "## 1. in-process ingest" in text
    assert "| memories/s | 9,000 |" in text and "0.18x" in text and "2,222" in text and "**NO**" in text
    assert "missed: 1. in-process ingest" in text
    assert "**missing**: `adapter_crewai`" in text
    assert "CorrectnessError: list returned 7 memories" in text
    # Runs too long for make bench (bench/RECORDED.md) are carried at the end of every RESULTS.md.
    recorded = "## Recorded scale run\n\n| size | ms |\n"
    with_recorded = render(outcomes, {"CPU": "Test CPU", "Cores": "2"}, mode="quick", command="python -m bench",
                           total_seconds=60, plot=None, recorded=recorded)  # fmt: skip
    assert with_recorded.endswith(recorded) and with_recorded.startswith(text)


def _module(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body))


def test_each_benchmark_runs_in_a_worker_and_a_broken_one_is_reported(
    tmp_path: Path, bench_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mods = tmp_path / "mods"
    mods.mkdir()
    bench_env.mkdir(parents=True, exist_ok=True)
    _module(mods, "fake_ok", """
        import os
        from bench.common import Row
        def run(quick):
            assert os.environ["CREWAI_DISABLE_TELEMETRY"] == "true" and os.environ["HOME"].endswith("home")
            return [Row("fake", "ms", 1.0, "peer", 2.0, "<= 5 ms", True, notes=f"quick={quick}")]
    """)  # fmt: skip
    _module(mods, "fake_broken", """
        def run(quick):
            raise RuntimeError("the adapter could not start")
    """)  # fmt: skip
    _module(mods, "fake_wrong_type", """
        def run(quick):
            return [{"ours": 1}]
    """)  # fmt: skip
    monkeypatch.setenv("PYTHONPATH", str(mods))
    ok = run_one("fake_ok", "fake_ok", quick=True, workdir=bench_env, timeout=120)
    assert ok.status == "ok", ok.detail
    assert [(r.benchmark, r.ours, r.notes) for r in ok.rows] == [("6. fake", 1.0, "quick=True")]
    broken = run_one("fake_broken", "fake_broken", quick=True, workdir=bench_env, timeout=120)
    assert broken.status == "failed" and "the adapter could not start" in broken.detail
    wrong = run_one("fake_wrong_type", "fake_wrong_type", quick=True, workdir=bench_env, timeout=120)
    assert wrong.status == "failed" and "not a bench.common.Row" in wrong.detail


def test_discovery_lists_builtin_benchmarks_and_names_missing_adapters() -> None:
    found, missing = discover()
    names = [n for n, _ in found]
    assert names[:5] == ["ingest", "http_ingest", "reads", "scaling", "footprint"]
    for fw in ("langchain", "openai", "crewai", "llamaindex"):
        assert any(fw in n for n in names) != any(fw in n for n in missing)


def test_scaling_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is in the bench dependency group")
    from bench.plot import draw

    rows = []
    for size, ms in ((10_000, 1.0), (100_000, 1.5)):
        row = Row("4. scaling (in-process)", f"list recent, one agent (limit 100) at {size:,} memories, ms",
                  ms, "p", None, "t", True, ours_p99=ms * 2)  # fmt: skip
        row.extra = {"size": float(size)}
        rows.append(row)
    out = tmp_path / "scaling.png"
    assert draw(rows, out, "test machine")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not draw([], tmp_path / "none.png", "no rows")


def test_load_generator_drives_a_real_server(live_server) -> None:
    from bench.loadgen import run_job

    prefix = "lg_test_"
    batch = run_job({"mode": "batch", "url": live_server.base_url, "api_key": live_server.api_key,
                     "batch_size": 100, "memories": 300, "seed": 99, "agent_prefix": prefix})  # fmt: skip
    assert batch["error_count"] == 0 and batch["stored"] == 300 and len(batch["latencies_s"]) == 3
    with Memtrace(live_server.base_url, live_server.api_key) as client:
        per_agent = {}
        for agent in {f"{prefix}agent_{i:03d}" for i in range(100)}:
            n = client.get_agent_stats(agent).memory_count
            if n:
                per_agent[agent] = n
    assert sum(per_agent.values()) == 300
    agent, count = max(per_agent.items(), key=lambda kv: kv[1])
    reads = run_job({"mode": "requests", "url": live_server.base_url, "api_key": live_server.api_key, "requests": [
        {"kind": "list", "method": "GET", "path": f"/api/v1/memories?agent_id={agent}&limit=100",
         "expect": {"memories": count, "agent_id": agent}},
        {"kind": "list_wrong", "method": "GET", "path": f"/api/v1/memories?agent_id={agent}&limit=100",
         "expect": {"memories": count + 1}},
    ]})  # fmt: skip
    assert reads["failure_count"] == 1 and "list_wrong" in reads["failures"][0]
    assert len(reads["latencies_s"]["list"]) == 1
    # A pool far smaller than the load: a fast machine reuses it with new contents instead of failing.
    single = run_job({"mode": "single", "url": live_server.base_url, "api_key": live_server.api_key,
                      "concurrency": 4, "seconds": 0.5, "seed": 98, "agent_prefix": "lg_single_", "pool": 8})  # fmt: skip
    assert set(single["statuses"]) == {"201"}  # no 409: every lap's bodies are new memories to dedup
    assert single["laps"] > 1
    assert sum(single["per_agent"].values()) == single["statuses"]["201"] > 0
    # Clients spread over several URLs (replicas behind a load balancer), here the same server twice.
    spread = run_job({"mode": "single", "urls": [live_server.base_url] * 2, "api_key": live_server.api_key,
                      "concurrency": 2, "seconds": 0.3, "seed": 97, "agent_prefix": "lg_spread_"})  # fmt: skip
    assert set(spread["statuses"]) == {"201"} and spread["statuses"]["201"] > 0
    assert json.dumps(single)  # the result is plain JSON, as the driver process reads it


def test_single_write_bodies_never_run_out_and_never_repeat() -> None:
    from bench.loadgen import SingleWriteBodies

    bodies = SingleWriteBodies(3, seed=7, concurrency=2, prefix="p_")
    sent = [json.loads(bodies.next()) for _ in range(10)]
    assert bodies.laps == 4
    assert len({(m["agent_id"], m["content"]) for m in sent}) == 10
    assert [m["agent_id"] for m in sent[:3]] == ["p_00", "p_01", "p_00"]
    # The lap goes first: dedup keys read only the first 200 bytes of content.
    assert sent[3]["content"] == "(lap 2) " + sent[0]["content"] and "time" not in sent[0]


def test_common_word_searches_are_timed_checked_and_scored_against_full_bm25() -> None:
    from bench.dataset import COMMON_QUERY_WORDS
    from bench.read_ops import COMMON_SEARCH_OPS, READ_OPS

    store = load_store(2_000)
    calls = plan(store.dataset().shape, 8, ops=READ_OPS)
    common = [c for c in calls if c.op in COMMON_SEARCH_OPS]
    assert len(common) == 4  # every fourth round: their exact-BM25 peer is the costly part of a run
    assert all(len(c.query.split()) == 3 and set(c.query.split()) <= set(COMMON_QUERY_WORDS) for c in common)
    ours, _raw, found, agree = measure_inprocess(store, calls)
    assert {op: len(ours[op]) for op in COMMON_SEARCH_OPS} == {op: 2 for op in COMMON_SEARCH_OPS}
    assert found["search_org_common"] == 2  # common words always match something
    assert all(len(agree[op]) == 2 for op in COMMON_SEARCH_OPS)


def test_scale_sizes_form_a_tenfold_ladder() -> None:
    from bench.scaling import ladder, parse_size

    assert parse_size("10m") == 10_000_000 and parse_size("300k") == 300_000 and parse_size("5000") == 5_000
    assert ladder(10_000_000) == (100_000, 1_000_000, 10_000_000)
    assert ladder(10_000) == (1_000, 10_000)
    with pytest.raises(ValueError):
        parse_size("10")


def test_scale_run_reports_growth_and_load_rates_per_size(tmp_path: Path, monkeypatch) -> None:
    from bench.__main__ import main

    monkeypatch.delenv("MEMTRACE_BENCH_SCALE", raising=False)
    out = tmp_path / "RESULTS.md"
    # Without matplotlib (the bench dependency group) the plot is reported as failed, and the exit status says so.
    plots = importlib.util.find_spec("matplotlib") is not None
    assert main(["--scale", "10k", "--out", str(out)]) == (0 if plots else 1)
    text = out.read_text()
    assert "python -m bench --scale 10k" in text
    assert "memories/s loading 1,000 through add_memories" in text
    assert "memories/s loading 10,000 through add_memories" in text
    assert "ranked search, one agent, 3 common words (top 10) at 10,000 memories, ms" in text


def test_forget_runs_at_the_size_scale_sets_and_reports_both_rows(monkeypatch) -> None:
    # `python -m bench --scale 1m forget` is the recorded full-size run; at 2,000 memories it takes seconds.
    from bench import forget
    from bench.scaling import SCALE_ENV

    monkeypatch.setenv(SCALE_ENV, "2000")
    rows = forget.run(quick=True)
    assert [r.metric for r in rows] == [
        "seconds to forget the agent",
        "worst list read while forgetting, ms",
    ]
    assert all("200 of 2,000 memories" in r.benchmark for r in rows)
    assert (rows[0].ours or 0) > 0 and (rows[1].peer or 0) > 0


def test_arc_ingest_sends_the_bodies_the_store_would() -> None:
    """The Arc ingest peer encodes its bodies as the store's flusher does: every written column, each memory
    read back whole (it once built its own rows and broke when a column was added)."""
    import importlib

    import msgpack

    from memtrace.stores.arc.queries import WRITE_COLUMNS
    from memtrace.stores.arc.wire import record_from_spool

    # Imported by name: bench.arc_ingest imports the Arc stand-in as tests.arc.standin, which mypy must not follow
    # from here, where it is arc.standin (the reason `make lint` checks tests and bench in separate runs).
    arc_ingest = importlib.import_module("bench.arc_ingest")
    records = arc_ingest.build_records(10)
    (body,) = arc_ingest.encoded_bodies(records)
    columns = msgpack.unpackb(body)["columns"]
    assert list(columns) == list(WRITE_COLUMNS)
    rows = list(zip(*(columns[c] for c in WRITE_COLUMNS[:-1]), strict=True))
    back = [record_from_spool(row) for row in rows]
    assert [(b.id, b.content, b.tags, b.dedup_key) for b in back] == [
        (r.id, r.content, r.tags, r.dedup_key) for r in records
    ]
