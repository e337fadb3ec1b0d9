"""Retention on the server: the ``[retention]`` policy of the default org, the sweeper job, and the one place a
sweep is recorded.

- `apply_configured_policy` writes the rules ``memtrace.toml`` names for ``org_default`` into the metadata store at
  start-up (the file wins for the rules it names; other rules stay as set through the CLI or the admin API).
- `schedule_sweeps` registers the sweep with the server's `Leadership`: it runs on one replica at a time (on
  PostgreSQL, the one holding the leader lock; on the embedded store, the one server), every
  ``retention.sweep_interval_seconds``, in batches of ``retention.sweep_batch``, and stops between batches when
  the server shuts down.
- `record_sweep` is where every sweep that deleted something (or a dry run asked for by an admin) is logged,
  whoever ran it: the leader's job, ``POST /api/v1/retention/run`` and ``memtrace retention run``. The audit trail
  gets its ``retention.run`` entries (one per organisation deleted from) from `Engine.sweep` itself, with the
  actor each caller passes.
"""

from __future__ import annotations

import logging

from memtrace.audit import SYSTEM
from memtrace.engine import Engine
from memtrace.retention import ALL_TYPES
from memtrace.sweep import SweepReport

from .config import ServerConfig
from .keys import BOOTSTRAP_ORG_ID
from .leadership import Leadership

log = logging.getLogger("memtrace_server.retention")

SWEEP_JOB = "retention-sweep"


def apply_configured_policy(engine: Engine, config: ServerConfig) -> None:
    """Write the ``[retention]`` rules of ``memtrace.toml`` as ``org_default``'s (validated at config load)."""
    for key, keep in config.retention.policy().items():
        engine.set_retention(BOOTSTRAP_ORG_ID, ALL_TYPES if key == "default" else key, keep)


def schedule_sweeps(engine: Engine, config: ServerConfig, leadership: Leadership) -> None:
    """Run the sweep on the leader every ``retention.sweep_interval_seconds``."""

    def sweep() -> None:
        report = engine.sweep(
            batch=config.retention.sweep_batch, should_stop=leadership.stopping, actor=SYSTEM
        )
        if report.total or report.errors:
            record_sweep(report, trigger="scheduled")

    leadership.add_job(SWEEP_JOB, config.retention.sweep_interval_seconds, sweep)


def record_sweep(report: SweepReport, *, trigger: str, actor: str | None = None) -> None:
    """Log one sweep: what it deleted (or would delete), by org, reason and type, who asked and when (see the
    module docstring)."""
    who = f" by {actor}" if actor else ""
    log.info(
        "retention sweep (%s%s): %s",
        trigger,
        who,
        "; ".join(line.strip() for line in report.lines()),
        extra={"sweep": report.as_dict(), "trigger": trigger, "actor": actor},
    )


__all__ = ["SWEEP_JOB", "apply_configured_policy", "record_sweep", "schedule_sweeps"]
