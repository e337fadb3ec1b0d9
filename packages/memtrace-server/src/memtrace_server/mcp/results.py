"""How tool results are written: indented JSON text, like the original's ``json.MarshalIndent``."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


def to_json(value: BaseModel | dict[str, Any]) -> str:
    """A response object as indented JSON. Unset fields are left out (as Go's ``omitempty`` did), and
    non-ASCII text stays readable for the model instead of becoming ``\\u`` escapes."""
    data = value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else value
    return json.dumps(data, indent=2, ensure_ascii=False)
