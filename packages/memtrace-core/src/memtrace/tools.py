"""The memory tools an agent calls, defined once for every framework.

Each `MemoryTool` holds a tool's name, title, description, arguments (`ToolArg`: type, description, default,
bounds), behaviour hints and a *plan* (see `memtrace.bridge`) that carries it out on a client. Frameworks render
the same definitions their own way:

- ``tool.json_schema(scope)``: the arguments as JSON Schema (OpenAI function tools, MCP);
- ``tool.args_model(scope)``: a pydantic model of the arguments (LangChain ``args_schema``, CrewAI);
- ``tool.signature(scope)``: a Python signature with ``Annotated`` fields (FastMCP derives its schema from it);
- ``tool.run(bridge, arguments, scope)`` / ``await tool.arun(...)``: validate the arguments, run the plan,
  return the typed result; ``tool.text(result)`` is the original MCP server's text for it.

A framework whose users expect other defaults (a required ``query``, a smaller ``limit``) renders a variant,
``tool.adapt(require=..., defaults=..., bounds=...)``, rather than writing the arguments again: every argument
core adds later still reaches that framework's schema and the plan, with no change to the adapter.

A `ToolScope` binds arguments a framework knows already (the agent, the conversation's session): bound
arguments leave the schema and are filled in from the scope. The MCP server uses no scope: there every
argument is the model's to give, with the original server's names, schemas and descriptions (spec §8).

    from memtrace import ClientBridge, Memtrace
    from memtrace.tools import MEMORY_TOOLS, ToolScope

    bridge = ClientBridge(Memtrace.open("./data"))
    remember = MEMORY_TOOLS["memtrace_remember"]
    memory = remember.run(bridge, {"content": "User prefers dark mode"}, ToolScope(agent_id="assistant"))
"""

from __future__ import annotations

import functools
import inspect
import json
import types
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, cast, get_args, get_origin

import pydantic
from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import SkipJsonSchema

from .bridge import ClientBridge, Plan
from .errors import ConflictError, NotFoundError, ValidationError
from .forget import ForgetReceipt
from .models import (
    AddMemoryRequest,
    Agent,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    MemoryList,
    RegisterAgentRequest,
    SearchQuery,
    SearchResult,
    Session,
)
from .operations import (
    AddMemory,
    CreateSession,
    DeleteMemory,
    Forget,
    GetMemory,
    GetSessionContext,
    ListFacts,
    ListMemories,
    RegisterAgent,
    SearchMemories,
)

T = TypeVar("T")

MemoryTypeName = Literal["episodic", "decision", "entity", "session"]
"""The four memory types, in the order the original's tool descriptions list them."""

ALL_TIME = "1970-01-01T00:00:00Z"
"""`memtrace_session_context`'s default window: the whole session (no memory predates the epoch)."""

REQUIRED: Any = ...
"""The default of a required `ToolArg`."""

ToolKind = Literal["read", "write", "delete"]
"""What a tool does to memory: frameworks map it onto their hints (MCP's readOnlyHint/destructiveHint...)."""


def _drop_null_default(schema: dict[str, Any]) -> None:
    # `"default": null` next to `"type": "string"` reads as a contradiction to schema-strict clients.
    if "default" in schema and schema["default"] is None:
        del schema["default"]


@dataclass(frozen=True, slots=True)
class ToolArg:
    """One tool argument. Optional arguments without a default are typed ``X | SkipJsonSchema[None]``:
    callers may omit them or send null, while the schema stays a plain ``{"type": ...}``."""

    name: str
    annotation: Any
    description: str
    default: Any = REQUIRED
    constraints: Mapping[str, Any] = field(default_factory=dict)
    binds: Literal["agent_id", "session_id"] | None = None
    """Which `ToolScope` value, when set, replaces this argument."""
    hidden: bool = False
    """Left out of this rendering's schema (see `MemoryTool.adapt`); the plan gets the default."""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def field_info(self) -> FieldInfo:
        """The pydantic field (description), without the default (it goes beside the annotation)."""
        info: FieldInfo = Field(description=self.description, json_schema_extra=_drop_null_default)
        return info

    def annotated(self) -> Any:
        return Annotated[_constrained(self.annotation, self.constraints), self.field_info()]


