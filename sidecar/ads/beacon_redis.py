"""The shared beacon queue: a Redis sorted set for "not yet due", a stream and a consumer group for
"due, being sent", and a marker per key for idempotency.

Data layout (``P`` is ``options.prefix``; every key carries the hash tag ``{P}`` so that the Lua
scripts touch one cluster slot):

* ``{P}:sched`` sorted set, member = beacon key, score = ``due_at``.
* ``{P}:data`` hash, beacon key -> JSON payload, while the beacon waits in ``sched``.
* ``{P}:stream`` stream of due beacons (fields ``k`` key, ``b`` payload), consumer group
  ``options.group``. Entries are deleted when acknowledged, so ``XLEN`` is "due and not yet
  acknowledged" and the stream does not grow.
* ``{P}:b:<key>`` marker, ``s`` once scheduled, then the outcome (``sent|failed|dropped``), with a
  TTL of ``dedupe_ttl`` past the due time.

Flow and why:

1. ``schedule`` runs one Lua script: ``SET marker NX`` and, only if that won, ``ZADD`` + ``HSET``.
   Two processes (or two renders) scheduling the same key race on ``SET NX`` inside Redis, so the
   beacon is scheduled once. Keys carry no timestamp (seed review §4.3).
2. A mover (every ``poll_interval``, in every process; the script is atomic, so concurrent movers
   cannot move an entry twice) moves due members from ``sched`` into the stream.
3. Consumers ``XREADGROUP`` only as many entries as they have free send slots, check the marker
   (skip what another consumer already delivered), send, and then **acknowledge that one entry**
   (marker := outcome, ``XACK``, ``XDEL``, atomically) whatever the outcome: sent, dropped, or
   failed after its retries. Nothing is acked before its outcome is known, and never as a batch.
4. A consumer that dies leaves its entries pending; any consumer ``XAUTOCLAIM``s entries idle for
   ``claim_idle`` and sends them. ``BeaconOptions`` refuses a ``claim_idle`` shorter than the
   longest legitimate send, so live consumers are not robbed.

**Delivery is at-least-once.** A beacon is sent twice only if its consumer dies (or is closed,
or loses Redis for good) after the request left and before the acknowledgement reached Redis, or
if a ``schedule`` call timed out on the client after Redis had run it (the fallback then queues it
in-process too). The marker check keeps a reclaimed entry from being sent again once any consumer
has recorded its outcome. We prefer a rare duplicate to a lost impression, which costs revenue.

**Redis down**: ``schedule`` falls back to an embedded ``MemoryBeaconQueue`` (logged once per
outage, counted in ``fallback_scheduled``) instead of failing the manifest request; those beacons
are not durable and are de-duplicated only within this process. Consumers back off (doubling up to
``redis_backoff_max``) and resume; an outcome that could not be acknowledged is kept and acked
when Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from sidecar.ads.beacon_memory import MemoryBeaconQueue, valid_beacons
from sidecar.ads.beacon_model import Beacon, BeaconOptions, Outcome
from sidecar.ads.beacon_send import deliver
from sidecar.redis_link import RedisLink, RedisUnavailable
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.beacons")

COMPONENT = "beacons"
#: Beacons per schedule script call (a pod is tens of beacons; this only bounds a huge call).
_SCHEDULE_CHUNK = 500
#: Mover calls per tick at most: a backlog drains over several ticks instead of one long burst.
_MOVE_ROUNDS = 10
#: Consumers with nothing pending and idle this long are removed from the group (dead processes).
_PRUNE_IDLE_MS = 3_600_000
_PRUNE_EVERY = 600.0
_OUTCOMES = {o.value.encode() for o in Outcome}

# KEYS: sched, data, marker_1..marker_n.  ARGV: (key, due_at, payload, ttl_s) per beacon.
_SCHEDULE = """
local n = 0
for i = 3, #KEYS do
  local j = (i - 3) * 4
  if redis.call('SET', KEYS[i], 's', 'NX', 'EX', ARGV[j + 4]) then
    redis.call('ZADD', KEYS[1], ARGV[j + 2], ARGV[j + 1])
    redis.call('HSET', KEYS[2], ARGV[j + 1], ARGV[j + 3])
    n = n + 1
  end
