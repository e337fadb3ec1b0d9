"""`python -m bench`: run the benchmark suite and write bench/RESULTS.md (what `make bench` runs).

    python -m bench                 # quick mode, under 10 minutes on 2 cores, 100k-memory reads
    python -m bench --full          # 1,000,000-memory runs
    python -m bench --only reads    # one benchmark (repeatable); results go to bench/.out/ unless --out
    python -m bench postgres --scale 1m   # the PostgreSQL store at 1,000,000 memories (its own command)
    python -m bench --scale 10m     # the scaling ladder 100k, 1m, 10m (hours; recorded once in RECORDED.md)
    python -m bench --list          # the benchmark names

Each benchmark module runs in its own process (see `bench.worker`). Data lives in one work directory under
the system temp dir, shared by the benchmarks of a run (a store loaded once serves the read, scaling and
footprint benchmarks) and removed at the end. A module that is missing, fails or times out is reported in
RESULTS.md as such.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import BENCH_DIR, REPO_ROOT, Row
from .machine import describe
from .report import Outcome, render

BUILTIN = (
    ("ingest", "bench.core_ingest"),
    ("http_ingest", "bench.http_ingest"),
    ("reads", "bench.reads"),
    ("scaling", "bench.scaling"),
    ("footprint", "bench.footprint"),
    ("postgres", "bench.postgres_store"),
    ("remote_fanout", "bench.remote_fanout"),
    ("replicas_http", "bench.replicas_http"),
    ("ui", "bench.ui_pages"),
    ("forget", "bench.forget"),
    ("sweep", "bench.sweep"),
    ("transfer", "bench.transfer"),
    ("facts", "bench.facts"),
)
# The adapter issues each add bench/adapter_<name>.py; arc_ingest.py is the Arc store's. Those expected here
# but absent are reported as missing, not skipped silently.
EXPECTED_ADAPTERS = ("langchain", "openai", "crewai", "llamaindex")
QUICK_TIMEOUT_S = 420
FULL_TIMEOUT_S = 3 * 3600
SCALE_TIMEOUT_S = 24 * 3600
RECORDED = BENCH_DIR / "RECORDED.md"
"""Runs too long for make bench (--scale), recorded once by hand and appended to every bench/RESULTS.md."""


SCALE_VARIABLE = "MEMTRACE_BENCH_POSTGRES_SIZE"
"""What ``--scale`` sets for the workers (read by `bench.postgres_store`)."""


def discover() -> tuple[list[tuple[str, str]], list[str]]:
    """(name, module) of every benchmark present, and the names of expected adapter benchmarks that are not."""
    found = list(BUILTIN)
    adapters = sorted(p.stem for p in BENCH_DIR.glob("adapter_*.py"))
    found += [(stem, f"bench.{stem}") for stem in adapters]
    missing = [f"adapter_{fw}" for fw in EXPECTED_ADAPTERS if not any(fw in stem for stem in adapters)]
    if (BENCH_DIR / "arc_ingest.py").exists():
        found.append(("arc_ingest", "bench.arc_ingest"))
    else:
        missing.append("arc_ingest")
    return found, missing


def _env(workdir: Path) -> dict[str, str]:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "MEMTRACE_BENCH_WORKDIR": str(workdir),
        "PYTHONPATH": pythonpath,
        # Frameworks under test must never phone home; crewai writes into $HOME at import.
        "HOME": str(home),
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "OTEL_SDK_DISABLED": "true",
        "OPENAI_AGENTS_DISABLE_TRACING": "1",
    }


def run_one(name: str, module: str, *, quick: bool, workdir: Path, timeout: float) -> Outcome:
    """Run `module` in a worker process, echoing its progress; collect its rows or why there are none."""
    out = workdir / f"rows-{name}.json"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", name, module, "quick" if quick else "full", str(out)],
        cwd=REPO_ROOT, env=_env(workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a timeout also stops its servers and load generators
    )  # fmt: skip
    last_lines: collections.deque[str] = collections.deque(maxlen=30)

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            last_lines.append(line)
            print(f"  {line}", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(timeout=5)
        return Outcome(name, module, [], "timeout", f"no result after {timeout:.0f} s\n" + "\n".join(last_lines),
                       time.perf_counter() - started)  # fmt: skip
    reader.join(timeout=5)
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or not out.exists():
        return Outcome(name, module, [], "failed", "\n".join(last_lines), seconds)
    rows = [Row.from_json(r) for r in json.loads(out.read_text())]
    if module not in dict(BUILTIN).values():
        # Adapter and Arc benchmarks are benchmark 6 of the issue; number their sections so RESULTS.md reads
        # in order.
        for r in rows:
            if not r.benchmark[:1].isdigit():
                r.benchmark = f"6. {r.benchmark}"
    return Outcome(name, module, rows, "ok", "", seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--full", action="store_true", help="the 1,000,000-memory runs (takes much longer)")
    parser.add_argument("names", nargs="*", metavar="NAME", help="run only these benchmarks (as --only)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only NAME (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--out", type=Path, help="where to write the results (default bench/RESULTS.md)")
    parser.add_argument("--timeout", type=float, help="seconds one benchmark may take")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp work directory")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="use this work directory (kept afterwards): stores an earlier --keep-workdir run loaded there are "
        "reused, so a --scale 10m ladder's reads can run again without its hours of loading",
    )
    parser.add_argument(
        "--scale",
        metavar="SIZE",
        help="memories the scale-aware benchmarks load: alone, the scaling benchmark on a tenfold ladder ending at "
        "SIZE (e.g. 10m: 100k, 1m, 10m) with each size's load rates; with names (e.g. postgres), those benchmarks "
        "at SIZE. Not part of make bench (10m takes hours on 2 cores)",
    )
    args = parser.parse_args(argv)
    if args.scale:
        from .scaling import SCALE_ENV, parse_size

        try:
            size = parse_size(args.scale)
        except ValueError as exc:
            parser.error(str(exc))
        # the workers' environment is a copy of ours
        os.environ[SCALE_ENV] = args.scale
        os.environ[SCALE_VARIABLE] = str(size)
        if not args.only and not args.names:
            args.only = ["scaling"]

    found, missing = discover()
    if args.list:
        for name, module in found:
            print(f"{name:<24} {module}")
        for name in missing:
            print(f"{name:<24} (missing)")
        return 0
    names = {n for n, _ in found} | set(missing)
    only = [n.strip() for item in [*args.names, *(args.only or [])] for n in item.split(",") if n.strip()]
    unknown = [n for n in only if n not in names]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(sorted(names))}")
    selected = [(n, m) for n, m in found if not only or n in only]
    partial = bool(only)
    out_path = args.out or (BENCH_DIR / ".out" / "RESULTS.md" if partial else BENCH_DIR / "RESULTS.md")
    plot_path = (out_path.parent / "scaling.png") if partial else REPO_ROOT / "docs" / "scaling.png"
    quick = not args.full
    timeout = args.timeout or (
        SCALE_TIMEOUT_S if args.scale else QUICK_TIMEOUT_S if quick else FULL_TIMEOUT_S
    )

    machine = describe(REPO_ROOT)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="memtrace-bench-run-"))
    keep = args.keep_workdir or args.workdir is not None
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    try:
        for name, module in selected:
            print(f"[bench] === {name} ({module}) ===", file=sys.stderr, flush=True)
            outcome = run_one(name, module, quick=quick, workdir=workdir, timeout=timeout)
            print(f"[bench] {name}: {outcome.status} in {outcome.seconds:.0f} s", file=sys.stderr, flush=True)
            outcomes.append(outcome)
    finally:
        if keep:
            print(f"[bench] work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for name in missing:
        if not only or name in only:
            outcomes.append(Outcome(name, f"bench/{name}.py", [], "missing",
                                    f"bench/{name}.py does not exist (yet); its issue adds it"))  # fmt: skip

    rows = [r for o in outcomes for r in o.rows]
    plot_ref = None
    try:
        from .plot import draw

        subtitle = f"{machine['CPU']}, {machine['Cores']} cores, {machine['Date (UTC)']} UTC"
        if draw(rows, plot_path, subtitle):
            plot_ref = os.path.relpath(plot_path, out_path.parent)
    except ImportError as exc:  # matplotlib lives in the bench group: `uv run --group bench`
        outcomes.append(Outcome("plot", "bench.plot", [], "failed", f"cannot draw {plot_path.name}: {exc}"))
    mode = "quick" if quick else "full"
    command = (
        "python -m bench"
        + (" --full" if args.full else "")
        + (f" --scale {args.scale}" if args.scale else "")
        + "".join(f" --only {n}" for n in only)
    )
    recorded = RECORDED.read_text() if RECORDED.exists() and out_path == BENCH_DIR / "RESULTS.md" else ""
    text = render(outcomes, machine, mode=mode, command=command,
                  total_seconds=time.perf_counter() - started, plot=plot_ref, recorded=recorded)  # fmt: skip
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text)
    met = sum(r.met for r in rows)
    print(f"[bench] wrote {out_path} ({len(rows)} rows, {met} met their target, {len(rows) - met} missed)")
    for o in outcomes:
        if o.status != "ok":
            print(f"[bench] {o.name}: {o.status}")
    # Missed targets are results; a benchmark that broke (failed, timed out) is not.
    return 1 if any(o.status in ("failed", "timeout") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