def _is_null(member: Any) -> bool:
    return member is type(None) or (get_origin(member) is Annotated and get_args(member)[0] is type(None))


def _non_null(annotation: Any) -> Any:
    """``X`` from ``X | SkipJsonSchema[None]`` (``X`` itself if it is not optional)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if not _is_null(m)]
        if len(members) < len(get_args(annotation)):
            return members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007 - built at runtime
    return annotation


def _constrained(annotation: Any, constraints: Mapping[str, Any]) -> Any:
    """`annotation` with its bounds on the value itself: on an optional ``float | None`` pydantic cannot apply
    ``ge``/``le`` to the union, and would copy them into the JSON Schema under those names (which no client
    understands) instead of ``minimum``/``maximum``."""
    if not constraints:
        return annotation
    base = _non_null(annotation)
    bounded: Any = cast(Any, Annotated)[base, Field(**dict(constraints))]  # built at runtime, like _NULL
    return bounded if base is annotation else bounded | _NULL


@dataclass(frozen=True, slots=True)
class ToolScope:
    """Arguments a framework binds when it creates the tools: they leave the schema and come from here.

    With ``overridable=True`` the bound arguments stay in the schema as optional ones, and the scope's values
    are their defaults (the original OpenAI Agents integration worked that way)."""

    agent_id: str | None = None
    session_id: str | None = None
    overridable: bool = False

    def value(self, name: str) -> str | None:
        return self.agent_id if name == "agent_id" else self.session_id if name == "session_id" else None


_NO_SCOPE = ToolScope()

_NULL: Any = cast(Any, SkipJsonSchema)[None]  # a runtime value here; the checker sees only a type
"""Added to an argument's type to make it optional without a null in its schema."""


