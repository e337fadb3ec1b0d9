"""The wire: request bodies parsed straight from bytes, responses serialised straight to bytes.

Bodies go through pydantic's JSON validators (``validate_json``), never ``json.loads`` then validate, and
responses through ``TypeAdapter.dump_json``: for a batch of 1,000 memories that is the difference between a
few milliseconds and tens. A pydantic error becomes a `memtrace.ValidationError` naming the field
(``memories[3].importance``), which the error handler turns into ``400 {"error": ..., "field": ...}``.

Optional fields that are unset are left out of responses, as the original's Go ``omitempty`` did; the SDK
reads a missing optional field as None.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.responses import Response

from memtrace.errors import ValidationError
from memtrace.models import AddMemoryRequest, Memory
from memtrace.stores.base import ApiKeyRow, OrgRow
from memtrace.timeparse import from_us

T = TypeVar("T")

JSON = "application/json"


class BatchCreateRequest(BaseModel):
    """``{"memories": [...]}``: the batch form of ``POST /api/v1/memories``."""

    model_config = ConfigDict(extra="ignore")
    memories: list[AddMemoryRequest] | None = None


class BatchCreateResponse(BaseModel):
    memories: list[Memory]
    count: int
    skipped: int = Field(0, description="Items dropped as duplicates (extension).")
    skipped_indexes: list[int] = Field(
        default_factory=list, description="Their positions in the request (extension)."
    )


class DeleteMemoriesRequest(BaseModel):
    """The filters of ``DELETE /api/v1/memories`` as a JSON body (an alternative to the query string)."""

    model_config = ConfigDict(extra="forbid")
    agent_id: str | None = None
    session_id: str | None = None
    since: str | None = None
    until: str | None = None
    memory_type: str | None = None
    event_type: str | None = None
    tags: str | list[str] | None = None
    memory_ids: list[str] | None = None


class DeletedResponse(BaseModel):
    deleted: int


class UpdateSessionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str | None = None
    metadata: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: str
    field: str | None = Field(None, description="The offending field, on validation errors.")


class CreateOrgRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    id: str | None = Field(None, description="Pick the id instead of a generated org_<hex> one.")


class Org(BaseModel):
    id: str
    name: str
    created_at: datetime


class OrgList(BaseModel):
    orgs: list[Org]
    count: int


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str
    org_id: str | None = Field(None, description="Default: the caller's organisation.")
    permissions: str | list[str] | None = Field(None, description="read, write, admin; default read,write.")
    expires_at: datetime | None = None


class ApiKey(BaseModel):
    id: int
    org_id: str
    name: str
    prefix: str = Field(description="hex(sha256(key))[:16], to tell keys apart without the key.")
    permissions: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    enabled: bool


class CreatedApiKey(ApiKey):
    key: str = Field(description="The key itself. It is shown only in this response.")


class ApiKeyList(BaseModel):
    keys: list[ApiKey]
    count: int


class SetRetentionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keep: str = Field(
        description="How long to keep memories: a duration (30d, 12w, 36h; at least 1h) or forever."
    )
    memory_type: str | None = Field(
        None,
        description="episodic, session, decision or entity; * or absent: every type without its own rule.",
    )
    org_id: str | None = Field(None, description="Default: the caller's organisation.")


class RetentionRuleView(BaseModel):
    org_id: str
    memory_type: str = Field(description="A memory type, or * for every type without its own rule.")
    keep: str = Field(description="A duration such as 30d, or forever.")
    max_age_seconds: int | None = Field(None, description="The duration in seconds; absent for forever.")
    updated_at: datetime


class RetentionPolicyView(BaseModel):
    org_id: str
    rules: list[RetentionRuleView]
    count: int


class ClearedRetention(BaseModel):
    org_id: str
    removed: int


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    org_id: str | None = Field(None, description="Only this organisation (default: every organisation).")
    dry_run: bool = Field(False, description="Count what would be deleted, delete nothing.")


class SweepReportView(BaseModel):
    dry_run: bool
    started_at: datetime
    finished_at: datetime
    total: int
    complete: bool = Field(description="False when the sweep stopped early; the next one takes the rest.")
    batches: int
    orgs: dict[str, dict[str, dict[str, int]]] = Field(
        description="org -> reason (expired, retention) -> memory type -> memories."
    )
    errors: dict[str, str] = Field(description="org -> why its sweep failed.")


_adapters: dict[Any, TypeAdapter[Any]] = {}


def adapter(kind: Any) -> TypeAdapter[Any]:
    """One cached TypeAdapter per type (building one costs milliseconds)."""
    found = _adapters.get(kind)
    if found is None:
        found = _adapters[kind] = TypeAdapter(kind)
    return found


def field_name(loc: tuple[int | str, ...]) -> str:
    """``("memories", 3, "content")`` -> ``memories[3].content``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_error(exc: PydanticValidationError, *, prefix: str = "") -> ValidationError:
    """The first pydantic error as a `memtrace.ValidationError` naming its field."""
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    if kind == "json_invalid":
        return ValidationError(f"invalid request body: malformed JSON ({err['msg']})", "body")
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    field = field_name(loc)
    if not field:
        return ValidationError(f"invalid request body: {err['msg']}", "body")
    field = prefix + field
    if kind == "missing":
        return ValidationError(f"{field} is required", field)
    return ValidationError(f"invalid {field}: {err['msg']}", field)


