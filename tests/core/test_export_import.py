"""`Memtrace.export_memories` / `import_memories` in-process: the file, its errors (by line number), truncation,
re-running an interrupted import, newer format versions, and an export that streams in flat memory."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from memtrace import AddMemoryRequest, AsyncMemtrace, ListOptions, Memtrace, ValidationError
from memtrace.dedup import dedup_key
from memtrace.errors import ConflictError, MemtraceError, StorageFullError
from memtrace.stores import open_stores
from memtrace.transfer import FORMAT_VERSION, ExportOptions, Importer, ImportFailed, iter_lines
from memtrace.transfer.files import ExportWriter


def _fill(mt: Memtrace, n: int = 50, *, content: str = "note {n}") -> None:
    reqs = [
        AddMemoryRequest(
            agent_id="a1",
            session_id="s1" if i % 2 else None,
            content=content.format(n=i),
            tags=["x"],
            metadata={"n": i},
            time=f"2026-02-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
        )
        for i in range(n)
    ]
    for start in range(0, n, 1000):
        mt.add_memories(reqs[start : start + 1000])


def _listing(mt: Memtrace) -> list[dict[str, object]]:
    return [m.model_dump() for m in mt.iter_memories(ListOptions(order="asc"))]


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Memtrace]:
    mt = Memtrace.open(tmp_path / "source")
    _fill(mt)
    yield mt
    mt.close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Memtrace]:
    mt = Memtrace.open(tmp_path / "target")
    yield mt
    mt.close()


def test_export_to_a_path_and_import_it_back(source: Memtrace, target: Memtrace, tmp_path: Path) -> None:
    path = tmp_path / "org.jsonl"
    summary = source.export_memories(path)
    assert (summary.memories, summary.bytes) == (50, path.stat().st_size)
    lines = path.read_bytes().splitlines()
    header = json.loads(lines[0])
    assert header["memtrace_export"] == FORMAT_VERSION and header["org_id"] == "org_default"
    assert json.loads(lines[-1]) == {"memtrace_export_end": {"agents": 0, "sessions": 0, "memories": 50}}
    report = target.import_memories(path)
    assert (report.memories, report.skipped, report.lines, report.complete) == (50, 0, 52, True)
    assert _listing(target) == _listing(source)
    again = target.import_memories(path.read_bytes())
    assert (again.memories, again.skipped) == (0, 50)


def test_a_file_of_many_batches_imports_exactly_over_a_part_already_in(tmp_path: Path) -> None:
    # 1,234 memories: batches of 2,000 and 1,000 (the writes of the source) written 500 rows a statement and the
    # rest one by one, and a part of the file already in, so some ids of a batch are skipped and some are not. A
    # few memories have a parent, an expiry or a fact key: the 500 rows around them go in by the statement that
    # binds those columns, the others by the one that leaves them NULL.
    with Memtrace.open(tmp_path / "source") as source, Memtrace.open(tmp_path / "target") as target:
        _fill(source, 1234)
        rare = [
            AddMemoryRequest(
                agent_id="a1", content="with a parent", parent_id="mem_parent", time="2026-02-01T00:02:00.5Z"
            ),
            AddMemoryRequest(agent_id="a1", content="expiring", ttl="30d", time="2026-02-01T00:02:01.5Z"),
            AddMemoryRequest(
                agent_id="a1", content="a fact", key="user:ada/city", time="2026-02-01T00:15:00.5Z"
            ),
        ]
        source.add_memories(rare)
        _fill(source, 600, content="later {n}")
        lines = _export(source)
        # The first two among the 700 lines imported first, the third in the second 500 imported after.
        assert [i for i, line in enumerate(lines) if b'"parent_id":"mem_parent"' in line] == [243]
        assert [i for i, line in enumerate(lines) if b'"fact_key":"user:ada/city"' in line] == [1504]
        with pytest.raises(ImportFailed, match="truncated"):
            target.import_memories(b"".join(lines[:701]))
        report = target.import_memories(b"".join(lines))
        assert (report.memories, report.skipped, report.complete) == (1837 - 700, 700, True)
        assert _listing(target) == _listing(source)


def test_an_export_file_is_private_like_the_store(source: Memtrace, tmp_path: Path) -> None:
    """It holds everything the store does, so it gets the store's 0600, whatever the umask."""
    old = os.umask(0o022)
    try:
        source.export_memories(tmp_path / "org.jsonl")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "org.jsonl").stat().st_mode) == 0o600


