"""A deterministic benchmark dataset with the shape of real agent memory (issue 10).

- 100 agents and 1,000 sessions (each session belongs to one agent; sizes are skewed, a few are large);
- the four memory types, each with its own event types (about 3% of memories are errors);
- 0-3 tags from a fixed set, an importance for most memories, metadata on some (decisions carry reasoning);
- contents of 50 to 2,000 characters (log-normal, median about 200) written as sentences drawn from an English
  vocabulary with Zipf word frequencies, so keyword search sees a realistic mix of common and rare words;
- timestamps spread over the 30 days before an anchor time, yielded in time order (how memories arrive).

A few "context sessions" hold exactly `context_session_size` (500) memories inside the last 24 hours, so
`get_session_context` (which reads the last 24 h by default) has a 500-memory session to render at any size.

Same seed, same size, same anchor: the same memories, byte for byte. The anchor defaults to now so the data
is "recent" when loaded; the offsets from it are what the seed decides.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

AGENTS = 100
SESSIONS = 1_000
DAYS = 30
MIN_CONTENT = 50
MAX_CONTENT = 2_000
CONTEXT_SESSION_SIZE = 500
DEFAULT_SEED = 20_260_207

CONTENT_ZIPF_S = 0.8
"""Zipf exponent of content words: the most common ("user") is ~6% of content words, rare ones far below."""

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000

# (memory_type, share, event types with their shares)
TYPE_MIX: tuple[tuple[str, float, tuple[tuple[str, float], ...]], ...] = (
    (
        "episodic",
        0.55,
        (
            ("tool_call", 0.30),
            ("observation", 0.25),
            ("page_crawled", 0.15),
            ("api_request", 0.15),
            ("task_completed", 0.10),
            ("error", 0.05),
        ),
    ),
    ("session", 0.25, (("user_message", 0.5), ("assistant_message", 0.5))),
    ("decision", 0.10, (("decision", 0.7), ("plan", 0.3))),
    ("entity", 0.10, (("entity_update", 0.6), ("fact", 0.4))),
)

TAGS = (
    "billing", "onboarding", "support", "urgent", "followup", "research", "pricing", "security", "infra",
    "deploy", "database", "frontend", "backend", "customer", "internal", "experiment", "bug", "feature",
    "docs", "legal", "sales", "marketing", "ops", "analytics", "mobile", "api", "email", "calendar",
    "travel", "finance",
)  # fmt: skip

# Function words: very frequent, and what real prose is mostly made of.
FUNCTION_WORDS = (
    "the", "a", "an", "and", "or", "but", "to", "of", "in", "on", "for", "with", "at", "by", "from", "as",
    "is", "was", "are", "were", "be", "been", "has", "had", "have", "it", "this", "that", "these", "they",
    "we", "you", "he", "she", "not", "no", "so", "then", "than", "after", "before", "when", "while", "if",
    "because", "about", "into", "over", "under", "again", "still", "also", "just", "very", "more", "most",
    "some", "all", "any", "each", "our", "their", "its", "which", "who", "what", "there", "here",
)  # fmt: skip

# Content words, most common first (Zipf rank order): the words searches are made of.
CONTENT_WORDS: tuple[str, ...] = (
    "user", "agent", "task", "request", "customer", "data", "time", "file", "report", "email", "meeting",
    "update", "issue", "error", "result", "page", "order", "account", "service", "system", "project", "team",
    "message", "price", "plan", "question", "answer", "note", "change", "list", "search", "document", "review",
    "payment", "invoice", "ticket", "server", "database", "query", "deploy", "release", "build", "test",
    "feature", "bug", "fix", "schedule", "calendar", "budget", "contract", "product", "feedback", "support",
    "ask", "check", "send", "open", "close", "create", "delete", "find", "read", "write", "call", "reply",
    "confirm", "cancel", "approve", "reject", "retry", "wait", "start", "finish", "compare", "summarize",
    "prefers", "wants", "needs", "likes", "asked", "noticed", "decided", "reported", "completed", "failed",
    "returned", "timeout", "latency", "memory", "cache", "index", "token", "session", "context", "model",
    "prompt", "response", "tool", "workflow", "pipeline", "job", "queue", "worker", "batch", "stream",
    "dashboard", "chart", "metric", "alert", "incident", "outage", "backup", "restore", "migration", "schema",
    "table", "column", "record", "field", "value", "config", "setting", "option", "mode", "dark", "light",
    "theme", "language", "english", "german", "french", "spanish", "japanese", "translation", "summary",
    "draft", "proposal", "quote", "discount", "refund", "shipping", "delivery", "address", "warehouse",
    "inventory", "supplier", "vendor", "partner", "client", "lead", "deal", "pipeline", "quarter", "revenue",
    "forecast", "growth", "churn", "retention", "signup", "trial", "subscription", "renewal", "upgrade",
    "downgrade", "license", "seat", "workspace", "folder", "permission", "role", "admin", "password", "login",
    "logout", "session", "cookie", "browser", "mobile", "desktop", "android", "iphone", "tablet", "screen",
    "button", "form", "link", "image", "video", "audio", "upload", "download", "export", "import", "sync",
    "conflict", "merge", "branch", "commit", "review", "approval", "deadline", "priority", "estimate",
    "sprint", "milestone", "roadmap", "goal", "risk", "blocker", "dependency", "vendor", "legal", "policy",
    "compliance", "audit", "security", "encryption", "certificate", "domain", "dns", "network", "firewall",
    "gateway", "proxy", "endpoint", "webhook", "integration", "slack", "github", "jira", "notion", "salesforce",
    "stripe", "postgres", "redis", "kafka", "kubernetes", "docker", "terraform", "python", "javascript",
    "rust", "golang", "typescript", "react", "flight", "hotel", "booking", "itinerary", "visa", "passport",
    "airport", "train", "taxi", "restaurant", "reservation", "dinner", "lunch", "breakfast", "coffee",
    "vegetarian", "allergy", "birthday", "anniversary", "gift", "holiday", "vacation", "weekend", "monday",
    "tuesday", "wednesday", "thursday", "friday", "morning", "afternoon", "evening", "tomorrow", "yesterday",
    "week", "month", "year", "berlin", "london", "paris", "tokyo", "york", "austin", "seattle", "toronto",
    "sydney", "singapore", "amsterdam", "madrid", "weather", "rain", "sunny", "temperature", "forecast",
    "recipe", "grocery", "apartment", "lease", "mortgage", "insurance", "doctor", "appointment", "dentist",
    "prescription", "gym", "running", "marathon", "bicycle", "guitar", "piano", "novel", "podcast", "movie",
    "playlist", "concert", "ticket", "museum", "exhibition", "conference", "talk", "slides", "workshop",
    "course", "lesson", "homework", "exam", "grade", "thesis", "paper", "citation", "experiment", "hypothesis",
    "dataset", "benchmark", "accuracy", "precision", "recall", "throughput", "regression", "anomaly",
    "threshold", "spike", "drift", "rollback", "hotfix", "patch", "version", "changelog", "deprecation",
    "customer_success", "onboarding", "tutorial", "walkthrough", "faq", "escalation", "sla", "uptime",
    "capacity", "scaling", "cluster", "replica", "shard", "partition", "snapshot", "retention", "archive",
    "compression", "storage", "bucket", "region", "zone", "cost", "bill", "credit", "balance", "transfer",
    "wire", "bank", "card", "fraud", "dispute", "chargeback", "receipt", "tax", "vat", "payroll", "salary",
    "hiring", "candidate", "interview", "offer", "onsite", "resume", "reference", "manager", "engineer",
    "designer", "analyst", "director", "founder", "investor", "board", "pitch", "valuation", "term",
    "sheet", "quarterly", "annual", "okr", "kpi", "nps", "survey", "persona", "segment", "campaign",
    "newsletter", "landing", "conversion", "funnel", "traffic", "seo", "keyword", "ranking", "competitor",
    "pricing", "tier", "enterprise", "startup", "nonprofit", "government", "hospital", "school", "university",
)  # fmt: skip
CONTENT_WORDS = tuple(dict.fromkeys(CONTENT_WORDS))  # the list above repeats a few words; rank once each


def _zipf_cum_weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


@dataclass(slots=True)
class MemorySpec:
    """One generated memory: the fields a client sends. `time_us` is UTC microseconds."""

    agent_id: str
    session_id: str | None
    memory_type: str
    event_type: str
    content: str
    tags: list[str] | None
    importance: float | None
    metadata: dict[str, Any] | None
    time_us: int

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.time_us / 1_000_000, tz=UTC)

    def to_request(self) -> Any:
        """A `memtrace.AddMemoryRequest` (imported here so the generator itself needs no memtrace)."""
        from memtrace import AddMemoryRequest

        return AddMemoryRequest(
            agent_id=self.agent_id,
            session_id=self.session_id,
            memory_type=self.memory_type,
            event_type=self.event_type,
            content=self.content,
            tags=self.tags,
            importance=self.importance,
            metadata=self.metadata,
            time=self.time,
        )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body of `POST /api/v1/memories` for this memory."""
        body: dict[str, Any] = {
            "agent_id": self.agent_id,
            "memory_type": self.memory_type,
            "event_type": self.event_type,
            "content": self.content,
            "time": self.time.isoformat().replace("+00:00", "Z"),
        }
        if self.session_id is not None:
            body["session_id"] = self.session_id
        if self.tags:
            body["tags"] = self.tags
        if self.importance is not None:
            body["importance"] = self.importance
        if self.metadata is not None:
            body["metadata"] = self.metadata
        return body


