"""What an export takes and what export and import report: the client's, the server's and the CLI's shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExportOptions(BaseModel):
    """Which part of an organisation to export; nothing set exports all of it.

    `agent_id` and `session_id` narrow everything (memories, and the agents and sessions written with them);
    `memory_types`, `tags` (every one must match, whole) and the time range (`since` exclusive, `until`
    exclusive; relative like ``7d`` or ISO-8601) narrow the memories only."""

    agent_id: str | None = None
    session_id: str | None = None
    memory_types: list[str] | None = None
    tags: list[str] | None = None
    since: str | None = None
    until: str | None = None


class ExportSummary(BaseModel):
    """What an export wrote (the counts of its trailer)."""

    agents: int = 0
    sessions: int = 0
    memories: int = 0
    bytes: int = 0


class ImportReport(BaseModel):
    """What an import did. Memories already in the organisation (by id) are skipped, so importing a file again
    adds nothing; agents and sessions already there are kept as they are and counted as skipped too."""

    memories: int = 0
    """Memories inserted."""
    skipped: int = 0
    """Memories whose id the organisation already held."""
    agents: int = 0
    agents_skipped: int = 0
    sessions: int = 0
    sessions_skipped: int = 0
    lines: int = 0
    """Lines read and committed, header and trailer included."""
    complete: bool = Field(default=True)
    """False only inside an error's report: the file was imported up to `lines`, and no further."""

    def summary(self) -> str:
        return (
            f"imported {self.memories} memories, {self.agents} agents, {self.sessions} sessions "
            f"({self.skipped} memories, {self.agents_skipped} agents and {self.sessions_skipped} sessions were "
            f"already there)"
        )


__all__ = ["ExportOptions", "ExportSummary", "ImportReport"]