def test_the_async_client_does_the_same(tmp_path: Path) -> None:
    async def run() -> None:
        async with AsyncMemtrace.open(tmp_path / "a") as a, AsyncMemtrace.open(tmp_path / "b") as b:
            await a.add_memory(AddMemoryRequest(agent_id="a1", content="hello"))
            out = io.BytesIO()
            assert (await a.export_memories(out)).memories == 1
            assert (await b.import_memories(out.getvalue())).memories == 1
            assert (await b.list_memories()).memories[0].content == "hello"

    asyncio.run(run())


def test_a_bad_filter_fails_before_any_file_is_made(source: Memtrace, tmp_path: Path) -> None:
    path = tmp_path / "never.jsonl"
    with pytest.raises(ValidationError) as err:
        source.export_memories(path, ExportOptions(memory_types=["nonsense"]))
    assert err.value.field == "memory_types[0]"
    assert not path.exists() and not list(tmp_path.glob("*.partial"))


def _export(mt: Memtrace) -> list[bytes]:
    out = io.BytesIO()
    mt.export_memories(out)
    return out.getvalue().splitlines(keepends=True)


def test_a_truncated_file_is_refused_after_importing_what_it_holds_and_a_rerun_completes_it(
    source: Memtrace, target: Memtrace
) -> None:
    lines = _export(source)
    cut = b"".join(lines[:30]) + lines[30][:20]  # cut in the middle of line 31
    with pytest.raises(ImportFailed) as err:
        target.import_memories(cut)
    message = err.value.message
    assert message.startswith(
        "line 31: not valid JSON: the file ends in the middle of this line (it is truncated)"
    )
    assert "lines 1-30 were imported: imported 29 memories" in message
    assert err.value.report.memories == 29 and err.value.line == 31
    without_trailer = b"".join(lines[:-1])
    with pytest.raises(ImportFailed) as err:
        target.import_memories(without_trailer)
    assert "line 52: the file ends after line 51 without its trailer: it is truncated" in err.value.message
    assert err.value.report.memories == 50 - 29  # the rest went in; the first 29 were skipped
    done = target.import_memories(b"".join(lines))
    assert (done.memories, done.skipped, done.complete) == (0, 50, True)
    assert _listing(target) == _listing(source)


@pytest.mark.parametrize(
    ("last", "says"),
    [
        (b"\xff\xfe garbage", "line 31: not UTF-8 ('utf-8' codec can't decode byte 0xff"),
        (
            "caf\u00e9".encode()[:-1],
            "line 31: not UTF-8: the file ends in the middle of this line (it is truncated)",
        ),
    ],
)
def test_bytes_outside_utf8_are_called_truncated_only_where_a_cut_explains_them(
    source: Memtrace, target: Memtrace, last: bytes, says: str
) -> None:
    lines = _export(source)
    with pytest.raises(ImportFailed) as err:
        target.import_memories(b"".join(lines[:30]) + last)
    assert err.value.message.startswith(says), err.value.message


