"""The client's operations as data: one small dataclass per client method, typed by its result.

`Memtrace` and `AsyncMemtrace` turn every method call into one `Operation[R]` and hand it to their backend,
which returns an ``R``. Each operation knows both ways it can be carried out, so a backend needs no table:

- ``run(engine, org_id)``: in-process, on an `Engine` (`LocalBackend`);
- ``http()``: a request plan for a memtrace server (`HttpBackend`; see `memtrace.backends.plans`).

Adding a client method is one change the type checker verifies: a dataclass here with both methods (an
`Operation` lacking one cannot be instantiated), and one ``name = client_method(TheOperation)`` line in
`memtrace.client`, from which the sync and async clients both get the method, its signature and its result type.
The dataclass fields are the method's parameters, in order (``KW_ONLY`` marks keyword-only ones).

Operations can also be used directly (like langgraph's ``GetOp``/``PutOp``)::

    memory = client.execute(AddMemory(AddMemoryRequest(agent_id="a1", content="hi")))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

from .backends.plans import (
    HttpPlan,
    HttpRequest,
    body,
    json_body,
    list_params,
    require,
    segment,
)
from .errors import ConflictError, NotFoundError, ValidationError
from .forget import ForgetReceipt, ForgetRequest
from .models import (
    AddMemoryRequest,
    Agent,
    AgentList,
    AgentStats,
    BatchResult,
    ContextOptions,
    CreateSessionRequest,
    ListOptions,
    Memory,
    MemoryList,
    RegisterAgentRequest,
    SearchQuery,
    SearchResult,
    Session,
    SessionContext,
    SessionList,
)
from .transfer.files import Destination, ExportWriter, Source, open_destination, open_source
from .transfer.importer import Progress
from .transfer.options import ExportOptions, ExportSummary, ImportReport
from .transfer.remote import export_plan, import_plan

if TYPE_CHECKING:
    from .engine import Engine

R = TypeVar("R", covariant=True)

_MEMORIES = "/api/v1/memories"
_AGENTS = "/api/v1/agents"
_SESSIONS = "/api/v1/sessions"
_FORGET = "/api/v1/forget"
_FACTS = "/api/v1/facts"


class Operation(ABC, Generic[R]):
    """One client call, whose result is an ``R``."""

    __slots__ = ()

    @abstractmethod
    def run(self, engine: Engine, org_id: str) -> R:
        """Carry the operation out in-process, for organisation `org_id`."""

    @abstractmethod
    def http(self) -> HttpPlan[R]:
        """The requests that carry it out against a memtrace server (no I/O happens here)."""


# ------------------------------------------------------------------ memories


@dataclass(frozen=True, slots=True)
class AddMemory(Operation[Memory]):
    """Store one memory; `ConflictError` if an identical one was stored within the dedup window."""

    req: AddMemoryRequest

    def run(self, engine: Engine, org_id: str) -> Memory:
        return engine.add_memory(org_id, self.req)

    def http(self) -> HttpPlan[Memory]:
        require(self.req, AddMemoryRequest, "request")
        reply = yield HttpRequest("POST", _MEMORIES, content=body(self.req))
        return reply.model(Memory)


class _BatchResponse(BaseModel):
    memories: list[Memory]
    count: int = 0
    skipped: int = 0
    skipped_indexes: list[int] = []


_REQUESTS = TypeAdapter(list[AddMemoryRequest])


@dataclass(frozen=True, slots=True)
class AddMemories(Operation[BatchResult]):
    """Store a batch atomically; duplicates are skipped and counted in the result's `skipped`."""

    reqs: list[AddMemoryRequest]

    def run(self, engine: Engine, org_id: str) -> BatchResult:
        return engine.add_memories(org_id, self.reqs)

    def http(self) -> HttpPlan[BatchResult]:
        reqs = self.reqs
        if not isinstance(reqs, Sequence) or isinstance(reqs, (str, bytes)):
            raise ValidationError("memories: expected a list of memories", "memories")
        for i, req in enumerate(reqs):
            require(req, AddMemoryRequest, f"memories[{i}]")
        content = b'{"memories":' + _REQUESTS.dump_json(list(reqs), exclude_none=True) + b"}"
        reply = yield HttpRequest("POST", _MEMORIES, content=content)
        data = reply.model(_BatchResponse)
        return BatchResult(data.memories, skipped=data.skipped, skipped_indexes=data.skipped_indexes)


