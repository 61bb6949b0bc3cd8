"""Config cache rules: version-checked writes, single flight, invalidation everywhere, Redis loss.

These run against the real engines: SQLite with the in-process KV/bus (one process) and
PostgreSQL with Redis (many processes).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest

from sidecar.config.cache import Lookup, id_key, slug_key
from sidecar.config.kv import ABSENT, DATA, KV, TOMBSTONE, MemoryKV, RedisKV
from sidecar.config.models import ChannelIn
from sidecar.config.store import ChannelKeyRef
from sidecar.redis_link import RedisLink
from sidecar.services import Services
from sidecar.telemetry import catalogue as m
from tests.conftest import REDIS_URL, RedisServer, make_settings, unique_slug
from tests.scrape import Scrape


def sample(metric: object, **labels: str) -> float:
    name = metric._name  # type: ignore[attr-defined]
    suffix = "_count" if metric._type == "histogram" else ("_total" if metric._type == "counter" else "")  # type: ignore[attr-defined]
    value = m.registry.get_sample_value(name + suffix, labels)
    return value or 0.0


def selects() -> float:
    return sample(m.db_query_seconds, operation="select")


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    if request.param == "memory":
        yield MemoryKV()
    else:
        link = RedisLink(REDIS_URL)
        yield RedisKV(link)
        await link.close()


async def test_kv_never_replaces_newer_with_older(kv: KV) -> None:
    key = f"channel:{unique_slug()}:c"
    assert await kv.put(key, 5, DATA, '{"v":5}', 60)
    assert not await kv.put(key, 4, DATA, '{"v":4}', 60), "older version must lose"
    assert (await kv.get(key)).version == 5  # type: ignore[union-attr]
    # Invalidation leaves a tombstone at the new version: a slow reader holding v5 cannot write back.
    assert await kv.invalidate([(key, 6)], 60) == 1
    entry = await kv.get(key)
    assert entry is not None and entry.kind == TOMBSTONE and entry.version == 6
    assert not await kv.put(key, 5, DATA, '{"v":5}', 60)
    assert await kv.put(key, 6, DATA, '{"v":6}', 60)
    # An invalidation older than what is cached changes nothing.
    assert await kv.invalidate([(key, 3)], 60) == 0
    assert (await kv.get(key)).kind == DATA  # type: ignore[union-attr]
    # Tombstones do not count as dropped keys.
    assert await kv.invalidate([(key, 7)], 60) == 1
    assert await kv.invalidate([(key, 8)], 60) == 0
    assert await kv.put(key, 9, ABSENT, "", 60)


@pytest.fixture(params=["sqlite-memory", "postgres-redis"])
async def svc(request: pytest.FixtureRequest) -> AsyncIterator[Services]:
    if request.param == "sqlite-memory":
        settings = make_settings(database_url=request.getfixturevalue("sqlite_url"))
    else:
        settings = make_settings(database_url=request.getfixturevalue("pg_url"), redis_url=REDIS_URL)
    services = Services.build(settings)
    await services.start()
    yield services
    await services.close()


async def _channel(svc: Services, slug: str = "sports1") -> tuple[str, ChannelKeyRef]:
    org = await svc.store.create_org(unique_slug(), "Org")
    _, ref = await svc.store.create_channel(
        org.id, ChannelIn.model_validate({"slug": slug, "name": "S", "origin_url": "http://origin.test/m.m3u8"})
    )
    return org.id, ref


async def test_thousand_concurrent_cold_reads_cost_one_query(svc: Services) -> None:
    _, ref = await _channel(svc)
    before_selects = selects()
    before_coalesced = sample(m.config_coalesced_total)
    results = await asyncio.gather(*(svc.cache.get(ref.org_slug, ref.slug) for _ in range(1000)))
    assert selects() - before_selects == 1
    assert sample(m.config_coalesced_total) - before_coalesced == 999
    assert {r.version for r in results if r} == {ref.version} and all(results)


async def test_write_then_read_sees_new_version_at_once(svc: Services) -> None:
    org_id, ref = await _channel(svc)
    first = await svc.cache.get(ref.org_slug, ref.slug)
    assert first is not None and first.origin_url == "http://origin.test/m.m3u8"
    _, after, refs = await svc.store.update_channel(org_id, ref.id, {"origin_url": "http://new.test/m.m3u8"})
    report = await svc.invalidator.after_write(refs, warm=False)
    assert report.ok and report.keys_dropped >= 1
    again = await svc.cache.get(ref.org_slug, ref.slug)
    assert again is not None and again.version == after.version and again.origin_url == "http://new.test/m.m3u8"
    by_id = await svc.cache.get_by_id(ref.id)
    assert by_id is not None and by_id.version == after.version


async def test_absent_channel_is_cached_until_created(svc: Services) -> None:
    org = await svc.store.create_org(unique_slug(), "Org")
    assert await svc.cache.get(org.slug, "later") is None
    before = selects()
    assert await svc.cache.get(org.slug, "later") is None
    assert selects() == before, "a known absence is served from cache"
    _, ref = await svc.store.create_channel(
        org.id, ChannelIn.model_validate({"slug": "later", "name": "S", "origin_url": "http://origin.test/m.m3u8"})
    )
    await svc.invalidator.after_write([ref], warm=False)
    found = await svc.cache.get(org.slug, "later")
    assert found is not None and found.id == ref.id


async def test_slow_read_through_cannot_write_back_an_old_version(svc: Services) -> None:
    """The seed's warm race: a reader loads v1, a write commits v2 and invalidates, then the
    reader's write-back lands. Here the write-back is refused in KV and in L1."""
    org_id, ref = await _channel(svc)
    key = slug_key(ref.org_slug, ref.slug)
    _, stale = await svc.store.read_config(org_slug=ref.org_slug, channel_slug=ref.slug)  # the slow reader's read
    assert stale is not None
    _, after, refs = await svc.store.update_channel(org_id, ref.id, {"name": "Renamed"})
    await svc.invalidator.after_write(refs, warm=False)
    # The slow reader finishes now and tries to populate both layers with what it read.
    assert not await svc.kv.put(key, stale.version, DATA, stale.model_dump_json(), 60)
    assert not svc.cache.l1.put(key, Lookup(stale.version, stale))
    fresh = await svc.cache.get(ref.org_slug, ref.slug)
    assert fresh is not None and fresh.name == "Renamed" and fresh.version == after.version


