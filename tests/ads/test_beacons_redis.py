"""The Redis beacon queue's own guarantees: idempotency across processes, one ack per entry after its
outcome, a killed consumer's batch claimed and delivered by another, the delivered-marker, and the
in-process fallback while Redis is down. Real Redis, real receiver, a real second OS process."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sidecar.ads.beacons import Beacon, BeaconOptions, RedisBeaconQueue
from sidecar.redis_link import RedisLink, RedisUnavailable
from tests.ads.beacon_server import ScriptedReceiver, counts_by_result, eventually
from tests.conftest import REDIS_URL, ROOT, RedisServer

FAST: dict[str, Any] = dict(
    timeout=0.3, attempts=3, backoff=0.02, poll_interval=0.02, claim_idle=1.5, gauge_interval=0.05,
    drain_timeout=0.5,
)


@pytest.fixture
async def receiver() -> AsyncIterator[ScriptedReceiver]:
    r = ScriptedReceiver()
    await r.start()
    yield r
    r.gate.set()
    await r.close()


@pytest.fixture
async def link() -> AsyncIterator[RedisLink]:
    link = RedisLink(REDIS_URL, timeout=1.0)
    yield link
    await link.close()


@pytest.fixture
async def prefix(link: RedisLink) -> AsyncIterator[str]:
    """A key prefix of our own on the shared test Redis, deleted afterwards."""
    value = f"test:beacons:{secrets.token_hex(4)}"
    yield value
    keys = [k async for k in link.client.scan_iter(match=f"{{{value}}}*")]
    if keys:
        await link.client.delete(*keys)


def beacon(key: str, url: str, due_at: float, event: str = "impression") -> Beacon:
    return Beacon(key=key, event=event, url=url, due_at=due_at, org="org1", channel="ch1")


async def pending_count(link: RedisLink, queue: RedisBeaconQueue) -> int:
    summary = await link.client.xpending(queue.stream_key, queue.options.group)
    return int(summary["pending"])


async def test_same_keys_from_two_instances_are_sent_once(
    link: RedisLink, prefix: str, http: aiohttp.ClientSession, receiver: ScriptedReceiver
) -> None:
    options = BeaconOptions(prefix=prefix, **FAST)
    one = RedisBeaconQueue(link, http, "one", options)
    two = RedisBeaconQueue(link, http, "two", options)
    await one.start()
    await two.start()
    try:
        due = time.time() + 0.3
        beacons = [beacon(f"brk_x:0:impression:{i}", receiver.url(f"/imp/{i}"), due) for i in range(10)]
        # Two processes render the same break at the same moment, then each again.
        first = await asyncio.gather(one.schedule(beacons), two.schedule(beacons))
        again = await asyncio.gather(one.schedule(beacons), two.schedule(beacons))
        assert sum(first) == 10
        assert list(again) == [0, 0]
        await receiver.wait_for(lambda h: len(h) >= 10)
        await asyncio.sleep(0.3)
        assert receiver.hit_counts() == {f"/imp/{i}": 1 for i in range(10)}
        assert all(hit.at >= due for hit in receiver.hits)
    finally:
        await one.close()
        await two.close()


async def test_each_entry_acked_after_its_outcome(
    link: RedisLink, prefix: str, http: aiohttp.ClientSession, receiver: ScriptedReceiver
) -> None:
    """Mixed outcomes in one batch: every entry ends acknowledged (nothing pending, nothing left in
    the stream), each key's marker holds its own outcome, and the counters match the receiver."""
    queue = RedisBeaconQueue(link, http, "c1", BeaconOptions(prefix=prefix, **FAST))
    before = counts_by_result("thirdQuartile")
    now = time.time()
    plan = {
        "ok1": ("/ok/1", "sent"),
        "ok2": ("/ok/2", "sent"),
        "flaky": ("/flaky/1/x", "sent"),
        "gone": ("/status/410/y", "dropped"),
        "broken": ("/status/503/z", "failed"),
    }
    batch = [beacon(k, receiver.url(path), now, "thirdQuartile") for k, (path, _) in plan.items()]
    batch.append(beacon("nohost", "https:///nohost", now, "thirdQuartile"))
    assert await queue.schedule(batch) == 6
    await queue.start()
    try:
        await eventually(lambda: counts_by_result("thirdQuartile")["sent"] - before["sent"] == 3)
        await eventually(lambda: counts_by_result("thirdQuartile")["failed"] - before["failed"] == 1)

        async def drained() -> bool:
            return await pending_count(link, queue) == 0 and await link.client.xlen(queue.stream_key) == 0

        await eventually(drained)
        assert await link.client.zcard(queue.sched_key) == 0
        markers = {k: await link.client.get(queue.marker_key(k)) for k in plan}
        assert markers == {k: outcome.encode() for k, (_, outcome) in plan.items()}
        assert await link.client.get(queue.marker_key("nohost")) == b"dropped"

        after = counts_by_result("thirdQuartile")
        delta = {r: after[r] - before[r] for r in after}
        answered_ok = sum(receiver.answered_counts(200).values())
        assert delta["sent"] == answered_ok == 3
        assert delta["dropped"] == 2  # the 410 and the URL without a host
        assert delta["failed"] == 1
        assert delta["retried"] == 1 + 2  # flaky once, 503 twice
        assert receiver.hit_counts()["/status/410/y"] == 1  # a 4xx is never retried
        assert receiver.hit_counts()["/status/503/z"] == 3
        assert await queue.stats() == (0, 0.0)
    finally:
        await queue.close()


