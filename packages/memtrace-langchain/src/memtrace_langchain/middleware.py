"""`MemtraceHistoryMiddleware`: conversation memory for LangChain 1.x agents (`create_agent`), kept in memtrace.

LangChain 1.x gives an agent its conversation through the graph's state, keyed by ``thread_id`` (its
short-term memory), instead of the deprecated `RunnableWithMessageHistory`. This middleware fills that state
from memtrace before the agent runs and writes the turn's new messages back afterwards, so a conversation
survives restarts and is shared by every process on the same data directory or server, with every message
searchable as a memtrace memory. The messages are stored exactly as `MemtraceChatMessageHistory` stores them.
"""

from __future__ import annotations

from typing import Any, NotRequired

from langchain.agents.middleware import AgentMiddleware, AgentState
from langchain_core.messages import BaseMessage, RemoveMessage
from langgraph.config import get_config
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime

from memtrace import Memtrace, check_id
from memtrace.bridge import AnyMemtrace, check_client

from .chat_history import MemtraceChatMessageHistory


class MemtraceHistoryState(AgentState):
    """The agent state, plus how many of its messages came from (so are already in) memtrace."""

    memtrace_history_length: NotRequired[int]


class MemtraceHistoryMiddleware(AgentMiddleware[MemtraceHistoryState]):
    """Persistent conversation memory for ``create_agent``, by ``thread_id``.

    Example:
        ```python
        agent = create_agent(model, tools, middleware=[MemtraceHistoryMiddleware(client)])
        agent.invoke({"messages": [("user", "Hi, I'm Ada")]}, {"configurable": {"thread_id": "ada@example.com"}})
        ```

    Before the agent runs, the thread's earlier messages are put in front of the new input; after it ran, the
    turn's new messages (input, tool calls and results, answers) are stored in one write. A run without a
    ``thread_id`` keeps no memory. Use it instead of a checkpointer for the conversation (with both, the
    checkpointer's copy of the history would be doubled).

    Args:
        client: A `memtrace.Memtrace` or `memtrace.AsyncMemtrace` (sync and async agents work with either).
            Default: `memtrace.Memtrace.from_env()`.
        agent_id: The memtrace agent the messages belong to.
    """

    state_schema = MemtraceHistoryState

    def __init__(self, client: AnyMemtrace | None = None, *, agent_id: str = "langchain") -> None:
        super().__init__()
        self.client = check_client(
            Memtrace.from_env() if client is None else client, "MemtraceHistoryMiddleware"
        )
        self.agent_id = check_id(agent_id, "agent_id")

    def _history(self) -> MemtraceChatMessageHistory | None:
        thread = (get_config().get("configurable") or {}).get("thread_id")
        if thread is None:
            return None
        return MemtraceChatMessageHistory(str(thread), client=self.client, agent_id=self.agent_id)

    @staticmethod
    def _with_history(state: MemtraceHistoryState, earlier: list[BaseMessage]) -> dict[str, Any] | None:
        if not earlier:
            return {"memtrace_history_length": 0}
        return {
            "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *earlier, *state["messages"]],
            "memtrace_history_length": len(earlier),
        }

    @staticmethod
    def _new_messages(state: MemtraceHistoryState) -> list[BaseMessage]:
        return list(state["messages"][state.get("memtrace_history_length", 0) :])

    def before_agent(self, state: MemtraceHistoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        history = self._history()
        return None if history is None else self._with_history(state, history.messages)

    async def abefore_agent(
        self, state: MemtraceHistoryState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        history = self._history()
        return None if history is None else self._with_history(state, await history.aget_messages())

    def after_agent(self, state: MemtraceHistoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        history = self._history()
        if history is not None:
            history.add_messages(self._new_messages(state))
        return None

    async def aafter_agent(self, state: MemtraceHistoryState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        history = self._history()
        if history is not None:
            await history.aadd_messages(self._new_messages(state))
        return None


__all__ = ["MemtraceHistoryMiddleware", "MemtraceHistoryState"]
