"""Runs one benchmark module in its own process: `python -m bench.worker NAME MODULE quick|full OUT.json`.

Each module gets a fresh interpreter, so one that crashes, hangs or leaks cannot take the others with it, and
imports (a framework's, or memtrace's own for the import-time benchmark) never leak between benchmarks.
"""

from __future__ import annotations

import importlib
import json
import sys

from .common import Row


def main() -> None:
    name, module_name, mode, out = sys.argv[1:5]
    module = importlib.import_module(module_name)
    run = getattr(module, "run", None)
    if not callable(run):
        raise SystemExit(f"{module_name} has no run(quick: bool) -> list[Row]")
    rows = run(quick=mode == "quick")
    if not isinstance(rows, list) or not rows:
        raise SystemExit(
            f"{module_name}.run returned {type(rows).__name__} {rows!r:.200}, not a non-empty list"
        )
    data = []
    for row in rows:
        if not isinstance(row, Row):
            raise SystemExit(f"{module_name}.run returned a {type(row).__name__}, not a bench.common.Row")
        data.append(row.to_json())
    with open(out, "w") as f:
        json.dump(data, f)
    print(f"[bench] {name}: {len(rows)} rows", file=sys.stderr)


if __name__ == "__main__":
    main()