@dataclass(frozen=True, slots=True)
class ListMemories(Operation[MemoryList]):
    """Memories matching `opts`, newest first unless `opts.order` says otherwise (at most 100 unless
    `opts.limit` says otherwise); `has_more` tells whether a further page exists."""

    opts: ListOptions | None = None

    def run(self, engine: Engine, org_id: str) -> MemoryList:
        return engine.list_memories(org_id, self.opts or ListOptions())

    def http(self) -> HttpPlan[MemoryList]:
        reply = yield HttpRequest("GET", _MEMORIES, params=list_params(self.opts or ListOptions()))
        return reply.model(MemoryList)


@dataclass(frozen=True, slots=True)
class SearchMemories(Operation[SearchResult]):
    """Filtered search; ranked by keyword relevance when `q.query` is set."""

    q: SearchQuery

    def run(self, engine: Engine, org_id: str) -> SearchResult:
        return engine.search_memories(org_id, self.q)

    def http(self) -> HttpPlan[SearchResult]:
        require(self.q, SearchQuery, "query")
        reply = yield HttpRequest("POST", "/api/v1/search", content=body(self.q))
        return reply.model(SearchResult)


@dataclass(frozen=True, slots=True)
class GetMemory(Operation[Memory]):
    """(extension) A memory by id; `NotFoundError` if it does not exist."""

    memory_id: str

    def run(self, engine: Engine, org_id: str) -> Memory:
        return engine.get_memory(org_id, self.memory_id)

    def http(self) -> HttpPlan[Memory]:
        reply = yield HttpRequest("GET", f"{_MEMORIES}/{segment(self.memory_id, 'memory_id')}")
        return reply.model(Memory)


@dataclass(frozen=True, slots=True)
class DeleteMemory(Operation[None]):
    """(extension) Delete a memory by id; `NotFoundError` if it does not exist."""

    memory_id: str

    def run(self, engine: Engine, org_id: str) -> None:
        engine.delete_memory(org_id, self.memory_id)

    def http(self) -> HttpPlan[None]:
        reply = yield HttpRequest("DELETE", f"{_MEMORIES}/{segment(self.memory_id, 'memory_id')}")
        reply.raise_for_status()


class _Deleted(BaseModel):
    deleted: int


@dataclass(frozen=True, slots=True)
class DeleteMemories(Operation[int]):
    """(extension) Delete every memory matching all given filters, atomically; return how many.

    At least one of agent_id, session_id, since, until or memory_ids is required; memory_type, event_type
    and tags (whole tags, ANDed) narrow further. `memory_ids` deletes up to 1,000 memories by id at once.
    """

    _: KW_ONLY
    agent_id: str | None = None
    session_id: str | None = None
    since: str | None = None
    until: str | None = None
    memory_type: str | None = None
    event_type: str | None = None
    tags: str | list[str] | None = None
    memory_ids: list[str] | None = None

    def filters(self) -> dict[str, Any]:
        """The filters given (only those travel, so an older server sees the calls it knows)."""
        names = (
            "agent_id",
            "session_id",
            "since",
            "until",
            "memory_type",
            "event_type",
            "tags",
            "memory_ids",
        )
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def run(self, engine: Engine, org_id: str) -> int:
        return engine.delete_memories(org_id, **self.filters())

    def http(self) -> HttpPlan[int]:
        given = self.filters()
        if self.memory_ids is not None:
            # Up to 1,000 ids do not belong in a URL: the server takes the same filters as a JSON body.
            try:
                content = json_body(given, "memory_ids")
            except ValidationError:
                raise ValidationError("memory_ids: a list of memory ids", "memory_ids") from None
            reply = yield HttpRequest("DELETE", _MEMORIES, content=content)
        else:
            if isinstance(given.get("tags"), list):
                given["tags"] = ",".join(given["tags"])
            params = {k: v for k, v in given.items() if v != ""}
            reply = yield HttpRequest("DELETE", _MEMORIES, params=params)
        return reply.model(_Deleted).deleted


