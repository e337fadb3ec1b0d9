"""Search scores are per organisation on a real server: another tenant storing a word moves neither my score
for it nor my ranking, so a score cannot tell me whether anyone else stored a word (invariant 2)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx


def test_another_tenants_writes_do_not_move_my_scores(
    live_server, new_org_key: Callable[..., tuple[str, str, int]]
) -> None:  # type: ignore[no-untyped-def]
    word = "zq" + uuid.uuid4().hex[:8]  # a word nobody else on the shared server has stored
    _, key_a, _ = new_org_key()
    _, key_b, _ = new_org_key()
    with (
        httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key_a}) as a,
        httpx.Client(base_url=live_server.base_url, headers={"x-api-key": key_b}) as b,
    ):
        filler = [{"agent_id": "probe", "content": f"ordinary note number {i}"} for i in range(20)]
        mine = [
            *filler,
            {"agent_id": "probe", "content": f"{word} appears once among other words"},
            {"agent_id": "probe", "content": f"{word} {word} twice"},
        ]
        assert a.post("/api/v1/memories", json={"memories": mine}).status_code == 201

        def ranking() -> list[tuple[str, float]]:
            found = a.post("/api/v1/search", json={"query": word, "limit": 10})
            assert found.status_code == 200, found.text
            return [(m["id"], m["score"]) for m in found.json()["results"]]

        before = ranking()
        assert len(before) == 2 and all(score > 0.01 for _, score in before)
        theirs = [{"agent_id": "flood", "content": f"{word} number {i}"} for i in range(200)]
        assert b.post("/api/v1/memories", json={"memories": theirs}).status_code == 201
        assert ranking() == before
