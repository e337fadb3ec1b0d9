"""The verified-key cache: warm requests never consult the key store (so never pay bcrypt), concurrent cold
requests share one check, and revocation, expiry and the TTL end a cached key's life."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from memtrace.errors import AuthenticationError
from memtrace.stores.sqlite import SQLiteDatabase, SQLiteMetadataStore
from memtrace.timeparse import now_us
from memtrace_server.auth import Authenticator, credential_from_headers
from memtrace_server.keys import KeyStore, Principal, bootstrap


class CountingKeyStore(KeyStore):
    """The real key store, counting how often a key is verified against the database (bcrypt)."""

    verifications = 0

    def verify(self, key: str) -> Principal | None:
        self.verifications += 1
        return super().verify(key)


async def run_sync(fn, *args):  # type: ignore[no-untyped-def]
    return await asyncio.to_thread(functools.partial(fn, *args))


@pytest.fixture
def stores(tmp_path: Path) -> tuple[CountingKeyStore, KeyStore]:
    """Two key stores on one data directory: the server's, and another process's (like the CLI)."""
    server = CountingKeyStore(SQLiteMetadataStore(SQLiteDatabase(tmp_path)))
    bootstrap(server)
    return server, KeyStore(SQLiteMetadataStore(SQLiteDatabase(tmp_path)))


async def test_warm_requests_do_not_touch_the_store(stores: tuple[CountingKeyStore, KeyStore]) -> None:
    server, _ = stores
    row, key = server.create("org_default", "app", "read")
    auth = Authenticator(server, run_sync=run_sync)
    principal = await auth.authenticate(key)
    assert (
        principal.org_id == "org_default" and principal.permissions == {"read"} and principal.key_id == row.id
    )
    for _ in range(50):
        assert await auth.authenticate(key) == principal
    assert server.verifications == 1


async def test_concurrent_cold_requests_share_one_check(stores: tuple[CountingKeyStore, KeyStore]) -> None:
    server, _ = stores
    _, key = server.create("org_default", "app", "read,write")
    auth = Authenticator(server, run_sync=run_sync)
    results = await asyncio.gather(*(auth.authenticate(key) for _ in range(16)))
    assert len({r.key_id for r in results}) == 1 and server.verifications == 1


async def test_unknown_and_missing_keys_are_rejected(stores: tuple[CountingKeyStore, KeyStore]) -> None:
    server, _ = stores
    auth = Authenticator(server, run_sync=run_sync)
    with pytest.raises(AuthenticationError, match="missing API key"):
        await auth.authenticate(None)
    with pytest.raises(AuthenticationError, match="invalid API key"):
        await auth.authenticate("mtk_" + "B" * 43 + "=")
    with pytest.raises(AuthenticationError):
        await auth.authenticate("not a key at all")


async def test_revocation_elsewhere_is_picked_up_by_the_poll(
    stores: tuple[CountingKeyStore, KeyStore],
) -> None:
    server, other_process = stores
    row, key = server.create("org_default", "app", "read")
    auth = Authenticator(server, run_sync=run_sync)
    await auth.authenticate(key)
    assert other_process.revoke(row.id)
    assert (await auth.authenticate(key)).key_id == row.id  # still cached: no per-request lookup
    auth.retain(await run_sync(server.enabled_ids))  # one revocation poll
    with pytest.raises(AuthenticationError):
        await auth.authenticate(key)


async def test_revocation_here_evicts_at_once(stores: tuple[CountingKeyStore, KeyStore]) -> None:
    server, _ = stores
    row, key = server.create("org_default", "app", "read")
    auth = Authenticator(server, run_sync=run_sync)
    await auth.authenticate(key)
    server.revoke(row.id)
    auth.evict(key_id=row.id)
    with pytest.raises(AuthenticationError):
        await auth.authenticate(key)


async def test_ttl_and_expiry_end_a_cached_key(stores: tuple[CountingKeyStore, KeyStore]) -> None:
    server, _ = stores
    _, key = server.create("org_default", "short-ttl", "read")
    auth = Authenticator(server, run_sync=run_sync, ttl_seconds=0.05)
    await auth.authenticate(key)
    await asyncio.sleep(0.1)
    await auth.authenticate(key)
    assert server.verifications == 2  # re-verified after the TTL
    # Room for two bcrypt runs on a loaded machine before the key expires (300 ms was not always enough).
    expires_us = now_us() + 1_500_000
    _, expiring = server.create("org_default", "expiring", "read", expires_us=expires_us)
    auth = Authenticator(server, run_sync=run_sync)
    await auth.authenticate(expiring)
    await asyncio.sleep(max(0.0, (expires_us - now_us()) / 1e6) + 0.1)
    with pytest.raises(AuthenticationError):
        await auth.authenticate(expiring)


def test_keys_come_from_x_api_key_or_bearer() -> None:
    def key(*headers: tuple[str, str]) -> str | None:
        return credential_from_headers([(n.encode(), v.encode()) for n, v in headers])

    assert key(("x-api-key", "mtk_a")) == "mtk_a"
    assert key(("authorization", "Bearer mtk_b")) == "mtk_b"
    assert key(("authorization", "bearer  mtk_b ")) == "mtk_b"
    assert key(("authorization", "mtk_raw")) == "mtk_raw"  # the original used a raw value too
    assert key(("x-api-key", "mtk_a"), ("authorization", "Bearer mtk_a")) == "mtk_a"  # the same key twice
    assert key() is None


async def test_recent_failures_are_refused_without_a_lookup_until_a_key_appears(
    stores: tuple[CountingKeyStore, KeyStore],
) -> None:
    server, cli = stores
    _, revoked = server.create("org_default", "old", "read")
    server.revoke(next(r.id for r in server.list_keys() if r.name == "old"))
    auth = Authenticator(server, run_sync=run_sync)
    auth.retain(server.enabled_ids())
    for _ in range(20):  # a revoked key shares its lookup prefix with a row: each check would pay bcrypt
        with pytest.raises(AuthenticationError):
            await auth.authenticate(revoked)
    with pytest.raises(AuthenticationError):
        await auth.authenticate("not-even-a-key")
    assert server.verifications == 1
    cli.create("org_default", "new", "read")  # elsewhere: the poll sees a new key and forgets the failures
    auth.retain(server.enabled_ids())
    with pytest.raises(AuthenticationError):
        await auth.authenticate(revoked)
    assert server.verifications == 2


async def test_the_revocation_poll_reads_the_key_table_only_when_the_keys_version_changed(
    stores: tuple[CountingKeyStore, KeyStore],
) -> None:
    server, other = stores
    reads = 0
    enabled_ids = server.enabled_ids

    def counted() -> set[int]:
        nonlocal reads
        reads += 1
        return enabled_ids()

    server.enabled_ids = counted  # type: ignore[method-assign]
    row, key = server.create("org_default", "app", "read")
    auth = Authenticator(server, run_sync=run_sync)
    await auth.authenticate(key)
    poll = asyncio.create_task(auth.poll_revocations(0.01))
    try:
        await asyncio.sleep(0.3)
        assert reads == 1  # the first tick; the version has not changed since
        other.revoke(row.id)  # revoked by another process
        for _ in range(100):
            await asyncio.sleep(0.01)
            if reads == 2:
                break
        with pytest.raises(AuthenticationError):  # the poll evicted it: the key is checked again, and refused
            await auth.authenticate(key)
        assert reads == 2
    finally:
        poll.cancel()