def test_a_bad_line_is_named_by_its_number_and_what_came_before_it_is_in(
    source: Memtrace, target: Memtrace
) -> None:
    lines = _export(source)
    bad = json.loads(lines[16])
    bad["memory"]["agent_id"] = "not an id!"
    lines[16] = json.dumps(bad).encode() + b"\n"
    with pytest.raises(ImportFailed) as err:
        target.import_memories(b"".join(lines))
    assert err.value.message.startswith("line 17: invalid memory.agent_id: must start with a letter")
    assert err.value.field == "memory.agent_id"
    assert "lines 1-16 were imported" in err.value.message
    assert len(_listing(target)) == 15


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: m.update(content=""), "line 2: memory.content is required"),
        (lambda m: m.update(time_us="yesterday"), "line 2: invalid memory.time_us: expected microseconds"),
        (lambda m: m.update(tags="x"), "line 2: invalid memory.tags: expected a list of tags"),
        (lambda m: m.update(metadata_json="[1]"), "line 2: invalid memory.metadata_json: expected the text"),
        (
            lambda m: m.update(mood="sunny"),
            "line 2: memory.mood: unknown field (written by a newer memtrace?",
        ),
        (lambda m: m.pop("content"), "line 2: memory.content is required"),
        (lambda m: m.update(time_us=m["time_us"] + 5_000), "line 2: memory.id does not carry memory.time_us"),
        (lambda m: m.update(importance=2), "line 2: invalid memory.importance: 2 is outside 0..1"),
        # JSON nested ~1,000 deep: the decoder's RecursionError once ended the import instead of naming the line.
        (
            lambda m: m.update(metadata_json='{"a":' + "[" * 5000 + "]" * 5000 + "}"),
            "line 2: invalid memory.metadata_json: expected the text",
        ),
        # Deeper than the API allows (32 levels): once imported, though no write could have stored it.
        (
            lambda m: m.update(metadata_json='{"a":' + "[" * 32 + "]" * 32 + "}"),
            "line 2: invalid memory.metadata_json: nested deeper than 32 levels",
        ),
        # A list is unhashable: the type check once raised TypeError out of the import instead of naming the line.
        (lambda m: m.update(memory_type=[]), "line 2: invalid memory.memory_type: [] is not one of episodic"),
        (lambda m: m.update(memory_type={}), "line 2: invalid memory.memory_type: {} is not one of episodic"),
        (
            lambda m: m.update(fact_key="a\x00b"),
            "line 2: invalid memory.fact_key: 1-256 characters of A-Z, a-z, 0-9",
        ),
        (
            lambda m: m.update(metadata_json='{"a":"\ud800"}'),
            "line 2: invalid memory.metadata_json: not valid",
        ),
    ],
)
def test_each_kind_of_bad_value_names_its_line_and_field(
    source: Memtrace, target: Memtrace, edit, expected: str
) -> None:
    lines = _export(source)
    memory = json.loads(lines[1])
    edit(memory["memory"])
    lines[1] = json.dumps(memory).encode() + b"\n"
    with pytest.raises(ImportFailed) as err:
        target.import_memories(b"".join(lines))
    assert err.value.message.startswith(expected), err.value.message
    assert "nothing was imported" in err.value.message


def test_files_that_are_not_exports_or_are_newer_are_refused_clearly(target: Memtrace) -> None:
    cases = {
        b"": "line 1: the file is empty",
        b'{"hello": 1}\n': 'line 1: not a memtrace export: the first line must be {"memtrace_export": ...}',
        b"not json\n": "line 1: not valid JSON",
        b'{"memtrace_export": 99}\n{"memtrace_export_end": {}}\n': "line 1: this file is in export format 99, "
        f"newer than this memtrace reads (up to {FORMAT_VERSION}); import it with a newer memtrace",
        b'{"memtrace_export": 1}\n\n': "line 2: empty line",
        b'{"memtrace_export": 1}\n{"gizmo": {}}\n': "line 2: unknown kind of line 'gizmo'",
        # Nested ~1,000 deep: the decoder's RecursionError once ended the import instead of naming the line.
        b'{"memtrace_export": 1}\n{"memory": ' + b"[" * 5000 + b"]" * 5000 + b"}\n": (
            "line 2: not valid JSON here: nested too deeply"
        ),
        b'{"memtrace_export": 1}\n{"memtrace_export_end": {"agents": 0, "sessions": 0, "memories": 3}}\n': (
            "line 2: the trailer counts 3 memories but the file holds 0: it was cut or edited"
        ),
    }
    for data, expected in cases.items():
        with pytest.raises(ImportFailed) as err:
            target.import_memories(data)
        assert err.value.message.startswith(expected), (data, err.value.message)
    assert _listing(target) == []


def test_a_write_after_an_import_is_a_duplicate_of_an_imported_memory_inside_the_window(
    tmp_path: Path,
) -> None:
    # Imported memories older than the dedup window stay out of the store's dedup index (nothing could match
    # them); those inside it stay in, so a write repeating one is refused as a write repeating a written one is.
    now = datetime.now(UTC)
    recent, old = now - timedelta(hours=1), now - timedelta(days=3)
    with Memtrace.open(tmp_path / "source") as source, Memtrace.open(tmp_path / "target") as target:
        for i in range(600):  # a full 500-row statement on import, and the rest one by one
            when = recent if i % 2 else old
            source.add_memory(
                AddMemoryRequest(agent_id="a1", content=f"note {i}", time=when - timedelta(seconds=i))
            )
        assert target.import_memories(b"".join(_export(source))).memories == 600
        for i in (1, 3, 599):
            with pytest.raises(ConflictError):
                target.add_memory(AddMemoryRequest(agent_id="a1", content=f"note {i}"))
        for i in (0, 2, 598):  # outside the window: a write repeating one is not a duplicate
            target.add_memory(AddMemoryRequest(agent_id="a1", content=f"note {i}"))
        assert len(_listing(target)) == 603


