"""Early checks of constructor arguments, so a bad value fails where it is given, naming the argument."""

from __future__ import annotations

from memtrace import ValidationError
from memtrace.ids import ID_PATTERN


def check_agent_id(agent_id: object, owner: str) -> str:
    if not isinstance(agent_id, str) or not ID_PATTERN.fullmatch(agent_id):
        raise ValidationError(
            f"{owner}: invalid agent_id {agent_id!r}: must start with a letter and contain only letters, digits, "
            "'_' or '-', max 128 chars (use memtrace.id_for_key to map another key)",
            "agent_id",
        )
    return agent_id
