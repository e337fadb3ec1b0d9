"""Tests of the Arc event store, and the Arc stand-in they run against (`standin_server.py`, NOT Arc)."""
