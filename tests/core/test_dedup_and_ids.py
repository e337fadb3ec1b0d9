import re

from hypothesis import given
from hypothesis import strategies as st

from memtrace import dedup_key, id_for_key
from memtrace.ids import ID_PATTERN, MEMORY_ID_PATTERN, MemoryIdGenerator


def test_dedup_key_matches_the_original_test_vector() -> None:
    assert dedup_key("agent_1", "general", "User prefers dark mode") == "e81f1de3b743bacd47421867ad0574e4"


def test_dedup_key_hashes_only_the_first_200_utf8_bytes() -> None:
    base = "é" * 100  # 200 bytes
    assert dedup_key("a", "general", base + "tail one") == dedup_key("a", "general", base + "tail two")
    # Byte 200 is the first byte of a two-byte character: é and è both start with 0xC3, so, exactly like the
    # original's Go string slicing, the cut falls mid-character and the keys agree.
    assert dedup_key("a", "general", "x" * 199 + "é") == dedup_key("a", "general", "x" * 199 + "è")
    assert dedup_key("a", "general", "x" * 198 + "é") != dedup_key("a", "general", "x" * 198 + "è")


def test_memory_ids_are_well_formed_and_strictly_increasing_in_a_burst() -> None:
    gen = MemoryIdGenerator()
    ids = [gen.new(1_770_000_000_000_000) for _ in range(1000)]
    assert all(MEMORY_ID_PATTERN.match(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert gen.new(1_770_000_000_001_000) > ids[-1]  # a later millisecond sorts later


def test_a_batch_of_ids_continues_the_same_sequence_as_single_ids() -> None:
    """`new_many` (a batch's ids at once) follows the rules of single ids: a burst in one millisecond
    increases, a later millisecond sorts later, and single ids after it continue the sequence."""
    gen = MemoryIdGenerator()
    first = gen.new(1_770_000_000_000_000)
    times = [1_770_000_000_000_000] * 500 + [1_770_000_000_000_000 + 1000 * k for k in range(1, 501)]
    batch = gen.new_many(times)
    assert len(batch) == 1000 and all(MEMORY_ID_PATTERN.match(i) for i in batch)
    assert [first, *batch] == sorted([first, *batch]) and len({first, *batch}) == 1001
    assert gen.new(times[-1]) > batch[-1]  # the same millisecond again: incremented, not drawn anew
    assert gen.new_many([]) == []


@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_id_encoding_is_base32_of_the_value_most_significant_first(value: int) -> None:
    from memtrace.ids import _CROCKFORD, _b32

    padded = value << 2  # 130 bits: 26 characters of 5 bits
    expected = "".join(_CROCKFORD[(padded >> (5 * (25 - i))) & 31] for i in range(26))
    assert _b32(value) == expected


@given(st.text(min_size=1, max_size=300))
def test_id_for_key_always_gives_a_valid_id(key: str) -> None:
    mapped = id_for_key(key)
    assert ID_PATTERN.match(mapped)
    assert id_for_key(key) == mapped  # deterministic


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_id_for_key_keeps_distinct_keys_distinct(a: str, b: str) -> None:
    if a != b:
        assert id_for_key(a) != id_for_key(b)


def test_id_for_key_examples() -> None:
    assert id_for_key("user-42") == "user-42"  # already valid: unchanged
    uuid = "0b9e1c9e-8f0e-4d8a-9a56-1b2c3d4e5f60"
    assert re.fullmatch(r"k_0b9e1c9e-8f0e-4d8a-9a56-1b2c3d4e5f60_[0-9a-f]{16}", id_for_key(uuid))
    assert id_for_key("ada@example.com").startswith("k_ada-example-com_")
    assert id_for_key("会話").startswith("k_会話_") is False  # non-ASCII letters are not id characters