def test_a_missing_dedup_key_is_recomputed_as_a_write_would(source: Memtrace, target: Memtrace) -> None:
    lines = _export(source)
    memory = json.loads(lines[1])
    del memory["memory"]["dedup_key"]
    lines[1] = json.dumps(memory).encode() + b"\n"
    target.import_memories(b"".join(lines))
    imported = target.get_memory(memory["memory"]["id"])
    assert imported.dedup_key == dedup_key("a1", "general", imported.content)
    assert imported.dedup_key == source.get_memory(imported.id).dedup_key


def _export_peak(mt: Memtrace, path: Path) -> tuple[int, int]:
    """(memories exported, peak bytes allocated while exporting)."""
    tracemalloc.start()
    try:
        summary = mt.export_memories(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return summary.memories, peak


def test_a_large_export_streams_in_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with Memtrace.open(tmp_path / "big", synchronous="NORMAL") as mt:
        _fill(mt, 8_000, content="memory {n} " + "padding words " * 30)
        small = _export_peak(mt, path)
        _fill(mt, 24_000, content="more {n} " + "padding words " * 30)
        large = _export_peak(mt, path)
    assert (small[0], large[0]) == (8_000, 32_000)
    assert path.stat().st_size > 20_000_000
    # Four times the memories, about the same memory: a page at a time, never the whole file.
    assert large[1] < small[1] * 1.5, (small, large)
    assert large[1] < 16_000_000  # a page of 2,000 memories with its rows and lines, not the 20+ MB file


class _FailsOnSecondBatch:
    """An event store whose second `import_records` fails as a full disk would."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def import_records(self, org_id: str, records: list[Any], **options: Any) -> tuple[int, int]:
        self.calls += 1
        if self.calls == 2:
            raise StorageFullError("the disk is full")
        return self.inner.import_records(org_id, records, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_batch_the_store_refuses_names_its_lines_and_the_next_run_completes(
    source: Memtrace, tmp_path: Path
) -> None:
    data = b"".join(_export(source))
    stores = open_stores(tmp_path / "flaky")
    try:
        failing = _FailsOnSecondBatch(stores.events)
        seen: list[int] = []
        importer = Importer(failing, stores.metadata, "org_default", batch=10)
        importer.progress = lambda report, _: seen.append(report.lines)
        with pytest.raises(ImportFailed) as err:
            importer.run(iter_lines([data]))
        assert err.value.message.startswith("lines 12-21: the disk is full. lines 1-11 were imported")
        assert (err.value.report.memories, err.value.report.lines) == (10, 11)
        assert seen == [11]
        done = Importer(stores.events, stores.metadata, "org_default", batch=10).run(iter_lines([data]))
        assert (done.memories, done.skipped, done.complete) == (40, 10, True)
    finally:
        stores.close()


def test_a_streamed_export_cut_short_is_an_error_however_its_chunks_fall(source: Memtrace) -> None:
    data = b"".join(_export(source))
    for size in (1, 7, 4096, len(data)):  # chunks as a network delivers them: anywhere, even inside a line
        writer = ExportWriter(io.BytesIO())
        for start in range(0, len(data), size):
            writer.write(data[start : start + size])
        assert writer.summary().memories == 50
        cut = ExportWriter(io.BytesIO())
        for start in range(0, len(data) - 80, size):
            cut.write(data[start : min(start + size, len(data) - 80)])
        with pytest.raises(MemtraceError, match="without its trailer"):
            cut.summary()
    # A broken server's last line nested past the decoder's recursion limit is no trailer either.
    deep = ExportWriter(io.BytesIO())
    deep.write(data + b"[" * 5000 + b"]" * 5000 + b"\n")
    with pytest.raises(MemtraceError, match="without its trailer"):
        deep.summary()


def test_metadata_as_deep_as_a_write_allows_is_imported(source: Memtrace, target: Memtrace) -> None:
    deepest: dict[str, object] = {}
    node = deepest
    for _ in range(31):  # the outer object and 31 inside it: the 32 levels a write allows
        node["a"] = node = {}
    source.add_memory(AddMemoryRequest(agent_id="deep", content="a deep note", metadata=deepest))
    target.import_memories(b"".join(_export(source)))
    assert [m.metadata for m in target.list_memories(ListOptions(agent_id="deep")).memories] == [deepest]
