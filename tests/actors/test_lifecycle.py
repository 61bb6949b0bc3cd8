"""Lifecycle counts come from the slot's durable ledger (ADR 0010): read through the exposition, the
way Prometheus reads them, across "processes" of one worker slot (a runtime that stops without any
clean end, and a fresh runtime for the same slot), against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from sidecar.actors.durable import DurableState
from sidecar.actors.lifecycle import Lifecycle
from sidecar.actors.runtime import ActorRuntime
from sidecar.bus import LocalBus
from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from sidecar.telemetry import catalogue as m
from tests.conftest import unique_slug
from tests.scrape import Scrape


@pytest.fixture
async def channel(store: Store) -> AsyncIterator[tuple[str, str, str, str]]:
    org = await store.create_org(unique_slug(), "Org")
    ch, _ = await store.create_channel(
        org.id, ChannelIn.model_validate({"slug": "sports1", "name": "S", "origin_url": "http://o.test/m.m3u8"})
    )
    yield org.id, org.slug, ch.id, ch.slug


def runtime(store: Store, slot: str, **kw: float) -> ActorRuntime:
    options = {"idle_seconds": 300.0, "churn_window": 60.0, "heartbeat_seconds": 3600.0, **kw}
    return ActorRuntime(DurableState(store.engine), LocalBus(), slot=slot, **options)  # type: ignore[arg-type]


async def settled(rt: ActorRuntime) -> Scrape:
    """Registrations landed, young requests flushed, and what a scrape shows once every new series
    has been shown at zero and that is recorded (two scrapes, with a flush between)."""
    await asyncio.gather(*rt._registrations)
    await rt.lifecycle.flush(rt.live())
    Scrape()
    await rt.lifecycle.flush(rt.live())
    return Scrape()


def crash(rt: ActorRuntime) -> None:
    """The process dies: its background work stops and nothing is ended cleanly."""
    for task in rt._tasks:
        task.cancel()


async def test_a_crash_is_counted_by_the_successor_and_totals_continue(
    store: Store, channel: tuple[str, str, str, str]
) -> None:
    org_id, org, channel_id, slug = channel
    who = {"org": org, "channel": slug}
    slot = unique_slug("slot")
    first = runtime(store, slot)
    await first.start()
    actor = await first.get("SJC", org_id, org, channel_id, slug)
    await first.heartbeat()
    before = await settled(first)
    assert before.get("ssai_actor_instance_starts_total", reason="new", **who) == 1
    assert before.get("ssai_actor_churn_total", **who) == 0
    crashes_before = before.get("ssai_process_starts_total", reason="crash") or 0

    crash(first)
    second = runtime(store, slot)
    await second.start()  # a new process of the same slot
    successor = await second.get("SJC", org_id, org, channel_id, slug)
    assert successor.instance_id != actor.instance_id
    after = await settled(second)
    assert after.get("ssai_actor_churn_total", **who) == 1
    assert after.get("ssai_actor_instance_starts_total", reason="churn", **who) == 1
    assert after.get("ssai_actor_instance_starts_total", reason="new", **who) == 1, "the total continues"
    assert after.get("ssai_actor_lifetime_seconds_count", reason="crash") == (
        (before.get("ssai_actor_lifetime_seconds_count", reason="crash") or 0) + 1
    )
    assert after.get("ssai_process_starts_total", reason="crash") == crashes_before + 1
    await second.close()


async def test_lifetime_is_observed_at_idle_eviction_shutdown_and_crash(
    store: Store, channel: tuple[str, str, str, str]
) -> None:
    org_id, org, channel_id, slug = channel
    slot = unique_slug("slot")
    rt = runtime(store, slot, idle_seconds=0.2)
    await rt.start()
    ledger = await rt.lifecycle.ready()

    def ends(reason: str) -> float:
        return ledger.value("ssai_actor_lifetime_seconds", {"reason": reason}, "le=+Inf")

    await rt.get("SJC", org_id, org, channel_id, slug)
    for _ in range(200):
        if not rt.live():
            break
        await asyncio.sleep(0.02)
    assert rt.live() == [] and ends("idle") == 1
    await rt.get("LHR", org_id, org, channel_id, slug)
    await rt.close()  # graceful shutdown: recorded durably before the process goes
    assert ends("shutdown") == 1

    again = runtime(store, slot)
    await again.start()
    shown = await settled(again)  # the slot's next process exports what the last one recorded
    assert shown.get("ssai_actor_lifetime_seconds_count", reason="idle") == 1
    assert shown.get("ssai_actor_lifetime_seconds_count", reason="shutdown") == 1
    assert shown.get("ssai_actor_evictions_total", reason="shutdown") == 1
    await again.get("SJC", org_id, org, channel_id, slug)
    await again.heartbeat()
    await asyncio.sleep(0.05)
    await again.heartbeat()
    crash(again)
    third = runtime(store, slot)
    await third.get("SJC", org_id, org, channel_id, slug)
    await asyncio.gather(*third._registrations)
    third_ledger = await third.lifecycle.ready()
    assert third_ledger.value("ssai_actor_lifetime_seconds", {"reason": "crash"}, "le=+Inf") == 1
    lived = third_ledger.value("ssai_actor_lifetime_seconds", {"reason": "crash"}, "sum")
    assert 0.04 <= lived < 5, "from creation to the last durable heartbeat"
    await third.close()


async def test_young_instance_requests_are_committed_and_survive_a_crash(
    store: Store, channel: tuple[str, str, str, str]
) -> None:
    org_id, org, channel_id, slug = channel
    who = {"org": org, "channel": slug}
    slot = unique_slug("slot")
    rt = runtime(store, slot)
    actor = await rt.get("SJC", org_id, org, channel_id, slug)
    for _ in range(7):
        actor.touch()
    await rt.lifecycle.flush(rt.live())
    actor.touch()
    await rt.lifecycle.flush(rt.live())
    crash(rt)
    successor = runtime(store, slot)
    ledger = await successor.lifecycle.ready()
    assert ledger.value("ssai_actor_young_instance_requests_total", who) == 8, "each request once"
    await successor.close()


async def test_a_series_is_shown_at_zero_before_its_value(store: Store, channel: tuple[str, str, str, str]) -> None:
    """Prometheus cannot see an increase into a series' first sample: the first scrape that has
    the series shows 0, and the value only once that is recorded durably."""
    org_id, org, channel_id, slug = channel
    who = {"org": org, "channel": slug, "reason": "new"}
    slot = unique_slug("slot")
    rt = runtime(store, slot)
    await rt.get("SJC", org_id, org, channel_id, slug)
    await asyncio.gather(*rt._registrations)
    assert (await rt.lifecycle.ready()).value("ssai_actor_instance_starts_total", who) == 1
    assert Scrape().get("ssai_actor_instance_starts_total", **who) == 0
    assert Scrape().get("ssai_actor_instance_starts_total", **who) == 0, "not recorded as seen yet"
    await rt.lifecycle.flush([])
    assert Scrape().get("ssai_actor_instance_starts_total", **who) == 1
    # A new process of the slot knows the series was seen: it shows the value at once.
    crash(rt)
    successor = runtime(store, slot)
    await successor.lifecycle.ready()
    assert Scrape().get("ssai_actor_instance_starts_total", **who) == 1
    await successor.close()


async def test_counts_no_scrape_has_seen_start_at_zero_in_the_next_process(
    store: Store, channel: tuple[str, str, str, str]
) -> None:
    """A process killed before its first scrape: its counts are shown at zero first by the next."""
    org_id, org, channel_id, slug = channel
    who = {"org": org, "channel": slug, "reason": "new"}
    slot = unique_slug("slot")
    rt = runtime(store, slot)
    await rt.get("SJC", org_id, org, channel_id, slug)
    await asyncio.gather(*rt._registrations)
    crash(rt)
    m.lifecycle.forget(rt.lifecycle.ledger)  # type: ignore[arg-type]  # it never exported anything
    successor = runtime(store, slot)
    await successor.lifecycle.ready()
    assert Scrape().get("ssai_actor_instance_starts_total", **who) == 0
    await successor.lifecycle.flush([])
    assert Scrape().get("ssai_actor_instance_starts_total", **who) == 1
    await successor.close()


async def test_nothing_is_exported_before_the_ledger_is_loaded(store: Store) -> None:
    """Zeros before the slot's totals are known would read as a reset of those totals."""
    saved = dict(m.lifecycle.ledgers)
    m.lifecycle.ledgers.clear()
    try:
        assert not {n for n in Scrape().names() if n.startswith("ssai_process_starts")}
        lifecycle = Lifecycle(DurableState(store.engine), unique_slug("slot"))
        await lifecycle.ready()
        assert Scrape().get("ssai_process_starts_total", reason="crash") == 0
        await lifecycle.close()
    finally:
        m.lifecycle.ledgers.update(saved)


