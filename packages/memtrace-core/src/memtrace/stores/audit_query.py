"""The audit trail's filter as SQL, shared by the SQLite and PostgreSQL metadata stores (they differ only in
their parameter placeholder)."""

from __future__ import annotations

from typing import Any


def audit_where(
    placeholder: str,
    *,
    org_id: str | None,
    action: str | None,
    since_us: int | None,
    until_us: int | None,
    before_id: int | None,
) -> tuple[str, list[Any]]:
    """``" WHERE ..."`` (empty when nothing filters) and its parameters, for `MetadataStore.list_audit`."""
    conditions: list[str] = []
    params: list[Any] = []
    for column, op, value in (
        ("org_id", "=", org_id),
        ("action", "=", action),
        ("time_us", ">=", since_us),
        ("time_us", "<", until_us),
        ("id", "<", before_id),
    ):
        if value is not None:
            conditions.append(f"{column} {op} {placeholder}")
            params.append(value)
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params
