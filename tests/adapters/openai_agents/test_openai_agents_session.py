"""MemtraceSession behaves like the SDK's own SQLiteSession, and keeps the conversation across clients."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, Runner, SQLiteSession, function_tool
from agents.memory import Session, SessionSettings
from openai_agents_scripted import ScriptedModel, message, reasoning, tool_call

from memtrace import AsyncMemtrace, ListOptions, Memtrace, ValidationError, id_for_key
from memtrace_openai_agents import SESSION_ITEM_TAG, MemtraceSession, memtrace_tools

# Items of every kind the Runner stores, as the SDK writes them (see spec frameworks §2.2.1).
USER = {"content": "My favourite colour is blue", "role": "user"}
CALL = {
    "arguments": '{"key": "color", "value": "blue"}',
    "call_id": "call_1",
    "name": "remember",
    "type": "function_call",
    "id": "fc_1",
    "status": "completed",
}
CALL_OUTPUT = {"call_id": "call_1", "output": "stored color", "type": "function_call_output"}
ASSISTANT = {
    "id": "msg_1",
    "content": [{"annotations": [], "text": "Noted: blue.", "type": "output_text", "logprobs": []}],
    "role": "assistant",
    "status": "completed",
    "type": "message",
}
REASONING = {
    "id": "rs_1",
    "summary": [{"text": "The user states a preference.", "type": "summary_text"}],
    "type": "reasoning",
    "encrypted_content": None,
}
OK = {"content": "ok", "role": "user"}  # repeats legitimately; must not be dropped as a duplicate
MULTIMODAL = {
    "role": "user",
    "content": [
        {"type": "input_text", "text": "What is in this image? 🖼️ ünïcödé «quotes» 中文"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
    ],
}
ODD = {
    "type": "mcp_call",
    "id": "mcp_1",
    "server_label": "docs",
    "name": "lookup",
    "arguments": "{}",
    "output": None,
    "error": None,
    "numbers": [0, -1, 1.5, 1e-9, 12345678901234567890],
    "flags": {"a": True, "b": False, "empty": {}, "list": []},
    "nul": "a\x00b",
}
BIG_OUTPUT = {"call_id": "call_2", "output": "x" * 50_000 + " tail", "type": "function_call_output"}

SessionFactory = Callable[[str], Any]


def sqlite_factory(tmp_path: Path) -> SessionFactory:
    return lambda key, **kw: SQLiteSession(key, tmp_path / "agents.sqlite", **kw)


async def exercise(make: Callable[..., Any], key: str, other_key: str) -> list[Any]:
    """The same story against any Session; returns what a user would observe at each step."""
    seen: list[Any] = []
    session = make(key)
    other = make(other_key)
    seen.append(await session.get_items())
    seen.append(await session.pop_item())
    await other.add_items([OK])
    await session.add_items([USER])
    await session.add_items([CALL, CALL_OUTPUT])
    await session.add_items([ASSISTANT])
    await session.add_items([REASONING, OK, OK, MULTIMODAL, ODD, BIG_OUTPUT])
    await session.add_items([])
    seen.append(await session.get_items())
    for limit in (1, 2, 5, 100, 0, -1):
        seen.append(await session.get_items(limit=limit))
    seen.append(await session.pop_item())
    seen.append(await session.pop_item())
    seen.append(await session.get_items(limit=3))
    # A new object for the same key sees the same conversation.
    seen.append(await make(key).get_items())
    limited = make(key, session_settings=SessionSettings(limit=2))
    seen.append(await limited.get_items())
    seen.append(await limited.get_items(limit=4))
    await session.clear_session()
    seen.append(await session.get_items())
    seen.append(await session.pop_item())
    await session.add_items([USER, ASSISTANT])
    seen.append(await session.get_items())
    seen.append(await other.get_items())
    return seen


EXPECTED_FULL = [USER, CALL, CALL_OUTPUT, ASSISTANT, REASONING, OK, OK, MULTIMODAL, ODD, BIG_OUTPUT]


def check_story(seen: list[Any]) -> None:
    """What the story must show, independent of any reference implementation."""
    assert seen[0] == [] and seen[1] is None
    assert seen[2] == EXPECTED_FULL
    assert seen[3] == [BIG_OUTPUT]
    assert seen[4] == [ODD, BIG_OUTPUT]
    assert seen[5] == EXPECTED_FULL[-5:]
    assert seen[6] == EXPECTED_FULL
    assert seen[7] == []
    assert seen[8] == EXPECTED_FULL
    assert seen[9] == BIG_OUTPUT and seen[10] == ODD
    assert seen[11] == [OK, OK, MULTIMODAL]
    assert seen[12] == EXPECTED_FULL[:-2]
    assert seen[13] == [OK, MULTIMODAL]
    assert seen[14] == [REASONING, OK, OK, MULTIMODAL]
    assert seen[15] == [] and seen[16] is None
    assert seen[17] == [USER, ASSISTANT]
    assert seen[18] == [OK]


async def test_sqlite_session_reference_story(tmp_path: Path) -> None:
    """The story's expectations are the SDK's own behaviour, so the comparison below is meaningful."""
    check_story(await exercise(sqlite_factory(tmp_path), "conv-1", "conv-2"))


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"limitt": 1}, TypeError),  # a typo is an error, not a silently ignored setting
        ({"limit": "two"}, Exception),
    ],
)
def test_bad_session_settings_fail_as_in_sqlite_session(
    settings: dict[str, Any], error: type[Exception], sync_client: Memtrace
) -> None:
    with pytest.raises(error) as expected:
        SQLiteSession("conv", session_settings=settings)
    with pytest.raises(type(expected.value)) as ours:
        MemtraceSession("conv", client=sync_client, session_settings=settings)
    assert str(ours.value) == str(expected.value)


def test_session_settings_accepts_what_sqlite_session_accepts(sync_client: Memtrace) -> None:
    for settings in ({"limit": 3}, SessionSettings(limit=3), {}):
        ours = MemtraceSession("conv", client=sync_client, session_settings=settings)
        assert ours.session_settings == SQLiteSession("conv", session_settings=settings).session_settings


async def test_a_closed_session_refuses_every_call_as_sqlite_session_does(
    sync_client: Memtrace, tmp_path: Path
) -> None:
    sqlite = SQLiteSession("conv", tmp_path / "agents.sqlite")
    ours = MemtraceSession("conv", client=sync_client)
    await ours.add_items([USER])
    for session in (sqlite, ours):
        session.close()
        session.close()  # idempotent
        for call in (
            lambda s: s.add_items([]),
            lambda s: s.add_items([USER]),
            lambda s: s.get_items(),
            lambda s: s.pop_item(),
            lambda s: s.clear_session(),
        ):
            with pytest.raises(RuntimeError, match="is closed"):
                await call(session)
    # The client passed in is not ours to close: a new session on it sees the item.
    assert await MemtraceSession("conv", client=sync_client).get_items() == [USER]


async def test_close_can_be_awaited_like_async_sqlite_session(
    open_client: Callable[[], AsyncMemtrace],
) -> None:
    session = MemtraceSession("conv", client=open_client())
    await session.close()
    with pytest.raises(RuntimeError, match="MemtraceSession is closed"):
        await session.get_items()


async def test_memtrace_session_matches_sqlite_session(
    open_client: Callable[[], AsyncMemtrace], tmp_path: Path, unique: Callable[[str], str]
) -> None:
    client = open_client()
    key, other_key = unique("conv"), unique("conv")
    ours = await exercise(lambda k, **kw: MemtraceSession(k, client=client, **kw), key, other_key)
    reference = await exercise(sqlite_factory(tmp_path), key, other_key)
    assert ours == reference
    check_story(ours)


async def test_sync_client_gives_the_same_story(sync_client: Memtrace, tmp_path: Path) -> None:
    ours = await exercise(lambda k, **kw: MemtraceSession(k, client=sync_client, **kw), "conv-1", "conv-2")
    assert ours == await exercise(sqlite_factory(tmp_path), "conv-1", "conv-2")


async def test_is_an_sdk_session_and_keeps_the_users_key(open_client: Callable[[], AsyncMemtrace]) -> None:
    client = open_client()
    key = "8f0e4c1a-user@example.com"  # starts with a digit and has '@': not a memtrace id as it stands
    session = MemtraceSession(key, client=client, agent_id="support-bot")
    assert isinstance(session, Session)
    assert session.session_id == key
    assert session.memtrace_session_id == id_for_key(key)
    await session.add_items([USER])
    # The conversation is a listable memtrace session that remembers the original key.
    sessions = await client.list_sessions("support-bot")
    row = next(s for s in sessions.sessions if s.id == id_for_key(key))
    assert row.metadata is not None and row.metadata["key"] == key
    stored = await client.list_memories(ListOptions(session_id=id_for_key(key)))
    [memory] = stored.memories
    assert memory.agent_id == "support-bot"
    assert memory.memory_type == "session"
    assert memory.event_type == "user_message"
    assert memory.content == USER["content"]
    assert memory.tags == [SESSION_ITEM_TAG]


async def test_stored_text_is_searchable_and_readable(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    client = open_client()
    session = MemtraceSession(unique("conv"), client=client)
    await session.add_items([USER, CALL, CALL_OUTPUT, ASSISTANT, REASONING, BIG_OUTPUT])
    stored = await client.list_memories(ListOptions(session_id=session.memtrace_session_id, order="asc"))
    by_type = {m.event_type: m.content for m in stored.memories}
    assert by_type["user_message"] == "My favourite colour is blue"
    assert by_type["function_call"] == 'remember({"key": "color", "value": "blue"})'
    assert by_type["assistant_message"] == "Noted: blue."
    assert by_type["reasoning"] == "The user states a preference."
    outputs = [m.content for m in stored.memories if m.event_type == "function_call_output"]
    assert outputs[0] == "stored color"
    # A huge tool output is cut in the searchable text but kept whole in the item.
    assert len(outputs[1]) <= 8_000 and outputs[1].startswith("xxx")
    assert (await session.get_items(limit=1)) == [BIG_OUTPUT]


async def test_memories_written_by_tools_in_the_same_session_are_not_items(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    """Tools that remember into the conversation's session must not leak into (or be cleared with) it."""
    client = open_client()
    key = unique("conv")
    session = MemtraceSession(key, client=client, agent_id="bot")
    await session.add_items([USER])
    remember = memtrace_tools(client, "bot", session_id=key)[0]
    await remember.on_invoke_tool(None, json.dumps({"content": "User likes blue"}))
    await session.add_items([ASSISTANT])
    assert await session.get_items() == [USER, ASSISTANT]
    assert await session.pop_item() == ASSISTANT
    await session.clear_session()
    assert await session.get_items() == []
    left = await client.list_memories(ListOptions(session_id=id_for_key(key)))
    assert [m.content for m in left.memories] == ["User likes blue"]