async def test_consumer_killed_mid_batch_loses_nothing(
    link: RedisLink, prefix: str, http: aiohttp.ClientSession, receiver: ScriptedReceiver, tmp_path: Any
) -> None:
    """A consumer process reads a batch and is SIGKILLed while its requests hang at the tracker.
    Its unacknowledged entries are claimed by another consumer and every beacon is delivered;
    what it had already delivered and acked is not sent again."""
    options = BeaconOptions(prefix=prefix, **FAST)  # claim_idle 1.5 s
    producer = RedisBeaconQueue(link, http, "producer", options)  # schedules only, never started
    stderr = (tmp_path / "victim.err").open("wb")
    victim = subprocess.Popen(
        [sys.executable, "-m", "tests.ads.beacon_consumer", REDIS_URL, prefix, "victim"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    rescuer: RedisBeaconQueue | None = None
    try:
        assert victim.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(victim.stdout.readline), timeout=15)
        assert line.strip() == b"ready", (tmp_path / "victim.err").read_text()

        now = time.time()
        quick = [beacon(f"quick{i}", receiver.url(f"/ok/{i}"), now, "start") for i in range(3)]
        held = [beacon(f"held{i}", receiver.url(f"/hold/{i}"), now, "complete") for i in range(4)]
        assert await producer.schedule(quick + held) == 7

        # The victim has sent everything: the quick ones answered (and acked), the held ones hanging.
        await receiver.wait_for(lambda h: len(h) >= 7, timeout=10)
        await receiver.wait_answered(lambda a: len(a) >= 3)

        async def only_held_pending() -> bool:
            return await pending_count(link, producer) == 4

        await eventually(only_held_pending)
        detail = await link.client.xpending_range(producer.stream_key, options.group, "-", "+", 10)
        assert {d["consumer"] for d in detail} == {b"victim"}

        victim.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait, 10)
        assert victim.returncode == -signal.SIGKILL
        receiver.gate.set()  # the tracker recovers

        rescuer = RedisBeaconQueue(link, http, "rescuer", options)
        await rescuer.start()
        await receiver.wait_answered(lambda a: all(f"/hold/{i}" in {p for p, _ in a} for i in range(4)), timeout=10)

        async def drained() -> bool:
            return await pending_count(link, producer) == 0 and await link.client.xlen(producer.stream_key) == 0

        await eventually(drained)
        hits = receiver.hit_counts()
        assert {hits[f"/ok/{i}"] for i in range(3)} == {1}  # acked before the kill: not re-sent
        assert {hits[f"/hold/{i}"] for i in range(4)} == {2}  # the victim's hung try, then the rescuer's
        assert all(receiver.answered_counts(200)[f"/hold/{i}"] >= 1 for i in range(4))
        assert all([await link.client.get(producer.marker_key(f"held{i}")) == b"sent" for i in range(4)])
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        stderr.close()
        if rescuer is not None:
            await rescuer.close()


