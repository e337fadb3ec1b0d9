"""LangChain with memtrace memory: a chat that survives restarts, memory tools, and LangGraph long-term memory.

    uv run python examples/langchain_chat.py                   # offline, scripted model, embedded memtrace
    uv run python examples/langchain_chat.py --data-dir /tmp/mt
    OPENAI_API_KEY=sk-... uv run python examples/langchain_chat.py    # a real model (needs langchain-openai)
    MEMTRACE_URL=http://127.0.0.1:9100 MEMTRACE_API_KEY=mtk_... uv run python examples/langchain_chat.py  # a server

Part 1 keeps an LCEL chat's history in memtrace (`MemtraceChatMessageHistory`) and reads it back through a
fresh client, as a restarted process would. Part 2 gives a `create_agent` agent memtrace's memory tools: in one
conversation it remembers a preference, in a later one it searches and finds it. Part 3 passes a
`MemtraceStore` as the agent's LangGraph store. Finally, memtrace renders the chat as plain-text context.
"""

from __future__ import annotations

import argparse
import os
import uuid
import warnings
from typing import Any

from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from memtrace import ContextOptions, Memtrace
from memtrace_langchain import MemtraceChatMessageHistory, MemtraceStore, memtrace_tools

warnings.filterwarnings("ignore", message=".*deprecated.*")  # RunnableWithMessageHistory is, upstream


class OfflineChatModel(BaseChatModel):
    """A scripted model: it answers from the conversation it is shown, so you can see what memory gave it."""

    @property
    def _llm_type(self) -> str:
        return "offline-scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        said = [m.text for m in messages if isinstance(m, HumanMessage)]
        names = [s.split("I'm ", 1)[1].split()[0].strip(",.") for s in said if "I'm " in s]
        if "name" in said[-1] and names:
            reply = f"(offline model) You told me your name is {names[0]}."
        else:
            reply = f"(offline model) Noted. I can see {len(messages)} message(s) of this conversation."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


class OfflineToolModel(GenericFakeChatModel):
    """Plays back scripted tool calls; `create_agent` binds tools, which needs no work offline."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> OfflineToolModel:
        return self


def real_model() -> BaseChatModel | None:
    """OpenAI's model when OPENAI_API_KEY is set and langchain-openai is installed; else None (offline)."""
    if not os.environ.get("OPENAI_API_KEY"):
        return None
    try:
        from langchain_openai import ChatOpenAI  # type: ignore[import-not-found]
    except ImportError:
        print(
            "OPENAI_API_KEY is set, but langchain-openai is not installed (`uv pip install langchain-openai`);"
            " running with the offline model.\n"
        )
        return None
    print("Using OpenAI gpt-4.1-mini.\n")
    return ChatOpenAI(model="gpt-4.1-mini")


def scripted(*turns: AIMessage) -> OfflineToolModel:
    return OfflineToolModel(messages=iter(turns))


def calls(name: str, **args: Any) -> AIMessage:
    return AIMessage(
        content="", tool_calls=[ToolCall(name=name, args=args, id=f"call_{uuid.uuid4().hex[:8]}")]
    )


def open_client(data_dir: str | None) -> Memtrace:
    """A server when MEMTRACE_URL and MEMTRACE_API_KEY are set; else embedded in `data_dir`
    (default $MEMTRACE_DATA_DIR, else ./data)."""
    if data_dir is not None and not os.environ.get("MEMTRACE_URL"):
        return Memtrace.open(data_dir)
    return Memtrace.from_env()


def show_agent_run(result: dict[str, Any]) -> None:
    for message in result["messages"]:
        if isinstance(message, AIMessage) and message.tool_calls:
            for call in message.tool_calls:
                print(f"  agent calls {call['name']}({call['args']})")
        elif isinstance(message, ToolMessage):
            print(f"  {message.name} -> {message.text}")
        elif isinstance(message, AIMessage):
            print(f"  assistant: {message.text}")