@dataclass(frozen=True, slots=True, eq=False)  # identity: a tool is one definition, and a cache key
class MemoryTool(Generic[T]):
    """One memory tool, for every framework (see the module docstring)."""

    name: str
    """The tool name the model sees, e.g. ``memtrace_remember`` (the original MCP server's)."""
    key: str
    """A short name, e.g. ``remember``: the MCP argument model's title prefix, a framework's method name."""
    title: str
    description: str
    kind: ToolKind
    args: tuple[ToolArg, ...]
    plan: Callable[[dict[str, Any], ToolScope], Plan[T]]
    """Carries the tool out, given validated arguments (bound ones filled in) and the scope."""
    text: Callable[[T], str]
    """The result as the original MCP server wrote it: indented JSON, or markdown for the session context."""

    def arguments(self, scope: ToolScope = _NO_SCOPE) -> tuple[ToolArg, ...]:
        """The arguments the model gives under `scope`."""
        out: list[ToolArg] = []
        for arg in self.args:
            if arg.hidden:
                continue
            bound = scope.value(arg.binds) if arg.binds else None
            if bound is None:
                out.append(arg)
            elif scope.overridable:
                out.append(
                    ToolArg(
                        arg.name,
                        arg.annotation | _NULL,
                        arg.description,
                        None,
                        arg.constraints,
                    )
                )
        return tuple(out)

    def args_model(self, scope: ToolScope = _NO_SCOPE) -> type[BaseModel]:
        """A pydantic model of the arguments under `scope` (extra arguments are refused)."""
        # The model depends on which arguments are bound, not on their values: one model per shape.
        shape = ToolScope(
            agent_id="" if scope.agent_id is not None else None,
            session_id="" if scope.session_id is not None else None,
            overridable=scope.overridable,
        )
        return _args_model(self, shape)

    def json_schema(self, scope: ToolScope = _NO_SCOPE) -> dict[str, Any]:
        """The arguments as JSON Schema (an object; ``additionalProperties`` false)."""
        return self.args_model(scope).model_json_schema()

    def signature(self, scope: ToolScope = _NO_SCOPE) -> inspect.Signature:
        """Keyword-only parameters ``name: Annotated[type, Field(...)] = default``."""
        params = [
            inspect.Parameter(
                arg.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if arg.required else arg.default,
                annotation=arg.annotated(),
            )
            for arg in self.arguments(scope)
        ]
        return inspect.Signature(params)

    def prepare(self, arguments: Mapping[str, Any], scope: ToolScope = _NO_SCOPE) -> dict[str, Any]:
        """Validate the model's arguments (a `ValidationError` names the field) and fill in bound ones."""
        # null means "not given" (MCP clients send every argument); pydantic would apply bounds to it.
        given = {name: value for name, value in arguments.items() if value is not None}
        try:
            values = dict(self.args_model(scope).model_validate(given))
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = _field_path(error["loc"])
            raise ValidationError(f"invalid {where}: {error['msg']}", where) from None
        for arg in self.args:
            bound = scope.value(arg.binds) if arg.binds else None
            if bound is not None and values.get(arg.name) is None:
                values[arg.name] = bound
            elif arg.hidden:
                values[arg.name] = arg.default
        return values

    def adapt(
        self,
        *,
        description: str | None = None,
        describe: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        bounds: Mapping[str, Mapping[str, Any]] | None = None,
        require: Collection[str] = (),
        hide: Collection[str] = (),
    ) -> MemoryTool[T]:
        """This tool with one framework's conventions, same name and plan: another tool `description`,
        argument descriptions (`describe`), `defaults`, `bounds` (merged into the argument's), optional
        arguments made required (`require`) and arguments left out of the schema (`hide`; the plan gets their
        default). Every other argument, including any core adds later, stays as defined. A name that is not an
        argument raises `KeyError`, so a renamed argument cannot silently drop a framework's convention."""
        changes: dict[str, dict[str, Any]] = {arg.name: {} for arg in self.args}

        def change(names: Collection[str], key: str, value: Callable[[str], Any]) -> None:
            for name in names:
                if name not in changes:
                    raise KeyError(f"{self.name} has no argument {name!r}")
                changes[name][key] = value(name)

        by_name = {arg.name: arg for arg in self.args}
        change(list(describe or {}), "description", lambda n: (describe or {})[n])
        change(list(defaults or {}), "default", lambda n: (defaults or {})[n])
        change(list(bounds or {}), "constraints", lambda n: {**by_name[n].constraints, **(bounds or {})[n]})
        change(require, "default", lambda n: REQUIRED)
        change(require, "annotation", lambda n: _non_null(by_name[n].annotation))
        change(hide, "hidden", lambda n: True)
        for name in hide:
            if by_name[name].required and by_name[name].binds is None:
                raise ValueError(f"{self.name}: the required argument {name!r} cannot be hidden")
        args = tuple(replace(arg, **changes[arg.name]) if changes[arg.name] else arg for arg in self.args)
        return replace(self, description=self.description if description is None else description, args=args)

    def run(self, bridge: ClientBridge, arguments: Mapping[str, Any], scope: ToolScope = _NO_SCOPE) -> T:
        """Carry the tool out from sync code."""
        return bridge.run(self.plan(self.prepare(arguments, scope), scope))

    async def arun(
        self, bridge: ClientBridge, arguments: Mapping[str, Any], scope: ToolScope = _NO_SCOPE
    ) -> T:
        """Carry the tool out from async code."""
        return await bridge.arun(self.plan(self.prepare(arguments, scope), scope))


def _field_path(loc: tuple[int | str, ...]) -> str:
    """``tags[0]`` from pydantic's ``("tags", 0)``; the names pydantic gives union members
    (``constrained-float``) are left out, as the model never wrote them."""
    if not loc:
        return "arguments"
    return str(loc[0]) + "".join(f"[{p}]" for p in loc[1:] if isinstance(p, int))


