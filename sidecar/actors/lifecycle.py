"""Actor and process lifecycle: what a start means, and counting it durably.

The seed judged churn from the time since the previous instance was *created*, so every
ordinary idle eviction looked like churn. Here an instance that ended cleanly (evicted after
idling, or shut down) is never churn; churn is a new instance starting while its predecessor
was still alive, i.e. heartbeating within the window without a clean end.

Counting (ADR 0010): every start and end of an instance, every young-instance request and every
process start is added to the worker slot's durable ledger in the same transaction as the record
it describes, and exported from there (``sidecar.telemetry.ledger``), so an observer outside the
crashing process sees every one of them:

* a start counts ``ssai_actor_instance_starts_total{reason}`` (and ``ssai_actor_churn_total``),
  and when the predecessor never ended cleanly, its lifetime up to its last durable heartbeat as
  ``ssai_actor_lifetime_seconds{reason="crash"}``: the successor accounts for it;
* a clean end (idle, shutdown, deleted) counts ``ssai_actor_evictions_total`` and the lifetime;
* young-instance requests are committed by a background flush within ``flush_seconds``;
* a process start counts ``ssai_process_starts_total{reason}``: first, clean (the previous run
  recorded its stop) or crash.

Log events (``instance_churn``, ``process_crash_detected``) are written once the count is
committed, so the logs and Prometheus tell the same story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Literal

from sidecar.actors.durable import DurableState, InstanceRecord, RunRecord
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.ledger import Deltas, Sample, SlotLedger, merge
from sidecar.telemetry.logging import log_event

if TYPE_CHECKING:
    from sidecar.actors.channel import ChannelActor

log = logging.getLogger("sidecar.actors")

StartReason = Literal["new", "clean", "churn", "stale"]
RunReason = Literal["first", "clean", "crash"]


def classify_start(previous: InstanceRecord | None, now: float, window: float) -> StartReason:
    if previous is None:
        return "new"
    if previous.evicted_at is not None:
        return "clean"
    if now - previous.heartbeat_at <= window:
        return "churn"
    return "stale"


def classify_run(previous: RunRecord | None) -> RunReason:
    if previous is None:
        return "first"
    return "clean" if previous.stopped_at is not None else "crash"


def start_counts(org: str, channel: str, reason: StartReason, previous: InstanceRecord | None) -> Deltas:
    """What one instance start adds to the ledger."""
    counts = m.actor_instance_starts_total.inc(org, channel, reason)
    if reason == "churn":
        counts = merge(counts, m.actor_churn_total.inc(org, channel))
    if previous is not None and previous.evicted_at is None:  # it never ended cleanly: a crash
        lived = max(0.0, previous.heartbeat_at - previous.created_at)
        counts = merge(counts, m.actor_lifetime_seconds.observe(lived, "crash"))
    return counts


def end_counts(reason: str, lifetime: float) -> Deltas:
    """What one clean end of an instance adds to the ledger."""
    return merge(m.actor_evictions_total.inc(reason), m.actor_lifetime_seconds.observe(lifetime, reason))


class Lifecycle:
    """One actor runtime's lifecycle accounting in its slot's ledger."""

    def __init__(self, durable: DurableState, slot: str, *, flush_seconds: float = 1.0) -> None:
        self.durable = durable
        self.slot = slot
        self.flush_seconds = flush_seconds
        self.run_id = secrets.token_hex(8)
        self.ledger: SlotLedger | None = None
        self._loading = asyncio.Lock()
        self._young = asyncio.Lock()
        self._young_committed: dict[str, int] = {}  # instance id -> young requests in the ledger
        self._running = False

    # --- the slot's ledger ------------------------------------------------------------------------
    async def ready(self) -> SlotLedger:
        """The slot's ledger, loaded (and exported) on first use: the totals its previous
        processes committed, minus channels that no longer exist."""
        if self.ledger is not None and self.ledger.loaded:
            return self.ledger
        async with self._loading:
            if self.ledger is None or not self.ledger.loaded:
                rows = await self.durable.load_ledger(self.slot)
                existing = await self.durable.channel_slugs()
                gone = {s.group for s, _, _ in rows if s.channel is not None and s.channel not in existing}
                await self.durable.forget_in_ledger(self.slot, gone)
                ledger = m.lifecycle.ledger(f"{self.durable.engine.url!r}|{self.slot}")
                ledger.load((s, v, e) for s, v, e in rows if s.group not in gone)
                for org, channel in ledger.channels():
                    m.init_channel(org, channel)  # the channels this slot served: at zero before any count
                self.ledger = ledger
        return self.ledger

    async def _commit(self, counts: Deltas, write: Callable[[dict[Sample, bool]], Awaitable[object]]) -> bool:
        """Run ``write(exposure)`` (a transaction that adds ``counts``); once it has committed,
        the export shows the counts. ``write`` may return False: nothing was added."""
        ledger = await self.ready()
        exposure = ledger.exposure(counts)
        if await write(exposure) is False:
            return False
        ledger.applied(counts, exposure)
        return True

    # --- actor instances ---------------------------------------------------------------------------
    async def started(self, actor: ChannelActor, previous: InstanceRecord | None, reason: StartReason) -> None:
        counts = start_counts(actor.org_slug, actor.channel_slug, reason, previous)
        await self._commit(
            counts,
            lambda exposure: self.durable.register_instance(
                actor.name, self.slot, actor.instance_id, actor.created_at, counts, exposure
            ),
        )
        if reason == "churn" and previous is not None:
            lifetime = previous.heartbeat_at - previous.created_at
            log_event(
                log,
                "instance_churn",
                f"DO Instance Churn Detected: prev={previous.instance_id}, lifetime={lifetime:.1f}s, "
                f"new={actor.instance_id}",
                level=logging.WARNING,
                name=actor.name,
                org=actor.org_slug,
                channel=actor.channel_slug,
                previous_instance_id=previous.instance_id,
                previous_lifetime_seconds=round(lifetime, 3),
                previous_requests=previous.requests,
                since_last_heartbeat_seconds=round(actor.created_at - previous.heartbeat_at, 3),
            )

    async def ended(self, actor: ChannelActor, reason: str) -> None:
        """A clean end (idle, shutdown, deleted): the record, the counts and the instance's last
        young-instance requests in one transaction."""
        async with self._young:
            young = actor.young_requests - self._young_committed.pop(actor.instance_id, 0)
            extra = m.actor_young_instance_requests_total.inc(actor.org_slug, actor.channel_slug, amount=young)
            counts = merge(end_counts(reason, actor.age), extra if young else {})
            ended = await self._commit(
                counts,
                lambda exposure: self.durable.mark_evicted(
                    actor.name, self.slot, actor.instance_id, reason, actor.requests, counts, exposure
                ),
            )
            if not ended and young:  # never registered: its requests still happened
                await self._commit(extra, lambda exposure: self.durable.add_to_ledger(self.slot, extra, exposure))

    async def flush(self, actors: Iterable[ChannelActor]) -> None:
        """Commit young-instance requests counted since the last flush, and record which series
        scrapes have now seen."""
        async with self._young:
            counts: Deltas = {}
            seen: dict[str, int] = {}
            for actor in actors:
                new = actor.young_requests - self._young_committed.get(actor.instance_id, 0)
                if new > 0:
                    young = m.actor_young_instance_requests_total.inc(actor.org_slug, actor.channel_slug, amount=new)
                    counts = merge(counts, young)
                    seen[actor.instance_id] = actor.young_requests
            if counts:
                await self._commit(counts, lambda exposure: self.durable.add_to_ledger(self.slot, counts, exposure))
                self._young_committed.update(seen)
        ledger = self.ledger
        if ledger is not None and ledger.unrecorded:
            marks = set(ledger.unrecorded)
            await self.durable.mark_exposed(self.slot, marks)
            ledger.recorded(marks)

    async def run(self, actors: Callable[[], list[ChannelActor]]) -> None:
        """Background: flush every ``flush_seconds`` (and count the process start if the store
        was away at start-up); failures retry next time."""
        while True:
            await asyncio.sleep(self.flush_seconds)
            with contextlib.suppress(Exception):
                if not self._running:
                    await self.open()
                await self.flush(actors())

    # --- the process ------------------------------------------------------------------------------
    async def open(self) -> RunReason:
        """Count this process's start in its slot (and how the previous run ended)."""
        ledger = await self.ready()
        reason: RunReason = "first"

        def counts_for(previous: RunRecord | None) -> tuple[Deltas, dict[Sample, bool]]:
            nonlocal reason
            reason = classify_run(previous)
            counts = m.process_starts_total.inc(reason)
            return counts, ledger.exposure(counts)

        now = time.time()
        previous, counts, exposure = await self.durable.start_run(self.slot, self.run_id, os.getpid(), now, counts_for)
        ledger.applied(counts, exposure)
        self._running = True
        if reason == "crash" and previous is not None:
            log_event(
                log,
                "process_crash_detected",
                f"Previous process of slot {self.slot} (pid {previous.pid}, started "
                f"{now - previous.started_at:.1f}s ago) ended without a clean stop",
                level=logging.WARNING,
                slot=self.slot,
                previous_run_id=previous.run_id,
                previous_pid=previous.pid,
            )
        log_event(
            log, "process_started", f"Process started in slot {self.slot} ({reason})", slot=self.slot, reason=reason
        )
        return reason

    async def close(self, actors: Iterable[ChannelActor] = ()) -> None:
        """After a graceful shutdown has ended every instance: record the clean stop, then stop
        exporting (the slot's next process exports what this one committed)."""
        with contextlib.suppress(Exception):
            await self.flush(actors)
        if self._running:
            with contextlib.suppress(Exception):
                await self.durable.stop_run(self.slot, self.run_id)
            self._running = False
        if self.ledger is not None:
            m.lifecycle.forget(self.ledger)

