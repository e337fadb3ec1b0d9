"""The machine a run measured: CPU, cores, RAM, OS, Python, SQLite, package versions, commit and date."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "memtrace-core", "memtrace-server", "memtrace-langchain", "memtrace-openai-agents", "memtrace-crewai",
    "memtrace-llamaindex", "pydantic", "httpx", "fastapi", "uvicorn", "langchain-core", "langgraph",
    "openai-agents", "crewai", "llama-index-core", "matplotlib",
)  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def git_commit(root: Path) -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def describe(root: Path) -> dict[str, str]:
    """The facts RESULTS.md prints about the machine and software."""
    ram = ram_bytes()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    facts = {
        "Date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "CPU": cpu_model(),
        "Cores": str(os.cpu_count()),
        "RAM": f"{ram / 2**30:.1f} GiB" if ram else "unknown",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "SQLite": sqlite3.sqlite_version,
        "Commit": git_commit(root),
        "Load average at start": ", ".join(f"{x:.2f}" for x in load) if load else "unknown",
    }
    facts.update({name: v for name, v in versions().items() if v != "not installed"})
    return facts