@functools.lru_cache(maxsize=256)
def _args_model(tool: MemoryTool[Any], scope: ToolScope) -> type[BaseModel]:
    fields: dict[str, Any] = {arg.name: (arg.annotated(), arg.default) for arg in tool.arguments(scope)}
    model: type[BaseModel] = create_model(
        f"{tool.key}Arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
    )
    return model


# ------------------------------------------------------------------ results as text


def to_json(value: BaseModel | Mapping[str, Any]) -> str:
    """A result as indented JSON, like the original's ``json.MarshalIndent``. Unset fields are left out (as
    Go's ``omitempty`` did), and non-ASCII text stays readable instead of becoming ``\\u`` escapes."""
    data = value.model_dump(mode="json", exclude_none=True) if isinstance(value, BaseModel) else dict(value)
    return json.dumps(data, indent=2, ensure_ascii=False)


def format_memory(memory: Memory) -> str:
    """One line per memory for a model to read: id (so it can be forgotten), time, type, content, the
    reasoning of a decision, the score of a ranked search result."""
    line = f"- {memory.id} [{memory.time:%Y-%m-%d %H:%M}] {memory.memory_type}/{memory.event_type}: {memory.content}"
    reasoning = (memory.metadata or {}).get("reasoning") if memory.memory_type == "decision" else None
    if reasoning:
        line += f" (reasoning: {reasoning})"
    if memory.score is not None:
        line += f" (score {memory.score:.2f})"
    return line


# ------------------------------------------------------------------ the tools

_Str = str | SkipJsonSchema[None]
_Float = float | SkipJsonSchema[None]
_Int = int | SkipJsonSchema[None]
_Strings = list[str] | SkipJsonSchema[None]
_Types = list[MemoryTypeName] | SkipJsonSchema[None]
_MemoryType = MemoryTypeName | SkipJsonSchema[None]
_Metadata = dict[str, Any] | SkipJsonSchema[None]

_AGENT = ToolArg("agent_id", str, "Agent ID", binds="agent_id")
_LIMIT = ToolArg("limit", int, "Max results. Default: 50", 50, {"ge": 1, "le": 1000})
_MEMORY_ID = ToolArg(
    "memory_id", str, "Memory id, as returned by the other tools (mem_ followed by 26 characters)"
)


def _add(request: AddMemoryRequest) -> Plan[Memory]:
    try:
        memory: Memory = yield AddMemory(request)
    except ConflictError as exc:
        # "duplicate memory" alone leaves a model guessing; say what happened and that nothing changed.
        if request.key is not None:
            raise ConflictError(
                f"{exc.message}: '{request.key}' already has this value, so nothing new was written",
                status_code=exc.status_code,
            ) from exc
        raise ConflictError(
            f"{exc.message}: an identical memory for agent '{request.agent_id}' was stored within the "
            "dedup window, so nothing new was written",
            status_code=exc.status_code,
        ) from exc
    return memory


def _remember(a: dict[str, Any], scope: ToolScope) -> Plan[Memory]:
    request = AddMemoryRequest(
        agent_id=a["agent_id"],
        content=a["content"],
        memory_type=a["memory_type"],
        event_type=a["event_type"],
        session_id=a["session_id"] or None,
        tags=a["tags"],
        importance=a["importance"],
        metadata=a["metadata"],
        key=a["key"] or None,
        ttl=a["ttl"],
    )
    return (yield from _add(request))


def _recall(a: dict[str, Any], scope: ToolScope) -> Plan[MemoryList]:
    options = ListOptions(
        agent_id=a["agent_id"],
        since=a["since"] or "24h",
        session_id=a["session_id"] or None,
        memory_type=a["memory_type"],
        limit=a["limit"],
        order="desc",
    )
    result: MemoryList = yield ListMemories(options)
    return result


def _search(a: dict[str, Any], scope: ToolScope) -> Plan[SearchResult]:
    q = SearchQuery(
        agent_id=a["agent_id"] or None,
        content_contains=a["content_contains"] or None,
        memory_types=list(a["memory_types"]) if a["memory_types"] else None,
        tags=a["tags"] or None,
        since=a["since"] or None,
        min_importance=a["min_importance"],
        limit=a["limit"],
        order="desc",
        query=a["query"] or None,
    )
    result: SearchResult = yield SearchMemories(q)
    return result