@dataclass(frozen=True, slots=True)
class Forget(Operation[ForgetReceipt]):
    """(extension) Forget a subject: every memory of an agent, a session, or a filter (tags, time, ids), and for
    a whole agent or session its sessions and registration too. Returns the receipt of what was removed.

    At least one condition is required; the conditions given are ANDed. Runs in bounded batches (see
    `memtrace.forget`): if it is interrupted, call it again with the same subject to finish.
    """

    _: KW_ONLY
    agent_id: str | None = None
    session_id: str | None = None
    tags: list[str] | str | None = None
    since: str | None = None
    until: str | None = None
    memory_ids: list[str] | None = None

    def conditions(self) -> dict[str, Any]:
        """The conditions given (only those travel). Not validated here: the engine checks every field and
        names the one that is wrong."""
        names = ("agent_id", "session_id", "tags", "since", "until", "memory_ids")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def run(self, engine: Engine, org_id: str) -> ForgetReceipt:
        return engine.forget(org_id, ForgetRequest.model_construct(**self.conditions()))

    def http(self) -> HttpPlan[ForgetReceipt]:
        reply = yield HttpRequest("POST", _FORGET, content=json_body(self.conditions(), "filter"))
        return reply.model(ForgetReceipt)


# ------------------------------------------------------------------ facts


@dataclass(frozen=True, slots=True)
class GetFact(Operation[Memory]):
    """(extension) The current memory of fact `key` (e.g. ``user:ada/city``); `NotFoundError` if it has none."""

    key: str

    def run(self, engine: Engine, org_id: str) -> Memory:
        return engine.get_fact(org_id, self.key)

    def http(self) -> HttpPlan[Memory]:
        reply = yield HttpRequest("GET", f"{_FACTS}/{segment(self.key, 'key')}")
        return reply.model(Memory)


@dataclass(frozen=True, slots=True)
class FactHistory(Operation[MemoryList]):
    """(extension) Every version of fact `key`, in the order they were valid (the current one last)."""

    key: str
    _: KW_ONLY
    limit: int | None = None
    offset: int | None = None

    def run(self, engine: Engine, org_id: str) -> MemoryList:
        return engine.fact_history(org_id, self.key, limit=self.limit, offset=self.offset)

    def http(self) -> HttpPlan[MemoryList]:
        params = {k: v for k, v in (("limit", self.limit), ("offset", self.offset)) if v is not None}
        reply = yield HttpRequest("GET", f"{_FACTS}/{segment(self.key, 'key')}/history", params=params)
        return reply.model(MemoryList)


@dataclass(frozen=True, slots=True)
class ListFacts(Operation[MemoryList]):
    """(extension) The current facts (keyed memories), newest first: of one agent, whose key starts with
    `prefix`, or as they were at `as_of` (relative or ISO-8601)."""

    _: KW_ONLY
    prefix: str | None = None
    agent_id: str | None = None
    as_of: str | None = None
    limit: int | None = None
    offset: int | None = None

    def run(self, engine: Engine, org_id: str) -> MemoryList:
        return engine.list_facts(
            org_id,
            prefix=self.prefix,
            agent_id=self.agent_id,
            as_of=self.as_of,
            limit=self.limit,
            offset=self.offset,
        )

    def http(self) -> HttpPlan[MemoryList]:
        names = ("prefix", "agent_id", "as_of", "limit", "offset")
        params = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        reply = yield HttpRequest("GET", _FACTS, params=params)
        return reply.model(MemoryList)


