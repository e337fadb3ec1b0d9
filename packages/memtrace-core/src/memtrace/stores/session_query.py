"""The dashboard's session queries as SQL, shared by the SQLite and PostgreSQL metadata stores (they differ only
in their parameter placeholder): a filtered page with its total, and per-agent counts in one grouped read."""

from __future__ import annotations

from typing import Any

from .base import SessionOrder

_ORDER_BY: dict[SessionOrder, str] = {
    "created": "created_us DESC, id DESC",
    # Then by creation: what a stable sort by update time of `list_sessions`' order gives.
    "updated": "updated_us DESC, created_us DESC, id DESC",
}

SESSION_COUNTS_BY_AGENT = (
    "SELECT agent_id, count(*), sum(CASE WHEN status = 'active' THEN 1 ELSE 0 END), max(created_us) "
    "FROM sessions WHERE org_id = {p} GROUP BY agent_id ORDER BY max(created_us) DESC, agent_id DESC"
)
"""`MetadataStore.count_sessions_by_agent`, with ``{p}`` the placeholder."""


def session_where(
    placeholder: str, *, org_id: str, agent_id: str | None, status: str | None
) -> tuple[str, list[Any]]:
    """``" WHERE org_id = ..."`` with the agent and status conditions that are given, and its parameters."""
    conditions = [f"org_id = {placeholder}"]
    params: list[Any] = [org_id]
    for column, value in (("agent_id", agent_id), ("status", status)):
        if value is not None:
            conditions.append(f"{column} = {placeholder}")
            params.append(value)
    return " WHERE " + " AND ".join(conditions), params


def session_order_by(order: SessionOrder) -> str:
    """The ``ORDER BY`` terms (without the keywords) of `MetadataStore.page_sessions`."""
    return _ORDER_BY[order]