async def test_order_is_kept_for_many_single_and_batched_appends(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    session = MemtraceSession(unique("conv"), client=open_client())
    expected: list[dict[str, Any]] = []
    for i in range(120):
        batch = [{"role": "user", "content": f"m{i}-{j}"} for j in range(1 + i % 3)]
        expected.extend(batch)
        await session.add_items(batch)
    assert await session.get_items() == expected
    assert await session.get_items(limit=7) == expected[-7:]


async def test_more_than_one_page_of_items(open_client: Callable[[], AsyncMemtrace], unique) -> None:
    session = MemtraceSession(unique("conv"), client=open_client())
    expected = [{"role": "user", "content": "ok", "n": i} for i in range(1234)]
    for start in range(0, len(expected), 250):
        await session.add_items(expected[start : start + 250])
    assert await session.get_items() == expected
    assert await session.get_items(limit=1100) == expected[-1100:]


async def test_bad_item_writes_nothing(open_client: Callable[[], AsyncMemtrace], unique) -> None:
    session = MemtraceSession(unique("conv"), client=open_client())
    with pytest.raises(TypeError, match="session item 1"):
        await session.add_items([USER, {"role": "user", "content": object()}])
    with pytest.raises(TypeError, match="session item 0"):
        await session.add_items(["not a dict"])
    assert await session.get_items() == []


async def cancelled_append(session: Any) -> list[Any]:
    """Cancel an add_items that has started; return what the session holds afterwards."""
    task = asyncio.ensure_future(session.add_items([USER, ASSISTANT]))
    await asyncio.sleep(0)  # let it start its write
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return await session.get_items()


async def test_a_cancelled_append_is_settled_when_the_call_returns(
    open_client: Callable[[], AsyncMemtrace], tmp_path: Path, unique
) -> None:
    """As with SQLiteSession: the caller sees the cancellation, but only after the write finished, so the
    next read already shows it (nothing is left in flight or half-written)."""
    reference = await cancelled_append(SQLiteSession("conv", tmp_path / "agents.sqlite"))
    assert reference == [USER, ASSISTANT]
    assert await cancelled_append(MemtraceSession(unique("conv"), client=open_client())) == reference


def test_bad_ids_are_rejected_up_front() -> None:
    with pytest.raises(ValidationError) as err:
        MemtraceSession("conv", client=None, agent_id="1 bad agent")
    assert err.value.field == "agent_id"
    with pytest.raises(ValidationError) as err:
        MemtraceSession("", client=None)
    assert err.value.field == "session_id"


# -- the real Runner -----------------------------------------------------------------------------------------


@function_tool
def remember_colour(colour: str) -> str:
    """Store the user's favourite colour.

    Args:
        colour: The colour.
    """
    return f"stored {colour}"


def two_runs_script() -> ScriptedModel:
    return ScriptedModel(
        [
            [
                reasoning("The user states a preference.", 1),
                tool_call("remember_colour", {"colour": "blue"}, 2),
            ],
            [message("Noted: blue.", 3)],
            [message("Your favourite colour is blue.", 4)],
        ]
    )


async def run_twice(session: Any) -> tuple[ScriptedModel, list[Any]]:
    model = two_runs_script()
    agent = Agent(name="assistant", instructions="Be helpful.", model=model, tools=[remember_colour])
    first = await Runner.run(agent, "My favourite colour is blue", session=session)
    assert first.final_output == "Noted: blue."
    second = await Runner.run(agent, "What is my favourite colour?", session=session)
    assert second.final_output == "Your favourite colour is blue."
    return model, await session.get_items()


async def test_runner_continues_the_conversation_like_sqlite_session(
    open_client: Callable[[], AsyncMemtrace], tmp_path: Path, unique
) -> None:
    key = unique("conv")
    ours_model, ours_items = await run_twice(MemtraceSession(key, client=open_client()))
    ref_model, ref_items = await run_twice(SQLiteSession(key, tmp_path / "agents.sqlite"))

    # The second run's first model call saw the whole first run, then the new question.
    replayed = ours_model.calls[2].input
    assert [i.get("type", "message") for i in replayed] == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    assert replayed[0]["content"] == "My favourite colour is blue"
    assert replayed[-1]["content"] == "What is my favourite colour?"
    # Identical to what the SDK's own session gives, call by call, and the stored items too.
    assert [c.input for c in ours_model.calls] == [c.input for c in ref_model.calls]
    assert ours_items == ref_items
    assert len(ours_items) == 7

    # A fresh client (a new process, in effect) with the same key continues from the same items.
    fresh = MemtraceSession(key, client=open_client())
    assert await fresh.get_items() == ours_items
    model = ScriptedModel([[message("Still blue.")]])
    agent = Agent(name="assistant", instructions="Be helpful.", model=model)
    await Runner.run(agent, "And now?", session=fresh)
    assert model.calls[0].input[:-1] == ours_items
    assert len(await fresh.get_items()) == 9


async def test_session_settings_limit_bounds_the_replayed_history(
    open_client: Callable[[], AsyncMemtrace], unique
) -> None:
    session = MemtraceSession(unique("conv"), client=open_client(), session_settings={"limit": 2})
    await session.add_items([USER, ASSISTANT, OK])
    model = ScriptedModel([[message("fine")]])
    await Runner.run(Agent(name="a", model=model), "next", session=session)
    assert model.calls[0].input == [ASSISTANT, OK, {"content": "next", "role": "user"}]


async def test_default_client_comes_from_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMTRACE_URL", raising=False)
    monkeypatch.delenv("MEMTRACE_API_KEY", raising=False)
    monkeypatch.setenv("MEMTRACE_DATA_DIR", str(data_dir))
    async with MemtraceSession("conv-env") as session:
        await session.add_items([USER])
    async with AsyncMemtrace.open(data_dir) as client:
        assert await MemtraceSession("conv-env", client=client).get_items() == [USER]


def test_a_new_process_continues_the_conversation(data_dir: Path, tmp_path: Path) -> None:
    with Memtrace.open(data_dir) as client:
        asyncio.run(MemtraceSession("user-42", client=client).add_items(EXPECTED_FULL))
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from memtrace import AsyncMemtrace
        from memtrace_openai_agents import MemtraceSession

        async def main():
            async with AsyncMemtrace.open(sys.argv[1]) as client:
                items = await MemtraceSession("user-42", client=client).get_items()
            print(json.dumps(items))

        asyncio.run(main())
        """
    )
    env = {**os.environ, "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == EXPECTED_FULL
