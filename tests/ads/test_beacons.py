"""Beacon queue semantics shared by both queues: every test runs on the in-process queue and on the
Redis queue (real Redis on 127.0.0.1), against a real local HTTP beacon receiver. No mocks."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from sidecar.ads.beacons import Beacon, BeaconOptions, BeaconQueue, MemoryBeaconQueue, RedisBeaconQueue
from sidecar.redis_link import RedisLink
from sidecar.telemetry import catalogue as m
from tests.ads.adserver import BeaconReceiver
from tests.ads.beacon_server import ScriptedReceiver, counts_by_result, eventually, gauge
from tests.conftest import REDIS_URL

# Short everything: worst case send = 3 x 0.3 s + backoffs, well under claim_idle.
FAST: dict[str, Any] = dict(
    timeout=0.3, attempts=3, backoff=0.02, poll_interval=0.02, claim_idle=1.5, gauge_interval=0.05,
    drain_timeout=0.5,
)
# For trackers that hang on purpose: one long attempt.
PATIENT: dict[str, Any] = dict(timeout=3.0, attempts=1, claim_idle=4.0)

MakeQueue = Callable[..., MemoryBeaconQueue | RedisBeaconQueue]


@pytest.fixture
async def receiver() -> AsyncIterator[ScriptedReceiver]:
    r = ScriptedReceiver()
    await r.start()
    yield r
    r.gate.set()
    await r.close()


@pytest.fixture
async def redis_env() -> AsyncIterator[tuple[RedisLink, str]]:
    """A link to the shared test Redis and a key prefix of our own, deleted afterwards."""
    link = RedisLink(REDIS_URL, timeout=1.0)
    prefix = f"test:beacons:{secrets.token_hex(4)}"
    yield link, prefix
    keys = [k async for k in link.client.scan_iter(match=f"{{{prefix}}}*")]
    if keys:
        await link.client.delete(*keys)
    await link.close()


@pytest.fixture(params=["memory", "redis"])
async def make_queue(
    request: pytest.FixtureRequest, http: aiohttp.ClientSession, redis_env: tuple[RedisLink, str]
) -> AsyncIterator[MakeQueue]:
    link, prefix = redis_env
    made: list[BeaconQueue] = []

    def make(consumer: str = "c1", **overrides: Any) -> MemoryBeaconQueue | RedisBeaconQueue:
        options = BeaconOptions(prefix=prefix, **{**FAST, **overrides})
        queue: MemoryBeaconQueue | RedisBeaconQueue
        if request.param == "memory":
            queue = MemoryBeaconQueue(http, options)
        else:
            queue = RedisBeaconQueue(link, http, consumer, options)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.close()


def beacon(key: str, url: str, due_at: float, event: str = "impression") -> Beacon:
    return Beacon(key=key, event=event, url=url, due_at=due_at, org="org1", channel="ch1")


async def test_delivered_once_not_before_due_with_macros_expanded(
    make_queue: MakeQueue, beacon_receiver: BeaconReceiver
) -> None:
    queue = make_queue()
    await queue.start()
    due = time.time() + 0.4
    template = "/t/{}?cb=[CACHEBUSTING]&ts=[TIMESTAMP]&later=[CONTENTPLAYHEAD]"
    beacons = [
        beacon(f"brk_a:0:{event}:0", beacon_receiver.url(template.format(event)), due, event)
        for event in ("impression", "start")
    ]
    assert await queue.schedule(beacons) == 2
    assert await queue.schedule(beacons) == 0  # the same render again: nothing new
    await asyncio.sleep(0.2)
    assert beacon_receiver.hits == [], "sent before due_at"

    hits = await beacon_receiver.wait_for(lambda h: len(h) >= 2)
    assert sorted(h.path for h in hits) == ["/t/impression", "/t/start"]
    for hit in hits:
        assert hit.at >= due
        assert re.fullmatch(r"[1-9]\d{7}", hit.query["cb"]), hit.query
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hit.query["ts"]), hit.query
        assert hit.query["later"] == "[CONTENTPLAYHEAD]"  # unknown server-side: left as is

    # Scheduled again after delivery (another render of the same break): still once.
    assert await queue.schedule(beacons) == 0
    await asyncio.sleep(0.3)
    assert len(beacon_receiver.hits) == 2


async def test_outcomes_drop_retry_fail_and_count(make_queue: MakeQueue, receiver: ScriptedReceiver) -> None:
    queue = make_queue()
    await queue.start()
    events = ("impression", "start", "firstQuartile", "midpoint", "complete")
    before = {e: counts_by_result(e) for e in events}
    now = time.time()
    batch = [
        beacon("k404", receiver.url("/status/404/a"), now, "impression"),
        beacon("kbad1", "::not a url", now, "start"),
        beacon("kbad2", "ftp://tracker.example/x", now, "start"),
        beacon("kbad3", "http://", now, "start"),
        beacon("k500", receiver.url("/status/500/b"), now, "firstQuartile"),
        beacon("kflaky", receiver.url("/flaky/2/c"), now, "midpoint"),
        beacon("kredir", receiver.url("/redirect/d"), now, "complete"),
    ]
    assert await queue.schedule(batch) == len(batch)

    expected = {
        "impression": {"sent": 0, "failed": 0, "retried": 0, "dropped": 1},  # 4xx: dropped, never retried
        "start": {"sent": 0, "failed": 0, "retried": 0, "dropped": 3},  # unusable URLs
        "firstQuartile": {"sent": 0, "failed": 1, "retried": 2, "dropped": 0},  # 5xx: retried, then failed
        "midpoint": {"sent": 1, "failed": 0, "retried": 2, "dropped": 0},  # fails twice, then sent
        "complete": {"sent": 1, "failed": 0, "retried": 0, "dropped": 0},  # 3xx is sent
    }

    def delta() -> dict[str, dict[str, float]]:
        return {e: {r: counts_by_result(e)[r] - before[e][r] for r in before[e]} for e in events}

    await eventually(lambda: delta() == expected)
    await asyncio.sleep(0.2)  # room for any (wrong) extra retry to show up
    assert delta() == expected
    assert receiver.hit_counts() == {"/status/404/a": 1, "/status/500/b": 3, "/flaky/2/c": 3, "/redirect/d": 1}
    assert "/landed" not in receiver.paths()  # redirects are not followed


async def test_sent_in_due_order(make_queue: MakeQueue, receiver: ScriptedReceiver) -> None:
    queue = make_queue(concurrency=1)
    await queue.start()
    now = time.time()
    offsets = {"c": 0.3, "a": 0.1, "d": 0.4, "b": 0.2}
    await queue.schedule([beacon(f"k{n}", receiver.url(f"/o/{n}"), now + off) for n, off in offsets.items()])
    hits = await receiver.wait_for(lambda h: len(h) >= 4)
    assert [h.path for h in hits] == ["/o/a", "/o/b", "/o/c", "/o/d"]
    for hit in hits:
        assert hit.at >= now + offsets[hit.path[-1]]


async def test_bounded_concurrency(make_queue: MakeQueue, receiver: ScriptedReceiver) -> None:
    queue = make_queue(concurrency=2, **PATIENT)
    await queue.start()
    now = time.time()
    await queue.schedule([beacon(f"h{i}", receiver.url(f"/hold/{i}"), now) for i in range(5)])
    await receiver.wait_for(lambda h: len(h) >= 2)
    await asyncio.sleep(0.3)
    assert len(receiver.hits) == 2, "more sends in flight than the concurrency bound"
    receiver.gate.set()
    await receiver.wait_answered(lambda a: len(a) >= 5)
    assert sorted(receiver.answered_counts().values()) == [1] * 5


async def test_gauges_track_depth_and_oldest_age(make_queue: MakeQueue, receiver: ScriptedReceiver) -> None:
    m.beacon_queue_depth.set(-1)  # gauges are process-wide: make sure this queue is what sets them
    m.beacon_queue_oldest_age_seconds.set(-1)
    queue = make_queue(**PATIENT)
    await queue.start()
    now = time.time()
    await queue.schedule([beacon(f"g{i}", receiver.url(f"/g/{i}"), now + 1.2) for i in range(3)])
    await eventually(lambda: gauge("ssai_beacon_queue_depth") == 3)
    assert gauge("ssai_beacon_queue_oldest_age_seconds") == 0  # scheduled, not yet overdue
    assert await queue.stats() == (3, 0.0)

    # A beacon two seconds overdue whose tracker hangs: unacknowledged, and its age shows.
    await queue.schedule([beacon("late", receiver.url("/hold/late"), now - 2.0)])
    await eventually(lambda: gauge("ssai_beacon_queue_oldest_age_seconds") >= 2.0)
    assert gauge("ssai_beacon_queue_depth") == 4

    receiver.gate.set()
    await receiver.wait_answered(lambda a: len(a) >= 4)
    await eventually(lambda: gauge("ssai_beacon_queue_depth") == 0)
    assert gauge("ssai_beacon_queue_oldest_age_seconds") == 0
    assert await queue.stats() == (0, 0.0)


async def test_unsupported_event_is_refused(make_queue: MakeQueue, receiver: ScriptedReceiver) -> None:
    queue = make_queue()
    await queue.start()
    now = time.time()
    mixed = [beacon("cv", receiver.url("/cv"), now, "creativeView"), beacon("imp", receiver.url("/imp"), now)]
    assert await queue.schedule(mixed) == 1
    await receiver.wait_for(lambda h: len(h) >= 1)
    await asyncio.sleep(0.2)
    assert receiver.paths() == ["/imp"]


async def test_memory_queue_is_bounded(http: aiohttp.ClientSession, receiver: ScriptedReceiver) -> None:
    queue = MemoryBeaconQueue(http, BeaconOptions(**{**FAST, "max_memory_queue": 2}))
    before = counts_by_result("impression")["dropped"]
    later = time.time() + 30
    assert await queue.schedule([beacon(f"b{i}", receiver.url(f"/b/{i}"), later) for i in range(3)]) == 2
    assert counts_by_result("impression")["dropped"] - before == 1
    assert (await queue.stats())[0] == 2
    await queue.close()


def test_claim_idle_must_outlast_the_longest_send() -> None:
    with pytest.raises(ValueError, match="claim_idle"):
        BeaconOptions(timeout=2.0, attempts=3, backoff=0.5, claim_idle=5.0)
    assert BeaconOptions().claim_idle > BeaconOptions().worst_case_send