def chat_that_survives_restarts(data_dir: str | None, model: BaseChatModel | None, session_key: str) -> None:
    print("== 1. Chat history in memtrace (MemtraceChatMessageHistory) ==")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are a friendly assistant."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    with open_client(data_dir) as client:
        chain = RunnableWithMessageHistory(
            prompt | (model or OfflineChatModel()),
            lambda key: MemtraceChatMessageHistory(key, client=client, agent_id="example-chat"),
            input_messages_key="input",
            history_messages_key="history",
        )
        for text in ("Hi, I'm Ada. I love green tea.", "I'm learning LangChain.", "What is my name?"):
            reply = chain.invoke({"input": text}, config={"configurable": {"session_id": session_key}})
            print(f"  user: {text}\n  assistant: {reply.text}")

    with open_client(data_dir) as fresh:  # as a restarted process would
        history = MemtraceChatMessageHistory(session_key, client=fresh, agent_id="example-chat")
        print(f"  A fresh client reads back {len(history.messages)} messages of {session_key!r}")
        print(f"  (stored as memtrace session {history.memtrace_session_id!r})\n")


def agent_with_memory_tools(data_dir: str | None, model: BaseChatModel | None, user: str) -> None:
    print("== 2. An agent with memtrace memory tools (memtrace_tools) ==")
    with open_client(data_dir) as client:
        first = create_agent(
            model
            or scripted(
                calls("memtrace_remember", content="Ada prefers oat milk in her tea", memory_type="entity"),
                AIMessage(content="Got it: oat milk."),
            ),
            tools=memtrace_tools(client, agent_id=f"assistant-of-{user}", session_id="monday"),
            system_prompt="Remember lasting facts about the user with memtrace_remember.",
        )
        show_agent_run(
            first.invoke({"messages": [{"role": "user", "content": "I take oat milk in my tea."}]})
        )

    print("  ... a later conversation ...")
    with open_client(data_dir) as client:
        later = create_agent(
            model
            or scripted(
                calls("memtrace_search", query="milk tea"),
                AIMessage(content="One tea with oat milk, coming up."),
            ),
            tools=memtrace_tools(client, agent_id=f"assistant-of-{user}", session_id="friday"),
            system_prompt="Before answering, search your memory with memtrace_search.",
        )
        show_agent_run(later.invoke({"messages": [{"role": "user", "content": "Make me my usual tea."}]}))
    print()


@tool
def save_preference(preference: str, runtime: ToolRuntime) -> str:
    """Save a lasting preference of the current user."""
    assert runtime.store is not None
    user = runtime.config["configurable"]["user_id"]
    runtime.store.put(("preferences", user), uuid.uuid4().hex, {"text": preference})
    return "saved"


@tool
def find_preferences(query: str, runtime: ToolRuntime) -> str:
    """Find the current user's saved preferences about a topic."""
    assert runtime.store is not None
    user = runtime.config["configurable"]["user_id"]
    items = runtime.store.search(("preferences", user), query=query, limit=3)
    return "\n".join(item.value["text"] for item in items) or "nothing saved"


def agent_with_langgraph_store(data_dir: str | None, model: BaseChatModel | None, user: str) -> None:
    print("== 3. LangGraph long-term memory (create_agent(..., store=MemtraceStore(...))) ==")
    config: Any = {"configurable": {"user_id": user}}
    with open_client(data_dir) as client:
        agent = create_agent(
            model
            or scripted(
                calls("save_preference", preference="Answers in short bullet points"),
                AIMessage(content="I'll keep answers short."),
                calls("find_preferences", query="answers"),
                AIMessage(content="- Short bullets, as you like them."),
            ),
            tools=[save_preference, find_preferences],
            store=MemtraceStore(client, agent_id="example-store"),
        )
        show_agent_run(
            agent.invoke({"messages": [{"role": "user", "content": "Keep answers short."}]}, config)
        )
        show_agent_run(
            agent.invoke({"messages": [{"role": "user", "content": "How should you answer?"}]}, config)
        )
    print()


def show_session_context(data_dir: str | None, session_key: str) -> None:
    print("== What memtrace gives any model: the chat as plain-text context ==")
    with open_client(data_dir) as client:
        session_id = MemtraceChatMessageHistory(session_key, client=client).memtrace_session_id
        print(client.get_session_context(session_id, ContextOptions(max_tokens=300)).context)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir", help="embedded memtrace data directory (default $MEMTRACE_DATA_DIR or ./data)"
    )
    args = parser.parse_args()
    model = real_model()
    run = uuid.uuid4().hex[:6]  # fresh keys per run, so reruns on one data directory start clean
    session_key = f"ada@example.com/{run}"  # any key works: memtrace maps it onto a valid session id
    chat_that_survives_restarts(args.data_dir, model, session_key)
    agent_with_memory_tools(args.data_dir, model, f"ada-{run}")
    agent_with_langgraph_store(args.data_dir, model, f"ada-{run}")
    show_session_context(args.data_dir, session_key)


if __name__ == "__main__":
    main()