def _recall_facts(a: dict[str, Any], scope: ToolScope) -> Plan[MemoryList]:
    result: MemoryList = yield ListFacts(
        prefix=a["prefix"] or None, agent_id=a["agent_id"] or None, limit=a["limit"]
    )
    return result


def _decide(a: dict[str, Any], scope: ToolScope) -> Plan[Memory]:
    request = AddMemoryRequest(
        agent_id=a["agent_id"],
        content=a["decision"],
        memory_type="decision",
        event_type="decision",
        session_id=scope.session_id,
        metadata={"reasoning": a["reasoning"]},
    )
    return (yield from _add(request))


def _session_create(a: dict[str, Any], scope: ToolScope) -> Plan[Session]:
    session: Session = yield CreateSession(
        CreateSessionRequest(agent_id=a["agent_id"], metadata=a["metadata"])
    )
    return session


def _session_context(a: dict[str, Any], scope: ToolScope) -> Plan[str]:
    options = ContextOptions(
        since=a["since"] or ALL_TIME,
        include_types=list(a["include_types"]) if a["include_types"] else None,
        max_tokens=a["max_tokens"],
    )
    context = yield GetSessionContext(a["session_id"], options)
    text: str = context.context
    return text


def _agent_register(a: dict[str, Any], scope: ToolScope) -> Plan[Agent]:
    agent: Agent = yield RegisterAgent(
        RegisterAgentRequest(name=a["name"], description=a["description"] or None)
    )
    return agent


def _get_memory(a: dict[str, Any], scope: ToolScope) -> Plan[Memory]:
    memory: Memory = yield GetMemory(a["memory_id"])
    if scope.agent_id is not None and memory.agent_id != scope.agent_id:
        raise NotFoundError("memory not found")  # tools bound to one agent see only its memories
    return memory


def _forget(a: dict[str, Any], scope: ToolScope) -> Plan[dict[str, Any]]:
    memory_id = a["memory_id"]
    if scope.agent_id is not None:
        # Tools bound to one agent must not delete another agent's memories.
        memory: Memory = yield GetMemory(memory_id)
        if memory.agent_id != scope.agent_id:
            raise NotFoundError("memory not found")
    yield DeleteMemory(memory_id)
    return {"deleted": True, "id": memory_id}


def _forget_subject(a: dict[str, Any], scope: ToolScope) -> Plan[ForgetReceipt]:
    # Bound arguments are already filled in: a tool bound to one agent (or session) forgets only within it.
    receipt: ForgetReceipt = yield Forget(
        agent_id=a["agent_id"] or None,
        session_id=a["session_id"] or None,
        tags=a["tags"] or None,
        since=a["since"] or None,
        until=a["until"] or None,
    )
    return receipt


def _identity(text: str) -> str:
    return text


REMEMBER: MemoryTool[Memory] = MemoryTool(
    name="memtrace_remember",
    key="remember",
    title="Remember",
    description=(
        "Store a memory. Use this to record actions, observations, events, or any information the agent "
        "should remember later."
    ),
    kind="write",
    args=(
        _AGENT,
        ToolArg("content", str, "Memory content text"),
        ToolArg(
            "memory_type",
            MemoryTypeName,
            "Memory type: episodic (default), decision, entity, session",
            "episodic",
        ),
        ToolArg(
            "event_type", str, "Event type (e.g. page_crawled, error, api_call). Default: general", "general"
        ),
        ToolArg("session_id", _Str, "Session ID to scope this memory to", None, binds="session_id"),
        ToolArg("tags", _Strings, "Tags for categorization", None),
        ToolArg("importance", _Float, "Importance score 0.0 to 1.0", None, {"ge": 0, "le": 1}),
        ToolArg("metadata", _Metadata, "Arbitrary key-value metadata", None),
        ToolArg(
            "ttl",
            _Str,
            "Forget this memory after this long (e.g. 30m, 12h, 7d; up to 10 years). Default: keep it",
            None,
        ),
        ToolArg(
            "key",
            _Str,
            "Fact key (e.g. user:ada/city) when this memory is the current value of a fact that can change: it "
            "replaces the key's previous value, which stays in the fact's history. Letters, digits and _ . : / @ -",
            None,
        ),
    ),
    plan=_remember,
    text=to_json,
)

