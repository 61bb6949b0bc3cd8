"""Actor runtime against the real store: CAS, cross-colo visibility, churn, young instances."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from sidecar.actors.durable import DurableState, VersionConflict
from sidecar.actors.runtime import ActorRuntime
from sidecar.actors.state import ChannelState, start_break
from sidecar.bus import LocalBus, RedisBus
from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from sidecar.redis_link import RedisLink
from sidecar.telemetry import catalogue as m
from tests.conftest import REDIS_URL, RedisServer, unique_slug
from tests.scrape import Scrape


def metric(name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


async def new_channel(store: Store) -> tuple[str, str, str, str]:
    org = await store.create_org(unique_slug(), "Org")
    channel, _ = await store.create_channel(
        org.id, ChannelIn.model_validate({"slug": "sports1", "name": "S", "origin_url": "http://o.test/m.m3u8"})
    )
    return org.id, org.slug, channel.id, channel.slug


def runtime(store: Store, bus: object, **kw: float | str) -> ActorRuntime:
    options: dict[str, object] = {
        "slot": "test-slot",
        "idle_seconds": 300.0,
        "churn_window": 60.0,
        "heartbeat_seconds": 3600.0,
    }
    options.update(kw)
    return ActorRuntime(DurableState(store.engine), bus, **options)  # type: ignore[arg-type]


def start(event: str, duration: float = 30.0):  # type: ignore[no-untyped-def]
    def transition(state: ChannelState, now: float) -> ChannelState | None:
        return start_break(state, now=now, duration=duration, source="manual", event_id=event)

    return transition


async def test_compare_and_set_lets_exactly_one_writer_win(store: Store) -> None:
    org_id, _, channel_id, _ = await new_channel(store)
    durable = DurableState(store.engine)
    s = ChannelState()
    first = await durable.compare_and_set(channel_id, org_id, 0, s)
    assert first.version == 1
    with pytest.raises(VersionConflict):
        await durable.compare_and_set(channel_id, org_id, 0, s)
    results = await asyncio.gather(
        *(durable.compare_and_set(channel_id, org_id, 1, s) for _ in range(5)), return_exceptions=True
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, Exception))
    assert (await durable.load(channel_id)).version == 2


async def test_concurrent_writers_in_two_colos_never_lose_an_update(store: Store) -> None:
    """SJC and LHR instances of one channel race; the loser reloads and re-applies its change."""
    org_id, org_slug, channel_id, slug = await new_channel(store)
    rt = runtime(store, LocalBus())
    sjc = await rt.get("SJC", org_id, org_slug, channel_id, slug)
    lhr = await rt.get("LHR", org_id, org_slug, channel_id, slug)
    assert sjc is not lhr and sjc.name == f"SJC:{org_slug}:{slug}"
    conflicts = metric("ssai_state_persist_total", result="conflict")
    outcome = await asyncio.gather(sjc.mutate(start("ev-1")), lhr.mutate(start("ev-1")))
    changed = [c for _, c in outcome]
    assert sorted(changed) == [False, True], "one starts the break, the other sees it already started"
    assert sjc.version == lhr.version == 1
    assert sjc.state == lhr.state
    # Two different cues racing from two colos after a stop: one wins; the other is told a break
    # is running instead of silently overwriting it (a lost update without compare-and-set).
    from sidecar.actors.state import BreakActive, stop_break

    await sjc.mutate(lambda st, now: stop_break(st, now=now))
    results = await asyncio.gather(sjc.mutate(start("ev-2")), lhr.mutate(start("ev-3")), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1 and isinstance(losers[0], BreakActive)
    stored = await DurableState(store.engine).load(channel_id)
    assert stored.state.current is not None
    assert stored.state.current.event_id == winners[0][0].state.current.event_id  # type: ignore[union-attr]
    assert losers[0].current.event_id == stored.state.current.event_id
    assert [b.event_id for b in stored.state.history] == ["ev-1"]
    assert stored.version == 3
    assert metric("ssai_state_persist_total", result="conflict") > conflicts
    await rt.close()


async def test_cue_in_one_colo_is_seen_by_another_process_over_redis(pg_url: str) -> None:
    store_a, store_b = Store.from_url(pg_url), Store.from_url(pg_url)
    link_a, link_b = RedisLink(REDIS_URL), RedisLink(REDIS_URL)
    bus_a, bus_b = RedisBus(link_a), RedisBus(link_b)
    rt_a, rt_b = runtime(store_a, bus_a, slot="a"), runtime(store_b, bus_b, slot="b")
    await bus_a.start()
    await bus_b.start()
    try:
        org_id, org_slug, channel_id, slug = await new_channel(store_a)
        sjc = await rt_a.get("SJC", org_id, org_slug, channel_id, slug)
        lhr = await rt_b.get("LHR", org_id, org_slug, channel_id, slug)
        syncs = metric("ssai_actor_state_syncs_total", via="bus")
        stored, changed = await sjc.mutate(start("ev-x"))
        assert changed
        for _ in range(200):
            if lhr.version == stored.version:
                break
            await asyncio.sleep(0.005)
        assert lhr.version == stored.version and lhr.state.current is not None
        assert lhr.state.current.event_id == "ev-x"
        assert metric("ssai_actor_state_syncs_total", via="bus") == syncs + 1
    finally:
        for rt in (rt_a, rt_b):
            await rt.close()
        for bus in (bus_a, bus_b):
            await bus.close()
        for link in (link_a, link_b):
            await link.close()
        await store_a.close()
        await store_b.close()


async def test_version_check_is_the_backstop_when_redis_is_down(sqlite_url: str, private_redis: RedisServer) -> None:
    store = Store.from_url(sqlite_url)
    writer_link, reader_link = (
        RedisLink(private_redis.url, retry_after=0.1),
        RedisLink(private_redis.url, retry_after=0.1),
    )
    writer_bus, reader_bus = RedisBus(writer_link), RedisBus(reader_link)
    await writer_bus.start()
    await reader_bus.start()
    writer = runtime(store, writer_bus, slot="w")
    reader = runtime(store, reader_bus, slot="r", version_check_seconds=0.05)
    try:
        org_id, org_slug, channel_id, slug = await new_channel(store)
        lhr = await reader.get("LHR", org_id, org_slug, channel_id, slug)
        sjc = await writer.get("SJC", org_id, org_slug, channel_id, slug)
        private_redis.stop()
        for _ in range(300):
            if not reader_bus.connected:
                break
            await asyncio.sleep(0.01)
        assert not reader_bus.connected
        stored, _ = await sjc.mutate(start("while-down"))  # the announcement cannot be delivered
        assert lhr.version < stored.version
        await asyncio.sleep(0.06)
        again = await reader.get("LHR", org_id, org_slug, channel_id, slug)
        assert again is lhr and lhr.version == stored.version, "the version check found the change"
    finally:
        await writer.close()
        await reader.close()
        await writer_bus.close()
        await reader_bus.close()
        await writer_link.close()
        await reader_link.close()
        await store.close()


async def settled(rt: ActorRuntime) -> Scrape:
    """What scrapes show once the instance records have landed and every new lifecycle series has
    been shown at zero and recorded as seen (ADR 0010)."""
    await asyncio.gather(*rt._registrations)
    Scrape()
    await rt.lifecycle.flush(rt.live())
    return Scrape()


async def test_idle_eviction_is_not_churn_but_a_crash_is(store: Store) -> None:
    org_id, org_slug, channel_id, slug = await new_channel(store)
    labels = {"org": org_slug, "channel": slug}
    rt = runtime(store, LocalBus(), idle_seconds=0.2, slot=unique_slug("slot"))
    await rt.start()
    first = await rt.get("SJC", org_id, org_slug, channel_id, slug)
    first.touch()
    for _ in range(200):
        if not rt.live():
            break
        await asyncio.sleep(0.02)
    assert rt.live() == [], "idle instance evicted"
    second = await rt.get("SJC", org_id, org_slug, channel_id, slug)
    assert second is not first
    scrape = await settled(rt)
    assert scrape.get("ssai_actor_evictions_total", reason="idle") == 1
    assert scrape.get("ssai_actor_instance_starts_total", reason="clean", **labels) == 1
    assert scrape.get("ssai_actor_churn_total", **labels) == 0, "a clean idle eviction is not churn"
    # The process holding `second` dies without a clean end (its background work stops, nothing
    # is evicted) and a new process for the same worker slot starts moments later.
    for task in rt._tasks:
        task.cancel()
    crashed_successor = runtime(store, LocalBus(), slot=rt.slot)
    third = await crashed_successor.get("SJC", org_id, org_slug, channel_id, slug)
    assert third.instance_id != second.instance_id
    scrape = await settled(crashed_successor)
    assert scrape.get("ssai_actor_churn_total", **labels) == 1
    assert scrape.get("ssai_actor_instance_starts_total", reason="churn", **labels) == 1
    await crashed_successor.close()


async def test_young_instance_requests_and_age_are_measured(stack) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_tenant

    tenant = await make_tenant(stack.svc.store)
    await stack.admin.post(
        "/admin/channels", json={"slug": "c1", "name": "C", "originUrl": "http://127.0.0.1:9/m"}, headers=tenant.auth
    )
    labels = {"org": tenant.org_slug, "channel": "c1"}
    for _ in range(3):
        resp = await stack.viewer.get(f"/{tenant.org_slug}/c1/master.m3u8")
        assert resp.status == 502  # nothing listens on the origin port; the actor still counted it
    young = f'ssai_actor_young_instance_requests_total{{channel="c1",org="{tenant.org_slug}"}} 3.0'
    started = f'ssai_actor_instance_starts_total{{channel="c1",org="{tenant.org_slug}",reason="new"}} 1.0'
    text = ""
    for _ in range(100):  # committed by the runtime's background flush (every second), then scraped
        text = await (await stack.admin.get("/metrics")).text()
        if young in text and started in text:
            break
        await asyncio.sleep(0.1)
    assert young in text and started in text
    assert f'ssai_actor_instance_age_seconds_count{{channel="c1",org="{tenant.org_slug}"}} 3.0' in text
    assert f'ssai_actor_instance_age_seconds_bucket{{channel="c1",le="10.0",org="{tenant.org_slug}"}} 3.0' in text
    assert metric("ssai_actor_churn_total", **labels) == 0


async def test_viewer_requests_never_write_to_the_store(sqlite_url: str) -> None:
    """Heartbeats and lifecycle counts are written in the background; a manifest request of an
    instance past its young age performs no durable write, even with the background running."""
    from tests.conftest import make_tenant, start_stack

    stack = await start_stack(database_url=sqlite_url, actor_young_seconds=0.05)
    try:
        tenant = await make_tenant(stack.svc.store)
        await stack.admin.post(
            "/admin/channels", json={"slug": "c2", "name": "C", "originUrl": "http://127.0.0.1:9/m"},
            headers=tenant.auth,
        )
        await stack.viewer.get(f"/{tenant.org_slug}/c2/master.m3u8")  # creates the instance
        await asyncio.sleep(0.1)
        Scrape()  # its new series are shown at zero; the flush records that (a background write)
        await stack.svc.actors.lifecycle.flush(stack.svc.actors.live())
        writes = sum(metric("ssai_db_query_seconds_count", operation=op) for op in ("insert", "update", "delete"))
        for _ in range(50):
            await stack.viewer.get(f"/{tenant.org_slug}/c2/master.m3u8")
        await stack.svc.actors.lifecycle.flush(stack.svc.actors.live())
        after = sum(metric("ssai_db_query_seconds_count", operation=op) for op in ("insert", "update", "delete"))
        assert after == writes
        beats = metric("ssai_actor_heartbeat_writes_total")
        await stack.svc.actors.heartbeat()
        assert metric("ssai_actor_heartbeat_writes_total") == beats + 1
    finally:
        await stack.close()


async def test_state_survives_a_new_instance(store: Store) -> None:
    org_id, org_slug, channel_id, slug = await new_channel(store)
    rt = runtime(store, LocalBus())
    actor = await rt.get("SJC", org_id, org_slug, channel_id, slug)
    stored, _ = await actor.mutate(start("keep", 120))
    await rt.evict(actor.name, "idle")
    again = await rt.get("SJC", org_id, org_slug, channel_id, slug)
    assert again is not actor and again.stored == stored
    assert again.state.active_break(time.time()) is not None
    await rt.close()


@pytest.fixture
async def failing_store(sqlite_url: str) -> AsyncIterator[Store]:
    s = Store.from_url(sqlite_url)
    yield s
    await s.close()


async def test_failed_write_leaves_memory_unchanged(failing_store: Store) -> None:
    from sidecar.actors.channel import PersistError

    org_id, org_slug, channel_id, slug = await new_channel(failing_store)
    rt = runtime(failing_store, LocalBus())
    actor = await rt.get("SJC", org_id, org_slug, channel_id, slug)
    before = actor.stored
    failed = metric("ssai_state_persist_total", result="failed")
    await failing_store.engine.dispose()
    # Point the actor's durable storage at a database that cannot be written.
    from sqlalchemy.ext.asyncio import create_async_engine

    broken = create_async_engine("sqlite+aiosqlite:////nonexistent-dir/x.db")
    actor._durable = DurableState(broken)
    with pytest.raises(PersistError):
        await actor.mutate(start("lost"))
    assert actor.stored == before
    assert metric("ssai_state_persist_total", result="failed") == failed + 1
    await broken.dispose()