async def test_warms_racing_writes_settle_on_the_newest_version(svc: Services) -> None:
    """Writers, warmers and readers interleave freely; afterwards every layer holds the newest."""
    org_id, ref = await _channel(svc)
    stop = asyncio.Event()

    async def writer() -> None:
        for i in range(15):
            _, _, refs = await svc.store.update_channel(org_id, ref.id, {"name": f"n{i}"})
            await svc.invalidator.after_write(refs, warm=random.random() < 0.5)
            await asyncio.sleep(random.random() * 0.005)
        stop.set()

    async def warmer() -> None:
        while not stop.is_set():
            current = await svc.store.get_channel(org_id, ref.id)
            await svc.invalidator.warm(ChannelKeyRef(ref.id, ref.org_slug, ref.slug, current.version))

    async def reader() -> None:
        while not stop.is_set():
            await svc.cache.get(ref.org_slug, ref.slug)
            await svc.cache.get_by_id(ref.id)
            await asyncio.sleep(0)

    await asyncio.gather(writer(), warmer(), warmer(), reader(), reader())
    truth = await svc.store.get_channel(org_id, ref.id)
    for key in (slug_key(ref.org_slug, ref.slug), id_key(ref.id)):
        entry = await svc.kv.get(key)
        assert entry is not None
        assert entry.kind == TOMBSTONE or entry.version == truth.version
        hit = svc.cache.l1.get(key)
        assert hit is None or hit.version == truth.version
    seen = await svc.cache.get(ref.org_slug, ref.slug)
    assert seen is not None and seen.version == truth.version and seen.name == "n14"


async def test_invalidation_reaches_another_cache_instance(pg_url: str) -> None:
    """Two service instances (as two processes would be) share PostgreSQL and Redis; a write
    through one drops the other's L1 via pub/sub."""
    a = Services.build(make_settings(database_url=pg_url, redis_url=REDIS_URL, config_l1_ttl_seconds=300))
    b = Services.build(make_settings(database_url=pg_url, redis_url=REDIS_URL, config_l1_ttl_seconds=300))
    await a.start()
    await b.start()
    try:
        org_id, ref = await _channel(a)
        assert (await b.cache.get(ref.org_slug, ref.slug)) is not None
        assert b.cache.l1.get(slug_key(ref.org_slug, ref.slug)) is not None
        _, after, refs = await a.store.update_channel(org_id, ref.id, {"name": "Changed"})
        await a.invalidator.after_write(refs, warm=False)
        for _ in range(100):
            if b.cache.l1.get(slug_key(ref.org_slug, ref.slug)) is None:
                break
            await asyncio.sleep(0.01)
        seen = await b.cache.get(ref.org_slug, ref.slug)
        assert seen is not None and seen.version == after.version and seen.name == "Changed"
    finally:
        await a.close()
        await b.close()