def parse(body: bytes, kind: type[T], *, empty: T | None = None) -> T:
    """Validate a JSON body as `kind`. An empty body is `empty` when given, else a validation error."""
    if not body.strip():
        if empty is not None:
            return empty
        raise ValidationError("invalid request body: expected a JSON object", "body")
    try:
        return adapter(kind).validate_json(body)  # type: ignore[no-any-return]
    except PydanticValidationError as exc:
        if exc.errors(include_url=False)[0]["type"] == "json_invalid":
            oversized = oversized_number_error(body)
            if oversized is not None:
                raise oversized from None
        raise validation_error(exc) from None


def oversized_number_error(body: bytes) -> ValidationError | None:
    """The error naming the field of a number too large to parse (an integer of more digits than Python
    converts, 4,300 by default, or a float beyond its range), or None when `body` has none.

    Called only once parsing has failed, to turn "number out of range at column 4345" into the field's name.
    """
    digits = sys.get_int_max_str_digits() or math.inf
    oversized = object()

    def parse_int(text: str) -> Any:
        return oversized if len(text.lstrip("-")) > digits else int(text)

    def parse_float(text: str) -> Any:
        value = float(text)
        return oversized if math.isinf(value) else value

    try:
        document = json.loads(body, parse_int=parse_int, parse_float=parse_float)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(document, ())]
    while stack:
        value, loc = stack.pop()
        if value is oversized:
            field = field_name(loc) or "body"
            limit = f"at most {digits} digits" if digits != math.inf else "out of range"
            return ValidationError(f"invalid {field}: number too large ({limit})", field)
        if isinstance(value, dict):
            stack.extend((v, (*loc, str(k))) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((v, (*loc, i)) for i, v in reversed(list(enumerate(value))))
    return None


def json_response(value: Any, kind: Any, status: int = 200) -> Response:
    """Serialise `value` as `kind`, leaving out unset optional fields."""
    return Response(adapter(kind).dump_json(value, exclude_none=True), status_code=status, media_type=JSON)


def org_view(row: OrgRow) -> Org:
    return Org(id=row.id, name=row.name, created_at=from_us(row.created_us))


def key_view(row: ApiKeyRow, key: str | None = None) -> ApiKey:
    data: dict[str, Any] = {
        "id": row.id,
        "org_id": row.org_id,
        "name": row.name,
        "prefix": row.key_prefix,
        "permissions": [p for p in row.permissions.split(",") if p],
        "created_at": from_us(row.created_us),
        "expires_at": from_us(row.expires_us) if row.expires_us is not None else None,
        "enabled": row.enabled,
    }
    return CreatedApiKey(**data, key=key) if key is not None else ApiKey(**data)
