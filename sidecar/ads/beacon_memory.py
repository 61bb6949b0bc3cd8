"""The in-process beacon queue: single-process deployments, and the fallback when Redis is down.

Same semantics as the Redis queue, minus durability:

* **Due-time ordering**: a heap by ``due_at``; nothing is sent before its due time.
* **Idempotency**: a key scheduled once is refused for ``dedupe_ttl`` after its due time, so
  repeated renders of the same break in this process send each beacon once.
* **Retries and counting**: ``beacon_send.deliver`` (shared with the Redis queue).
* **Bounded**: at most ``concurrency`` sends in flight and ``max_memory_queue`` beacons waiting;
  beyond that new beacons are counted ``dropped`` and logged, so a long Redis outage cannot grow
  the process without limit.

**Not durable**: beacons waiting here are lost if the process exits or is killed, and keys are
only de-duplicated within this process. That is the price of not failing the manifest request
when Redis is unavailable; it is documented, and the fallback is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Sequence

import aiohttp

from sidecar.ads.beacon_model import EVENTS, Beacon, BeaconOptions, Outcome
from sidecar.ads.beacon_send import deliver
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.beacons")

#: The scheduler re-checks at least this often even with nothing due (cheap, and bounds the
#: effect of a wall-clock step on a long sleep).
_MAX_SLEEP = 1.0


def valid_beacons(beacons: Sequence[Beacon], component: str) -> list[Beacon]:
    """Drop beacons whose event is not one we fire (bounded metric labels); log them once per call."""
    good = [b for b in beacons if b.event in EVENTS]
    if len(good) != len(beacons):
        bad = sorted({b.event for b in beacons if b.event not in EVENTS})
        log_event(
            log,
            "beacon_unknown_event",
            f"Refused {len(beacons) - len(good)} beacons with unsupported events {bad}",
            level=logging.WARNING,
            component=component,
        )
    return good


class MemoryBeaconQueue:
    """A due-time heap drained by bounded concurrent senders, all in this process."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        options: BeaconOptions | None = None,
        *,
        publish_gauges: bool = True,
    ) -> None:
        """``publish_gauges=False`` when embedded in another queue that reports the combined depth."""
        self.session = session
        self.options = options or BeaconOptions()
        self._publish_gauges = publish_gauges
        self._heap: list[tuple[float, int, Beacon]] = []
        self._seq = itertools.count()
        self._keys: dict[str, float] = {}  # key -> wall-clock time when it may be scheduled again
        self._in_flight: dict[int, Beacon] = {}
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(self.options.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self._last_sweep = time.time()

    async def schedule(self, beacons: Sequence[Beacon]) -> int:
        """Queue beacons not seen before (by key); returns how many were new."""
        now = time.time()
        self._sweep_keys(now)
        added = overflow = 0
        for beacon in valid_beacons(beacons, "memory"):
            expires = self._keys.get(beacon.key)
            if expires is not None and expires > now:
                continue
            if len(self._heap) + len(self._in_flight) >= self.options.max_memory_queue:
                overflow += 1
                m.beacons_total.labels(beacon.event, Outcome.DROPPED.value).inc()
                continue
            self._keys[beacon.key] = max(now, beacon.due_at) + self.options.dedupe_ttl
            heapq.heappush(self._heap, (beacon.due_at, next(self._seq), beacon))
            added += 1
        if overflow:
            log_event(
                log,
                "beacon_queue_full",
                f"In-process beacon queue full ({self.options.max_memory_queue}): dropped {overflow} beacons",
                level=logging.WARNING,
                dropped=overflow,
            )
        if added:
            self._wake.set()
        return added

    async def start(self) -> None:
        """Start the scheduler (and the gauge refresher, unless embedded)."""
        if self._loops:
            return
        self._closing = False
        self._loops.append(asyncio.create_task(self._run(), name="beacons-memory"))
        if self._publish_gauges:
            self._loops.append(asyncio.create_task(self._gauges(), name="beacons-memory-gauges"))

    async def close(self) -> None:
        """Stop scheduling; give in-flight sends ``drain_timeout``; waiting beacons are discarded."""
        self._closing = True
        self._wake.set()
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loops.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.options.drain_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        if self._heap:
            log_event(
                log,
                "beacon_queue_discarded",
                f"In-process beacon queue closed with {len(self._heap)} beacons unsent",
                level=logging.WARNING,
                discarded=len(self._heap),
            )

    async def stats(self) -> tuple[int, float]:
        return self.snapshot()

    def snapshot(self) -> tuple[int, float]:
        """``stats`` without the coroutine, for the Redis queue's combined gauges."""
        now = time.time()
        dues = [b.due_at for b in self._in_flight.values()]
        if self._heap:
            dues.append(self._heap[0][0])
        oldest = max(0.0, now - min(dues)) if dues else 0.0
        return len(self._heap) + len(self._in_flight), oldest

    def _sweep_keys(self, now: float) -> None:
        """Forget expired keys now and then (not on every call: schedule is on the request path)."""
        if now - self._last_sweep < 60 and len(self._keys) < 200_000:
            return
        self._last_sweep = now
        for key in [k for k, expires in self._keys.items() if expires <= now]:
            del self._keys[key]

    async def _run(self) -> None:
        """Pop due beacons in order and hand each to a sender, waiting while all senders are busy."""
        while not self._closing:
            now = time.time()
            if self._heap and self._heap[0][0] <= now:
                await self._sem.acquire()
                if not self._heap:  # pragma: no cover - nothing else pops, but stay safe
                    self._sem.release()
                    continue
                _, seq, beacon = heapq.heappop(self._heap)
                self._in_flight[seq] = beacon
                task = asyncio.create_task(self._send(seq, beacon), name="beacon-send")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                continue
            delay = min(_MAX_SLEEP, self._heap[0][0] - now) if self._heap else _MAX_SLEEP
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.0))

    async def _send(self, seq: int, beacon: Beacon) -> None:
        try:
            await deliver(self.session, beacon, self.options)
        except Exception as exc:  # a bug in sending must not kill the scheduler's bookkeeping
            log_event(log, "beacon_send_error", f"Beacon send crashed: {exc!r}", level=logging.ERROR, key=beacon.key)
        finally:
            self._in_flight.pop(seq, None)
            self._sem.release()

    async def _gauges(self) -> None:
        while not self._closing:
            depth, oldest = self.snapshot()
            m.beacon_queue_depth.set(depth)
            m.beacon_queue_oldest_age_seconds.set(oldest)
            await asyncio.sleep(self.options.gauge_interval)