async def test_entry_already_delivered_is_skipped(
    link: RedisLink, prefix: str, http: aiohttp.ClientSession, receiver: ScriptedReceiver
) -> None:
    """An entry whose key another consumer already delivered (it stalled past claim_idle, was
    claimed, and resumed) is acknowledged without a second request."""
    queue = RedisBeaconQueue(link, http, "c1", BeaconOptions(prefix=prefix, **FAST))
    done = beacon("dup", receiver.url("/dup"), time.time())
    fresh = beacon("fresh", receiver.url("/fresh"), time.time())
    await link.client.xgroup_create(queue.stream_key, queue.options.group, id="0", mkstream=True)
    await link.client.set(queue.marker_key("dup"), "sent", ex=60)
    for b in (done, fresh):
        await link.client.xadd(queue.stream_key, {"k": b.key, "b": b.to_json()})
    await queue.start()
    try:
        await receiver.wait_for(lambda h: len(h) >= 1)

        async def drained() -> bool:
            return await pending_count(link, queue) == 0 and await link.client.xlen(queue.stream_key) == 0

        await eventually(drained)
        await asyncio.sleep(0.2)
        assert receiver.paths() == ["/fresh"]
    finally:
        await queue.close()


async def test_redis_down_falls_back_in_process_then_resumes(
    private_redis: RedisServer, http: aiohttp.ClientSession, receiver: ScriptedReceiver
) -> None:
    link = RedisLink(private_redis.url, timeout=0.2, retry_after=0.2)
    options = BeaconOptions(prefix="sidecar:beacons", redis_backoff_max=0.2, **{**FAST, "timeout": 2.0,
                                                                              "claim_idle": 8.0})
    queue = RedisBeaconQueue(link, http, "c1", options)
    await queue.start()
    try:
        assert await queue.schedule([beacon("before", receiver.url("/before"), time.time())]) == 1
        await receiver.wait_answered(lambda a: len(a) >= 1)
        assert queue.fallback_scheduled == 0
        # One more in flight when Redis goes away: its outcome cannot be acknowledged until later.
        assert await queue.schedule([beacon("inflight", receiver.url("/hold/inflight"), time.time())]) == 1
        await receiver.wait_for(lambda h: len(h) >= 2)

        private_redis.stop()
        receiver.gate.set()
        await receiver.wait_answered(lambda a: len(a) >= 2)
        due = time.time() + 0.2
        down = [beacon(f"down{i}", receiver.url(f"/down/{i}"), due) for i in range(3)]
        started = time.monotonic()
        assert await queue.schedule(down) == 3  # the manifest request is not failed
        assert time.monotonic() - started < 1.0
        assert queue.fallback_scheduled == 3
        assert await queue.schedule(down) == 0  # still idempotent within the process
        await receiver.wait_answered(lambda a: len(a) >= 5)
        assert sorted(p for p, _ in receiver.answered) == ["/before", "/down/0", "/down/1", "/down/2", "/hold/inflight"]
        assert all(hit.at >= due for hit in receiver.hits if hit.path.startswith("/down/"))

        private_redis.start()  # back, and empty (no persistence): the in-flight entry's group is gone
        # Another process's mover is quicker than our consumer: the stream exists, the group not yet.
        other = beacon("other", receiver.url("/other"), time.time())
        raw = RedisLink(private_redis.url)
        await raw.client.xadd(queue.stream_key, {"k": other.key, "b": other.to_json()})
        await raw.close()

        async def redis_back() -> bool:
            try:
                return bool(await link.call("test", lambda r: r.ping()))
            except RedisUnavailable:
                return False

        await eventually(redis_back)
        assert await queue.schedule([beacon("after", receiver.url("/after"), time.time())]) == 1
        assert queue.fallback_scheduled == 3  # through Redis this time
        await receiver.wait_answered(lambda a: len(a) >= 7)
        assert receiver.hit_counts()["/other"] == 1
        # The consumer flushed its late acknowledgement, recreated its group on the fresh Redis,
        # then delivered and acknowledged.

        async def acked() -> bool:
            return await link.client.get(queue.marker_key("after")) == b"sent"

        await eventually(acked)
        assert await link.client.xlen(queue.stream_key) == 0
        assert await pending_count(link, queue) == 0
        assert receiver.hit_counts()["/after"] == 1
    finally:
        await queue.close()
        await link.close()