async def test_process_starts_by_how_the_previous_run_ended(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    slot = unique_slug("slot")
    reasons = []
    for ending in ("clean", "crash", None):
        lifecycle = Lifecycle(DurableState(store.engine), slot)
        with caplog.at_level(logging.INFO, logger="sidecar.actors"):
            reasons.append(await lifecycle.open())
        if ending == "clean":
            await lifecycle.close()
        elif ending == "crash":
            m.lifecycle.forget(lifecycle.ledger)  # type: ignore[arg-type]
    assert reasons == ["first", "clean", "crash"]
    ledger = await lifecycle.ready()
    assert [ledger.value("ssai_process_starts_total", {"reason": r}) for r in ("first", "clean", "crash")] == [1, 1, 1]
    crashes = [r for r in caplog.records if getattr(r, "event", None) == "process_crash_detected"]
    assert len(crashes) == 1 and slot in crashes[0].getMessage()
    await lifecycle.close()


async def test_channels_that_no_longer_exist_leave_the_ledger(
    store: Store, channel: tuple[str, str, str, str]
) -> None:
    org_id, org, channel_id, slug = channel
    slot = unique_slug("slot")
    rt = runtime(store, slot)
    await rt.get("SJC", org_id, org, channel_id, slug)
    await rt.close()
    await store.delete_channel(org_id, slug)
    again = runtime(store, slot)
    ledger = await again.lifecycle.ready()
    assert (org, slug) not in ledger.channels()
    assert not [s for s in ledger.values if json.loads(s.labels).get("org") == org]
    await again.close()