RECALL: MemoryTool[MemoryList] = MemoryTool(
    name="memtrace_recall",
    key="recall",
    title="Recall",
    description="Retrieve recent memories for an agent. Returns memories in reverse chronological order.",
    kind="read",
    args=(
        _AGENT,
        ToolArg("since", str, "Time window (e.g. 2h, 24h, 7d). Default: 24h", "24h"),
        ToolArg("session_id", _Str, "Filter by session ID", None, binds="session_id"),
        ToolArg("memory_type", _MemoryType, "Filter by memory type", None),
        _LIMIT,
    ),
    plan=_recall,
    text=to_json,
)

SEARCH: MemoryTool[SearchResult] = MemoryTool(
    name="memtrace_search",
    key="search",
    title="Search memories",
    description=(
        "Search memories with structured filters: by content text, memory types, tags, importance, and time "
        "range. Give `query` to rank results by keyword relevance instead of time."
    ),
    kind="read",
    args=(
        ToolArg("agent_id", _Str, "Filter by agent ID", None, binds="agent_id"),
        ToolArg("content_contains", _Str, "Search text within memory content", None),
        ToolArg("memory_types", _Types, "Filter by memory types (episodic, decision, entity, session)", None),
        ToolArg("tags", _Strings, "Filter by tags", None),
        ToolArg("since", _Str, "Time window (e.g. 2h, 24h)", None),
        ToolArg("min_importance", _Float, "Minimum importance score 0.0 to 1.0", None, {"ge": 0, "le": 1}),
        _LIMIT,
        ToolArg(
            "query",
            _Str,
            "Keywords to rank by relevance (BM25), then recency and importance. Without it, results are newest first.",
            None,
        ),
    ),
    plan=_search,
    text=to_json,
)

RECALL_FACTS: MemoryTool[MemoryList] = MemoryTool(
    name="memtrace_recall_facts",
    key="recall_facts",
    title="Recall facts",
    description=(
        "Retrieve the current value of facts remembered with a key (e.g. user:ada/city), newest first. "
        "Replaced values are not returned: each key gives only what is true now."
    ),
    kind="read",
    args=(
        ToolArg("agent_id", _Str, "Only facts this agent remembered", None, binds="agent_id"),
        ToolArg("prefix", _Str, "Only keys starting with this (e.g. user:ada/)", None),
        _LIMIT,
    ),
    plan=_recall_facts,
    text=to_json,
)

DECIDE: MemoryTool[Memory] = MemoryTool(
    name="memtrace_decide",
    key="decide",
    title="Log a decision",
    description="Log a decision with reasoning. Creates an auditable record of what was decided and why.",
    kind="write",
    args=(
        _AGENT,
        ToolArg("decision", str, "The decision that was made"),
        ToolArg("reasoning", str, "Why this decision was made"),
    ),
    plan=_decide,
    text=to_json,
)

SESSION_CREATE: MemoryTool[Session] = MemoryTool(
    name="memtrace_session_create",
    key="session_create",
    title="Start a session",
    description=(
        "Start a new session — a bounded context for a unit of work. Memories can be scoped to sessions."
    ),
    kind="write",
    args=(
        ToolArg("agent_id", str, "Agent ID that owns this session", binds="agent_id"),
        ToolArg("metadata", _Metadata, "Session metadata (e.g. goal, context)", None),
    ),
    plan=_session_create,
    text=to_json,
)

