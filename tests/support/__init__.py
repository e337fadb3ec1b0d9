"""Helpers shared by the test suites (and bench/): store locations for the conformance suite, and the one
launcher of a real `memtrace serve`. Importable as `support` (pytest's ``pythonpath`` has tests/)."""