# ------------------------------------------------------------------ agents


@dataclass(frozen=True, slots=True)
class RegisterAgent(Operation[Agent]):
    """Register an agent (optional: memories may name any agent id)."""

    req: RegisterAgentRequest

    def run(self, engine: Engine, org_id: str) -> Agent:
        return engine.register_agent(org_id, self.req)

    def http(self) -> HttpPlan[Agent]:
        require(self.req, RegisterAgentRequest, "request")
        reply = yield HttpRequest("POST", _AGENTS, content=body(self.req))
        return reply.model(Agent)


@dataclass(frozen=True, slots=True)
class ListAgents(Operation[AgentList]):
    """The registered agents."""

    def run(self, engine: Engine, org_id: str) -> AgentList:
        return engine.list_agents(org_id)

    def http(self) -> HttpPlan[AgentList]:
        reply = yield HttpRequest("GET", _AGENTS)
        return reply.model(AgentList)


@dataclass(frozen=True, slots=True)
class GetAgent(Operation[Agent]):
    """A registered agent by id or by name."""

    agent_id: str

    def run(self, engine: Engine, org_id: str) -> Agent:
        return engine.get_agent(org_id, self.agent_id)

    def http(self) -> HttpPlan[Agent]:
        reply = yield HttpRequest("GET", f"{_AGENTS}/{segment(self.agent_id, 'agent_id')}")
        return reply.model(Agent)


@dataclass(frozen=True, slots=True)
class GetAgentStats(Operation[AgentStats]):
    """Counts for an agent: memories (all, last 24 h, errors), sessions, types."""

    agent_id: str

    def run(self, engine: Engine, org_id: str) -> AgentStats:
        return engine.get_agent_stats(org_id, self.agent_id)

    def http(self) -> HttpPlan[AgentStats]:
        reply = yield HttpRequest("GET", f"{_AGENTS}/{segment(self.agent_id, 'agent_id')}/stats")
        return reply.model(AgentStats)


@dataclass(frozen=True, slots=True)
class GetAgentMemories(Operation[MemoryList]):
    """The agent's memories (last 24 h unless `opts.since` is given)."""

    agent_id: str
    opts: ListOptions | None = None

    def run(self, engine: Engine, org_id: str) -> MemoryList:
        return engine.get_agent_memories(org_id, self.agent_id, self.opts)

    def http(self) -> HttpPlan[MemoryList]:
        path = f"{_AGENTS}/{segment(self.agent_id, 'agent_id')}/memories"
        reply = yield HttpRequest("GET", path, params=list_params(self.opts, drop="agent_id"))
        return reply.model(MemoryList)


@dataclass(frozen=True, slots=True)
class DeleteAgent(Operation[None]):
    """Delete a registered agent by id. Its memories stay (delete them with `delete_memories`)."""

    agent_id: str

    def run(self, engine: Engine, org_id: str) -> None:
        engine.delete_agent(org_id, self.agent_id)

    def http(self) -> HttpPlan[None]:
        if not isinstance(self.agent_id, str) or self.agent_id == "":
            raise NotFoundError("agent not found")  # as the engine answers: no agent has that id
        reply = yield HttpRequest("DELETE", f"{_AGENTS}/{segment(self.agent_id, 'agent_id')}")
        reply.raise_for_status()