async def test_redis_down_reads_fall_back_to_the_store(sqlite_url: str, private_redis: RedisServer) -> None:
    svc = Services.build(
        make_settings(database_url=sqlite_url, redis_url=private_redis.url, redis_retry_after_seconds=0.2)
    )
    await svc.start()
    try:
        org_id, ref = await _channel(svc)
        assert await svc.cache.get(ref.org_slug, ref.slug) is not None
        assert svc.bus.connected
        private_redis.stop()
        errors_before = sample(m.redis_errors_total, component="kv")
        # Writes still commit; the invalidation is reported as not done and queued for retry.
        _, after, refs = await svc.store.update_channel(org_id, ref.id, {"name": "While down"})
        report = await svc.invalidator.after_write(refs, warm=False)
        assert not report.ok and "retry" in (report.error or "")
        for _ in range(300):
            if not svc.bus.connected:
                break
            await asyncio.sleep(0.01)
        assert not svc.bus.connected, "the bus notices Redis is gone"
        # Reads keep answering, from the store, with the new config (L1 is not trusted now).
        for _ in range(5):
            seen = await svc.cache.get(ref.org_slug, ref.slug)
            assert seen is not None and seen.name == "While down" and seen.version == after.version
        assert sample(m.redis_errors_total, component="kv") > errors_before
        # Redis comes back: the queued invalidation is replayed and the cache is used again.
        private_redis.start()
        for _ in range(500):
            if svc.bus.connected and await svc.cache.retry_pending() == 0:
                break
            await asyncio.sleep(0.02)
        assert svc.bus.connected
        seen = await svc.cache.get(ref.org_slug, ref.slug)
        assert seen is not None and seen.version == after.version
    finally:
        await svc.close()


def propagation(scrape: Scrape, org: str) -> dict[str, float]:
    name = "ssai_config_propagation_seconds"
    out = {key: scrape.get(f"{name}_{key}", org=org) or 0.0 for key in ("count", "sum")}
    for le in ("1.0", "2.0", "5.0"):
        out[f"bucket:{le}"] = scrape.get(f"{name}_bucket", org=org, le=le) or 0.0
    return out


async def settled_propagation(org: str) -> dict[str, float]:
    Scrape()  # a series born at run time is shown at zero by the first scrape
    return propagation(Scrape(), org)


async def test_every_receiving_process_measures_from_the_write_time(pg_url: str) -> None:
    """The committed write's timestamp travels with the invalidation: each process that drops its
    copy observes the time since then (two service instances here, sharing this interpreter's
    registry, so each invalidation is observed twice)."""
    a = Services.build(make_settings(database_url=pg_url, redis_url=REDIS_URL))
    b = Services.build(make_settings(database_url=pg_url, redis_url=REDIS_URL))
    await a.start()
    await b.start()
    try:
        _, ref = await _channel(a)
        assert await b.cache.get(ref.org_slug, ref.slug) is not None
        await a.invalidator.invalidate([ref], written_at=time.time() - 0.3)
        for _ in range(100):
            if (await settled_propagation(ref.org_slug))["count"] == 2:
                break
            await asyncio.sleep(0.01)
        before = await settled_propagation(ref.org_slug)
        assert before["count"] == 2 and before["bucket:1.0"] == 2 and before["sum"] >= 0.6
        # A write committed 3 s ago (as if the message had been stuck): both observe > 2 s.
        await a.invalidator.invalidate([ref], written_at=time.time() - 3.0)
        for _ in range(100):
            after = await settled_propagation(ref.org_slug)
            if after["count"] == 4:
                break
            await asyncio.sleep(0.01)
        assert after["count"] == 4
        assert (after["bucket:2.0"], after["bucket:5.0"]) == (2, 4)
        assert after["sum"] - before["sum"] >= 6.0
    finally:
        await a.close()
        await b.close()


async def test_a_replayed_invalidation_keeps_its_write_time(sqlite_url: str, private_redis: RedisServer) -> None:
    """Queued while Redis was away and replayed later: its propagation includes the outage."""
    svc = Services.build(
        make_settings(database_url=sqlite_url, redis_url=private_redis.url, redis_retry_after_seconds=0.2)
    )
    await svc.start()
    try:
        org_id, ref = await _channel(svc)
        private_redis.stop()
        _, _, refs = await svc.store.update_channel(org_id, ref.id, {"name": "While down"})
        report = await svc.invalidator.after_write(refs, warm=False)
        assert not report.ok
        await asyncio.sleep(1.0)
        private_redis.start()
        for _ in range(500):
            if svc.bus.connected and await svc.cache.retry_pending() == 0:
                break
            await asyncio.sleep(0.02)
        seen = await settled_propagation(ref.org_slug)
        assert seen["count"] >= 1 and seen["sum"] >= 1.0, "measured from the commit, not from the replay"
    finally:
        await svc.close()