end
return n
"""

# KEYS: sched, data, stream.  ARGV: now, limit.
_MOVE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, k in ipairs(due) do
  local payload = redis.call('HGET', KEYS[2], k)
  if payload then
    redis.call('XADD', KEYS[3], '*', 'k', k, 'b', payload)
    redis.call('HDEL', KEYS[2], k)
  end
  redis.call('ZREM', KEYS[1], k)
end
return #due
"""

# KEYS: marker, stream.  ARGV: group, entry id, outcome ('' = leave the marker alone), ttl_s.
# (XACK and XDEL answer 0 for a stream or group that no longer exists, e.g. after Redis restarted
# empty, so a late acknowledgement never errors.)
_FINISH = """
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
end
local acked = redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
return acked
"""


def consumer_name() -> str:
    """A consumer name unique to this process (host, pid, random suffix)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


Entry = tuple[bytes, dict[bytes, bytes] | None]


def _entries(reply: Any) -> list[Entry]:
    """Flatten an ``XREADGROUP`` reply into ``(id, fields)`` pairs.

    RESP2 (what ``RedisLink`` speaks) gives ``[[stream, [entry, ...]]]``; redis-py's RESP3 parser
    gives ``{stream: [[entry, ...]]}``. Both are accepted so a protocol switch does not lose beacons.
    """
    if not reply:
        return []
    if isinstance(reply, dict):
        return [(e[0], e[1]) for value in reply.values() for e in (value[0] if value else [])]
    return [(e[0], e[1]) for _, items in reply for e in items]


def _log_crash(loop_name: str, exc: Exception) -> None:
    log_event(
        log,
        "beacon_loop_error",
        f"Beacon {loop_name} loop error, retrying: {exc!r}",
        level=logging.ERROR,
        loop=loop_name,
    )


class RedisBeaconQueue:
    """Beacons shared by every process through Redis; see the module docstring for the semantics."""

    def __init__(
        self,
        link: RedisLink,
        session: aiohttp.ClientSession,
        consumer: str,
        options: BeaconOptions | None = None,
    ) -> None:
        """``consumer`` must be unique per live process (``consumer_name()`` makes one)."""
        self.link = link
        self.session = session
        self.consumer = consumer
        self.options = options or BeaconOptions()
        tag = "{" + self.options.prefix + "}"
        self.sched_key = f"{tag}:sched"
        self.data_key = f"{tag}:data"
        self.stream_key = f"{tag}:stream"
        self._marker_prefix = f"{tag}:b:"
        self.fallback = MemoryBeaconQueue(session, self.options, publish_gauges=False)
        #: Beacons scheduled in-process because Redis was unavailable (since start).
        self.fallback_scheduled = 0
        self._in_fallback = False
        self._schedule_script = link.client.register_script(_SCHEDULE)
        self._move_script = link.client.register_script(_MOVE)
        self._finish_script = link.client.register_script(_FINISH)
        self._in_flight: dict[bytes, asyncio.Task[None]] = {}
        self._unacked: list[tuple[bytes, str, str]] = []
        self._kick = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self._claim_cursor = "0-0"
        self._last_redis_stats: tuple[int, float | None] = (0, None)

    def marker_key(self, key: str) -> str:
        return self._marker_prefix + key

    # --- producer side ------------------------------------------------------------------------

    async def schedule(self, beacons: Sequence[Beacon]) -> int:
        """Schedule beacons once per key across all processes; falls back in-process if Redis is down."""
        good = valid_beacons(beacons, COMPONENT)
        if not good:
            return 0
        added = 0
        for start in range(0, len(good), _SCHEDULE_CHUNK):
            try:
                added += await self._schedule_redis(good[start : start + _SCHEDULE_CHUNK])
            except RedisUnavailable as exc:
                return await self._schedule_fallback(good[start:], exc, added)
        if self._in_fallback:
            self._in_fallback = False
            log_event(
                log,
                "beacon_fallback_ended",
                "Beacons scheduled in Redis again",
                fallback_scheduled=self.fallback_scheduled,
            )
        return added

    async def _schedule_redis(self, beacons: Sequence[Beacon]) -> int:
        now = time.time()
        keys = [self.sched_key, self.data_key, *(self.marker_key(b.key) for b in beacons)]
        args: list[str | int | float] = []
        for b in beacons:
            ttl = int(max(0.0, b.due_at - now) + self.options.dedupe_ttl) + 1
            args.extend((b.key, repr(b.due_at), b.to_json(), ttl))
        result = await self.link.call(COMPONENT, lambda r: self._schedule_script(keys=keys, args=args, client=r))
        return int(result)

    async def _schedule_fallback(self, beacons: Sequence[Beacon], exc: RedisUnavailable, added: int) -> int:
        queued = await self.fallback.schedule(beacons)
        self.fallback_scheduled += queued
        if not self._in_fallback:
            self._in_fallback = True
            log_event(
                log,
                "beacon_fallback",
                f"Redis unavailable, scheduling beacons in-process (not durable): {exc}",
                level=logging.WARNING,
                beacons=len(beacons),
            )
        return added + queued

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the mover/gauge loop, the consumer loop and the in-process fallback's scheduler."""
        if self._loops:
            return
        self._closing = False
        await self.fallback.start()
        with contextlib.suppress(RedisUnavailable):  # the loops retry until Redis answers
            await self.link.call(COMPONENT, self._create_group)
        self._loops = [
            asyncio.create_task(self._scheduler(), name=f"beacons-mover-{self.consumer}"),
            asyncio.create_task(self._consumer(), name=f"beacons-consumer-{self.consumer}"),
        ]

    async def close(self) -> None:
        """Stop reading; let in-flight sends finish for ``drain_timeout``; the rest stay pending
        in Redis and another consumer claims them (nothing is lost, some may be sent twice)."""
        self._closing = True
        self._kick.set()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops = []
        tasks = set(self._in_flight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.options.drain_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        with contextlib.suppress(RedisUnavailable):
            await self._flush_unacked()
        await self.fallback.close()

    async def stats(self) -> tuple[int, float]:
        """Shared queue depth and oldest overdue age, plus this process's fallback queue.

        While Redis is unreachable the last Redis figures are reported (plus the fallback), so a
        gauge does not drop to zero just because it cannot be measured.
        """
        with contextlib.suppress(RedisUnavailable):
            self._last_redis_stats = await self._redis_stats()
        depth, oldest_due = self._last_redis_stats
        fb_depth, fb_age = self.fallback.snapshot()
        age = max(0.0, time.time() - oldest_due) if oldest_due is not None else 0.0
        return depth + fb_depth, max(age, fb_age)

    async def _redis_stats(self) -> tuple[int, float | None]:
        now = time.time()

        async def query(r: aioredis.Redis) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                pipe.zcard(self.sched_key)
                pipe.xlen(self.stream_key)
                pipe.zrange(self.sched_key, 0, 0, withscores=True)
                pipe.xrange(self.stream_key, "-", "+", count=1)
                result: list[Any] = await pipe.execute()
                return result

        zcard, xlen, head, first = await self.link.call(COMPONENT, query)
        dues: list[float] = []
        if head and float(head[0][1]) <= now:
            dues.append(float(head[0][1]))
        if first:
            _, fields = first[0]
            with contextlib.suppress(ValueError, KeyError, TypeError):
                dues.append(Beacon.from_json("", fields[b"b"]).due_at)
        return int(zcard) + int(xlen), (min(dues) if dues else None)

    # --- mover and gauges ------------------------------------------------------------------------

    async def _scheduler(self) -> None:
        """Move due entries into the stream every ``poll_interval``; refresh gauges; prune consumers."""
        loop = asyncio.get_running_loop()
        next_gauges = next_prune = 0.0
        backoff = self.options.poll_interval
        # Loops test ``_closing`` as well as being cancelled: a cancellation that lands inside the
        # Redis client while its own socket timeout fires can be swallowed (Python 3.11), and a
        # ``while True`` loop would then never let ``close()`` return.
        while not self._closing:
            try:
                if await self._move():
                    self._kick.set()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + _PRUNE_EVERY
                    await self._prune_consumers()
                backoff = self.options.poll_interval
            except RedisUnavailable:
                backoff = min(backoff * 2, self.options.redis_backoff_max)
            except Exception as exc:  # a bug must not silently stop the mover for good
                _log_crash("mover", exc)
                backoff = self.options.redis_backoff_max
            if loop.time() >= next_gauges:
                next_gauges = loop.time() + self.options.gauge_interval
                depth, oldest = await self.stats()
                m.beacon_queue_depth.set(depth)
                m.beacon_queue_oldest_age_seconds.set(oldest)
            await asyncio.sleep(backoff)

    async def _move(self) -> int:
        moved = 0
        keys = [self.sched_key, self.data_key, self.stream_key]

        async def move(r: aioredis.Redis) -> Any:
            return await self._move_script(keys=keys, args=[repr(time.time()), self.options.batch], client=r)

        for _ in range(_MOVE_ROUNDS):
            n = int(await self.link.call(COMPONENT, move))
            moved += n
            if n < self.options.batch:
                break
        return moved

    async def _prune_consumers(self) -> None:
        """Remove consumers of dead processes (nothing pending, idle an hour) so the group stays small."""

        async def prune(r: aioredis.Redis) -> None:
            try:
                consumers = await r.xinfo_consumers(self.stream_key, self.options.group)
            except ResponseError:
                return  # no stream or group yet
            for info in consumers:
                name = _text(info["name"])
                if name != self.consumer and int(info["pending"]) == 0 and int(info["idle"]) > _PRUNE_IDLE_MS:
                    await r.xgroup_delconsumer(self.stream_key, self.options.group, name)

        await self.link.call(COMPONENT, prune)

    # --- consumer ------------------------------------------------------------------------------

    async def _create_group(self, r: aioredis.Redis) -> None:
        try:
            await r.xgroup_create(self.stream_key, self.options.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consumer(self) -> None:
        """Claim stale entries, read new ones up to the free send slots, dispatch, repeat."""
        loop = asyncio.get_running_loop()
        opts = self.options
        claim_every = max(opts.poll_interval, opts.claim_idle / 2)
        next_claim = 0.0
        backoff = opts.poll_interval
        while not self._closing:
            self._kick.clear()
            full = False
            try:
                await self._flush_unacked()
                if self._free() > 0 and loop.time() >= next_claim:
                    self._dispatch(await self._claim(self._free()))
                    next_claim = loop.time() + claim_every
                free = self._free()
                if free > 0:
                    entries = await self._read(free)
                    self._dispatch(entries)
                    full = len(entries) >= free
                backoff = opts.poll_interval
            except RedisUnavailable:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, opts.redis_backoff_max)
                continue
            except Exception as exc:  # a bug must not silently stop consuming for good
                _log_crash("consumer", exc)
                await asyncio.sleep(opts.redis_backoff_max)
                continue
            if full and self._free() > 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=opts.poll_interval)

    def _free(self) -> int:
        return self.options.concurrency - len(self._in_flight)

    async def _read(self, count: int) -> list[Entry]:
        async def read(r: aioredis.Redis) -> Any:
            try:
                return await r.xreadgroup(self.options.group, self.consumer, {self.stream_key: ">"}, count=count)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._create_group(r)  # Redis restarted empty, or the stream was deleted
                return []

        return _entries(await self.link.call(COMPONENT, read))

    async def _claim(self, count: int) -> list[Entry]:
        """``XAUTOCLAIM`` entries idle past ``claim_idle`` (their consumer died), resuming the scan."""
        idle_ms = int(self.options.claim_idle * 1000)

        async def claim(r: aioredis.Redis) -> Any:
            try:
                return await r.xautoclaim(
                    self.stream_key, self.options.group, self.consumer, idle_ms, self._claim_cursor, count=count
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._create_group(r)
                return None

        reply = await self.link.call(COMPONENT, claim)
        if not reply:
            self._claim_cursor = "0-0"
            return []
        self._claim_cursor = _text(reply[0])
        claimed: list[Entry] = list(reply[1])
        if claimed:
            log_event(
                log,
                "beacon_claimed",
                f"Claimed {len(claimed)} beacons from a stalled consumer",
                consumer=self.consumer,
                claimed=len(claimed),
            )
        return claimed

    def _dispatch(self, entries: list[Entry]) -> None:
        for entry_id, fields in entries:
            if entry_id in self._in_flight:
                continue  # our own entry, still being sent (claiming it just refreshed its idle time)
            task = asyncio.create_task(self._handle(entry_id, fields), name="beacon-send")
            self._in_flight[entry_id] = task

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        """One entry: decode, skip if already delivered, send, then acknowledge this entry."""
        key = ""
        try:
            try:
                if not fields:
                    raise ValueError("entry has no fields (deleted)")
                key = _text(fields[b"k"])
                beacon = Beacon.from_json(key, fields[b"b"])
            except (ValueError, KeyError) as exc:
                log_event(
                    log,
                    "beacon_invalid_entry",
                    f"Discarding unreadable beacon entry: {exc}",
                    level=logging.WARNING,
                    entry=_text(entry_id),
                )
                await self._finish(entry_id, key, "")
                return
            if await self._already_delivered(key):
                log_event(
                    log,
                    "beacon_duplicate_skipped",
                    "Beacon already delivered by another consumer",
                    level=logging.DEBUG,
                    key=key,
                )
                await self._finish(entry_id, key, "")
                return
            outcome = await deliver(self.session, beacon, self.options)
            await self._finish(entry_id, key, outcome.value)
        except Exception as exc:  # a bug must not lose the entry: it stays pending and is reclaimed
            log_event(log, "beacon_send_error", f"Beacon handling crashed: {exc!r}", level=logging.ERROR, key=key)
        finally:
            self._in_flight.pop(entry_id, None)
            self._kick.set()

    async def _already_delivered(self, key: str) -> bool:
        """True when a consumer already recorded an outcome for ``key`` (this entry was reclaimed
        from a consumer that stalled after sending). If Redis cannot say, send: at-least-once."""
        try:
            value = await self.link.call(COMPONENT, lambda r: r.get(self.marker_key(key)))
        except RedisUnavailable:
            return False
        return value in _OUTCOMES

    async def _finish(self, entry_id: bytes, key: str, outcome: str) -> None:
        """Record the outcome and ack + delete this one entry; keep it for later if Redis is down."""
        try:
            await self._ack(entry_id, key, outcome)
        except RedisUnavailable:
            self._unacked.append((entry_id, key, outcome))

    async def _ack(self, entry_id: bytes, key: str, outcome: str) -> None:
        keys = [self.marker_key(key), self.stream_key]
        args: list[str | bytes | int] = [self.options.group, entry_id, outcome, int(self.options.dedupe_ttl)]
        await self.link.call(COMPONENT, lambda r: self._finish_script(keys=keys, args=args, client=r))

    async def _flush_unacked(self) -> None:
        """Ack outcomes that were decided while Redis was unreachable (raises if it still is)."""
        while self._unacked:
            entry_id, key, outcome = self._unacked[0]
            await self._ack(entry_id, key, outcome)
            self._unacked.pop(0)