# ------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class CreateSession(Operation[Session]):
    """Open a session (for any agent id; `req.id` picks its id).

    With ``exist_ok=True`` and `req.id` given, a session that already exists is returned as it is instead of
    raising `ConflictError`: safe when several processes race to create the same session."""

    req: CreateSessionRequest
    _: KW_ONLY
    exist_ok: bool = False

    def _existing(self) -> str | None:
        # Only a caller-chosen id can already exist.
        return self.req.id if self.exist_ok and isinstance(self.req.id, str) and self.req.id else None

    def run(self, engine: Engine, org_id: str) -> Session:
        try:
            return engine.create_session(org_id, self.req)
        except ConflictError:
            session_id = self._existing()
            if session_id is None:
                raise
            try:
                return engine.get_session(org_id, session_id)
            except NotFoundError:
                raise ConflictError(f"session '{session_id}' already exists") from None

    def http(self) -> HttpPlan[Session]:
        require(self.req, CreateSessionRequest, "request")
        reply = yield HttpRequest("POST", _SESSIONS, content=body(self.req))
        session_id = self._existing()
        if reply.status == 409 and session_id is not None:
            existing = yield HttpRequest("GET", f"{_SESSIONS}/{segment(session_id, 'session_id')}")
            if existing.status != 404:
                return existing.model(Session)
        return reply.model(Session)


@dataclass(frozen=True, slots=True)
class GetSession(Operation[Session]):
    """A session by id; `NotFoundError` if it was never created."""

    session_id: str

    def run(self, engine: Engine, org_id: str) -> Session:
        return engine.get_session(org_id, self.session_id)

    def http(self) -> HttpPlan[Session]:
        reply = yield HttpRequest("GET", f"{_SESSIONS}/{segment(self.session_id, 'session_id')}")
        return reply.model(Session)


@dataclass(frozen=True, slots=True)
class GetSessionContext(Operation[SessionContext]):
    """The session as LLM-ready markdown, within `opts.max_tokens` when given."""

    session_id: str
    opts: ContextOptions | None = None

    def run(self, engine: Engine, org_id: str) -> SessionContext:
        return engine.get_session_context(org_id, self.session_id, self.opts)

    def http(self) -> HttpPlan[SessionContext]:
        if self.opts is not None:
            require(self.opts, ContextOptions, "opts")
        path = f"{_SESSIONS}/{segment(self.session_id, 'session_id')}/context"
        content = body(self.opts) if self.opts is not None else b"{}"
        reply = yield HttpRequest("POST", path, content=content)
        return reply.model(SessionContext)


@dataclass(frozen=True, slots=True)
class GetSessionMemories(Operation[MemoryList]):
    """The memories of a session (one that was created, or that any memory names)."""

    session_id: str
    opts: ListOptions | None = None

    def run(self, engine: Engine, org_id: str) -> MemoryList:
        return engine.get_session_memories(org_id, self.session_id, self.opts)

    def http(self) -> HttpPlan[MemoryList]:
        path = f"{_SESSIONS}/{segment(self.session_id, 'session_id')}/memories"
        reply = yield HttpRequest("GET", path, params=list_params(self.opts, drop="session_id"))
        return reply.model(MemoryList)


@dataclass(frozen=True, slots=True)
class ListSessions(Operation[SessionList]):
    """The sessions, of one agent when `agent_id` is given."""

    agent_id: str | None = None

    def run(self, engine: Engine, org_id: str) -> SessionList:
        return engine.list_sessions(org_id, self.agent_id)

    def http(self) -> HttpPlan[SessionList]:
        reply = yield HttpRequest(
            "GET", _SESSIONS, params={"agent_id": self.agent_id} if self.agent_id else {}
        )
        return reply.model(SessionList)


@dataclass(frozen=True, slots=True)
class UpdateSession(Operation[Session]):
    """(extension) Set a session's status and/or replace its metadata."""

    session_id: str
    _: KW_ONLY
    status: str | None = None
    metadata: dict[str, Any] | None = None

    def run(self, engine: Engine, org_id: str) -> Session:
        return engine.update_session(org_id, self.session_id, status=self.status, metadata=self.metadata)

    def http(self) -> HttpPlan[Session]:
        data: dict[str, Any] = {}
        if self.status is not None:
            data["status"] = self.status
        if self.metadata is not None:
            data["metadata"] = self.metadata
        content = json_body(data, "metadata")
        path = f"{_SESSIONS}/{segment(self.session_id, 'session_id')}"
        reply = yield HttpRequest("PUT", path, content=content)
        return reply.model(Session)