@dataclass(frozen=True)
class DatasetShape:
    """What a generated dataset contains, for the benchmarks' correctness checks and query choices."""

    size: int
    seed: int
    anchor_us: int
    agents: tuple[str, ...]
    sessions: tuple[str, ...]
    session_owner: dict[str, str]
    context_sessions: tuple[str, ...]
    context_session_size: int


def agent_ids() -> tuple[str, ...]:
    return tuple(f"agent_{i:03d}" for i in range(AGENTS))


def session_ids() -> tuple[str, ...]:
    return tuple(f"sess_{i:04d}" for i in range(SESSIONS))


class Dataset:
    """`size` memories, deterministic by `seed` (and `anchor_us`, default now). Iterate to get them in time
    order; `batches(k)` yields lists of k. Generation is lazy: a million memories are never all in memory."""

    def __init__(self, size: int, *, seed: int = DEFAULT_SEED, anchor_us: int | None = None) -> None:
        if size < 1:
            raise ValueError("size must be positive")
        self.size = size
        self.seed = seed
        if anchor_us is None:
            now = datetime.now(UTC)
            anchor_us = int(now.timestamp()) * 1_000_000
        self.anchor_us = anchor_us
        agents = agent_ids()
        sessions = session_ids()
        # One context session per 10k memories (at least 1, at most 10), each 500 memories; tiny datasets
        # (tests) get one smaller context session so the shape still holds.
        n_ctx = max(1, min(10, size // 10_000))
        ctx_size = min(CONTEXT_SESSION_SIZE, max(1, size // (4 * n_ctx)))
        self.shape = DatasetShape(
            size=size,
            seed=seed,
            anchor_us=anchor_us,
            agents=agents,
            sessions=sessions,
            session_owner={s: agents[i % AGENTS] for i, s in enumerate(sessions)},
            context_sessions=tuple(sessions[:n_ctx]),
            context_session_size=ctx_size,
        )

    def __len__(self) -> int:
        return self.size

    def _timeline(self, rng: random.Random) -> list[tuple[int, int]]:
        """(time_us, context session index or -1), sorted by time: every memory's slot."""
        shape = self.shape
        n_ctx = len(shape.context_sessions)
        slots: list[tuple[int, int]] = []
        # Context sessions: spread over the 6 hours before the anchor, inside get_session_context's default
        # 24 h window for 18 hours after it: a 10M load takes hours, and its reads still find all 500.
        ctx_span = 6 * HOUR_US
        for c in range(n_ctx):
            for _ in range(shape.context_session_size):
                slots.append((self.anchor_us - 60_000_000 - rng.randrange(ctx_span), c))
        background = self.size - len(slots)
        span = DAYS * DAY_US
        for _ in range(background):
            slots.append((self.anchor_us - 1 - rng.randrange(span), -1))
        slots.sort()
        return slots

    def __iter__(self) -> Iterator[MemorySpec]:
        rng = random.Random(self.seed)
        shape = self.shape
        slots = self._timeline(rng)
        n_ctx = len(shape.context_sessions)
        # Background sessions are skewed: session k has weight 1/(k+1)^0.8, so some are long, many short.
        bg_sessions = shape.sessions[n_ctx:]
        bg_cum = _zipf_cum_weights(len(bg_sessions), 0.8)
        prose = _Prose()
        type_cum = list(itertools.accumulate(share for _, share, _ in TYPE_MIX))
        events_cum = [list(itertools.accumulate(s for _, s in evs)) for _, _, evs in TYPE_MIX]
        last_time = -1
        for time_us, ctx in slots:
            # Distinct times (the clock of a real writer never repeats), still in order.
            time_us = max(time_us, last_time + 1)
            last_time = time_us
            if ctx >= 0:
                session: str | None = shape.context_sessions[ctx]
            elif rng.random() < 0.08:
                session = None
            else:
                session = rng.choices(bg_sessions, cum_weights=bg_cum)[0]
            agent = shape.session_owner[session] if session else shape.agents[rng.randrange(AGENTS)]
            t = bisect.bisect_left(type_cum, rng.random() * type_cum[-1])
            memory_type, _, events = TYPE_MIX[t]
            e = bisect.bisect_left(events_cum[t], rng.random() * events_cum[t][-1])
            event_type = events[e][0]
            content = prose.text(rng, _content_length(rng))
            n_tags = rng.choices((0, 1, 2, 3), weights=(30, 40, 20, 10))[0]
            tags = sorted(rng.sample(TAGS, n_tags)) if n_tags else None
            importance = round(rng.betavariate(2, 3), 2) if rng.random() < 0.8 else None
            metadata: dict[str, Any] | None = None
            if memory_type == "decision":
                metadata = {"reasoning": prose.text(rng, 40)}
            elif rng.random() < 0.3:
                metadata = {"source": event_type, "step": rng.randrange(1, 50)}
            yield MemorySpec(
                agent_id=agent,
                session_id=session,
                memory_type=memory_type,
                event_type=event_type,
                content=content,
                tags=tags,
                importance=importance,
                metadata=metadata,
                time_us=time_us,
            )

    def batches(self, batch_size: int) -> Iterator[list[MemorySpec]]:
        it = iter(self)
        while batch := list(itertools.islice(it, batch_size)):
            yield batch


class _Prose:
    """Sentences of words drawn from one mixed vocabulary: function words take `FUNCTION_SHARE` of the draws,
    each group with its own Zipf frequencies. One `choices` call per memory keeps a million memories cheap."""

    FUNCTION_SHARE = 0.45

    def __init__(self) -> None:
        fw = _zipf_cum_weights(len(FUNCTION_WORDS), 1.0)
        cw = _zipf_cum_weights(len(CONTENT_WORDS), CONTENT_ZIPF_S)
        f_scale = self.FUNCTION_SHARE / fw[-1]
        c_scale = (1 - self.FUNCTION_SHARE) / cw[-1]
        self.words = FUNCTION_WORDS + CONTENT_WORDS
        self.cum = [w * f_scale for w in fw] + [self.FUNCTION_SHARE + w * c_scale for w in cw]

    def text(self, rng: random.Random, target: int) -> str:
        """Whole sentences until at least `target` characters (cut at a word boundary at `MAX_CONTENT`)."""
        # ~6.3 characters per word with its space; draw a little more than needed in one call.
        words = rng.choices(self.words, cum_weights=self.cum, k=target // 5 + 12)
        sentences: list[str] = []
        length = -1
        pos = 0
        while length < target:
            n = rng.randrange(6, 19)
            chunk = words[pos : pos + n]
            pos += n
            if len(chunk) < n:  # ran out: draw more (rare, for word-length outliers)
                chunk += rng.choices(self.words, cum_weights=self.cum, k=n - len(chunk))
            sentence = " ".join(chunk).capitalize() + "."
            sentences.append(sentence)
            length += len(sentence) + 1
        text = " ".join(sentences)
        if len(text) > MAX_CONTENT:
            text = text[:MAX_CONTENT].rsplit(" ", 1)[0]
        return text


def _content_length(rng: random.Random) -> int:
    # Log-normal lengths: median 200 characters, a long tail, clipped to [50, 2000].
    return min(MAX_CONTENT, max(MIN_CONTENT, round(math.exp(rng.gauss(math.log(200), 0.8)))))


def search_queries(seed: int, count: int, words_per_query: int = 2) -> list[str]:
    """`count` keyword queries of `words_per_query` distinct content words, each word equally likely (every
    topic is as likely to be searched as any other, so common and rare words both appear), deterministic by
    `seed`."""
    rng = random.Random(seed)
    return [" ".join(rng.sample(CONTENT_WORDS, words_per_query)) for _ in range(count)]


COMMON_QUERY_WORDS = CONTENT_WORDS[11:22]
"""Content words each found in about a fifth of all memories ("update" 27% ... "team" 18% at 1,000,000), as the
words of agent logs are ("deploy error billing"): the queries whose doclists are longest."""


def common_word_queries(seed: int, count: int, words_per_query: int = 3) -> list[str]:
    """`count` queries of `words_per_query` distinct words from `COMMON_QUERY_WORDS`, deterministic by `seed`:
    the other query mix of the read benchmarks (the search cost of common words, not of rare ones)."""
    rng = random.Random(seed)
    return [" ".join(rng.sample(COMMON_QUERY_WORDS, words_per_query)) for _ in range(count)]