SESSION_CONTEXT: MemoryTool[str] = MemoryTool(
    name="memtrace_session_context",
    key="session_context",
    title="Session context",
    description=(
        "Get LLM-ready session context as formatted markdown. Returns all memories for a session grouped by "
        "type, ready to inject into a prompt."
    ),
    kind="read",
    args=(
        ToolArg("session_id", str, "Session ID", binds="session_id"),
        ToolArg("since", _Str, "Time window (e.g. 4h). Default: all session memories", None),
        ToolArg(
            "include_types", _Types, "Memory types to include (episodic, decision, entity, session)", None
        ),
        ToolArg("max_tokens", _Int, "Approximate max token budget for context", None, {"ge": 1}),
    ),
    plan=_session_context,
    text=_identity,
)

AGENT_REGISTER: MemoryTool[Agent] = MemoryTool(
    name="memtrace_agent_register",
    key="agent_register",
    title="Register an agent",
    description=(
        "Register a new agent with a name and description. Optional: memories can be stored under any "
        "agent ID, registered or not."
    ),
    kind="write",
    args=(
        ToolArg("name", str, "Agent name; use the same name as agent_id in the other tools"),
        ToolArg("description", _Str, "What this agent does", None),
    ),
    plan=_agent_register,
    text=to_json,
)

GET_MEMORY: MemoryTool[Memory] = MemoryTool(
    name="memtrace_get_memory",
    key="get_memory",
    title="Get a memory",
    description="Get one memory by its id (mem_...).",
    kind="read",
    args=(_MEMORY_ID,),
    plan=_get_memory,
    text=to_json,
)

FORGET: MemoryTool[dict[str, Any]] = MemoryTool(
    name="memtrace_forget",
    key="forget",
    title="Forget a memory",
    description=(
        "Forget a memory: delete it by its id (mem_...). Memories cannot be edited, so to correct one, "
        "forget it and remember the corrected version."
    ),
    kind="delete",
    args=(_MEMORY_ID,),
    plan=_forget,
    text=to_json,
)

FORGET_SUBJECT: MemoryTool[ForgetReceipt] = MemoryTool(
    name="memtrace_forget_subject",
    key="forget_subject",
    title="Forget a subject",
    description=(
        "Forget everything about a subject: every memory of an agent, of a session, or with given tags or in a "
        "time range (the conditions given are combined; at least one is required). With only agent_id, the "
        "agent's sessions and registration go too; with only session_id, the session. This cannot be undone. "
        "Returns a receipt counting what was removed."
    ),
    kind="delete",
    args=(
        ToolArg("agent_id", _Str, "Forget this agent's memories", None, binds="agent_id"),
        ToolArg("session_id", _Str, "Forget this session's memories", None, binds="session_id"),
        ToolArg("tags", _Strings, "Forget memories with every one of these tags", None),
        ToolArg("since", _Str, "Forget memories after this time (e.g. 2h, 7d, or ISO-8601)", None),
        ToolArg("until", _Str, "Forget memories before this time (e.g. 2h, 7d, or ISO-8601)", None),
    ),
    plan=_forget_subject,
    text=to_json,
)

MEMORY_TOOLS: dict[str, MemoryTool[Any]] = {
    tool.name: tool
    for tool in (
        REMEMBER,
        RECALL,
        SEARCH,
        DECIDE,
        SESSION_CREATE,
        SESSION_CONTEXT,
        AGENT_REGISTER,
        GET_MEMORY,
        FORGET,
        FORGET_SUBJECT,
        RECALL_FACTS,
    )
}
"""Every memory tool by name, in the MCP server's order."""

__all__ = [
    "AGENT_REGISTER",
    "ALL_TIME",
    "DECIDE",
    "FORGET",
    "FORGET_SUBJECT",
    "GET_MEMORY",
    "MEMORY_TOOLS",
    "RECALL",
    "RECALL_FACTS",
    "REMEMBER",
    "SEARCH",
    "SESSION_CONTEXT",
    "SESSION_CREATE",
    "MemoryTool",
    "MemoryTypeName",
    "ToolArg",
    "ToolKind",
    "ToolScope",
    "format_memory",
    "to_json",
]