@dataclass(frozen=True, slots=True)
class CloseSession(Operation[Session]):
    """Mark a session closed (sets `closed_at`)."""

    session_id: str

    def run(self, engine: Engine, org_id: str) -> Session:
        return engine.close_session(org_id, self.session_id)

    def http(self) -> HttpPlan[Session]:
        return UpdateSession(self.session_id, status="closed").http()


# ------------------------------------------------------------------ export and import


@dataclass(frozen=True, slots=True)
class ExportMemories(Operation[ExportSummary]):
    """(extension) Write the organisation, or the part `options` selects, to `dest` (a path, or a binary file
    open for writing) as a JSON Lines export file; the counts written. Needs an admin key on a server.

    A path is written whole or not at all (``<dest>.partial`` is renamed when complete). `progress` is called
    as chunks are written. The format is in docs/lifecycle.md."""

    dest: Destination
    options: ExportOptions | None = None
    _: KW_ONLY
    progress: Callable[[ExportSummary], None] | None = None

    def run(self, engine: Engine, org_id: str) -> ExportSummary:
        chunks = engine.export_memories(org_id, self.options)  # a bad filter fails before a file is made
        with open_destination(self.dest) as out:
            writer = ExportWriter(out, self.progress)
            for chunk in chunks:
                writer.write(chunk)
            return writer.summary()

    def http(self) -> HttpPlan[ExportSummary]:
        return export_plan(self.dest, self.options, self.progress)


@dataclass(frozen=True, slots=True)
class ImportMemories(Operation[ImportReport]):
    """(extension) Import an export file (a path, a binary file open for reading, or its bytes) into the
    organisation, with the memories' own ids and times; memories it already holds are skipped, so importing a
    file again adds nothing. Needs an admin key on a server.

    Committed in batches: a bad line (or a truncated file) raises `ImportFailed` naming the line, with
    `.report`, what was imported before it; import the fixed file again to finish. `progress(report, bytes)`
    is called after each batch."""

    source: Source
    _: KW_ONLY
    progress: Progress | None = None

    def run(self, engine: Engine, org_id: str) -> ImportReport:
        with open_source(self.source) as lines:
            return engine.import_memories(org_id, lines, progress=self.progress)

    def http(self) -> HttpPlan[ImportReport]:
        return import_plan(self.source, self.progress)


# ------------------------------------------------------------------ conveniences (memtrace-sdk 0.2.0)


def remember(agent_id: str, content: str, ttl: str | None = None) -> AddMemory:
    """Store an episodic memory; (extension) with `ttl` (``30m``, ``7d``) it expires that long from now."""
    return AddMemory(AddMemoryRequest(agent_id=agent_id, content=content, ttl=ttl))


def recall(agent_id: str, since: str = "24h") -> ListMemories:
    """The agent's memories since `since` (relative or ISO-8601), newest first, at most 100."""
    return ListMemories(ListOptions(agent_id=agent_id, since=since, limit=100, order="desc"))


def decide(agent_id: str, decision: str, reasoning: str) -> AddMemory:
    """Record a decision with its reasoning."""
    return AddMemory(
        AddMemoryRequest(
            agent_id=agent_id,
            content=decision,
            memory_type="decision",
            event_type="decision",
            metadata={"reasoning": reasoning},
        )
    )


__all__ = [
    "AddMemories",
    "AddMemory",
    "CloseSession",
    "CreateSession",
    "DeleteAgent",
    "DeleteMemories",
    "DeleteMemory",
    "ExportMemories",
    "FactHistory",
    "Forget",
    "GetAgent",
    "GetAgentMemories",
    "GetAgentStats",
    "GetFact",
    "GetMemory",
    "GetSession",
    "GetSessionContext",
    "GetSessionMemories",
    "ImportMemories",
    "ListAgents",
    "ListFacts",
    "ListMemories",
    "ListSessions",
    "Operation",
    "RegisterAgent",
    "SearchMemories",
    "UpdateSession",
    "decide",
    "recall",
    "remember",
]
