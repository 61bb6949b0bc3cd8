"""The actor runtime: one live instance per actor name in this process, created on demand.

Names follow the seed: ``{colo}:{org}:{channel}``, so each location keeps its own instance (its
own lifecycle, request counts, churn history), but all instances of a channel share one
durable state row. A change made through any instance is announced on the bus (topic
``actor``); instances elsewhere apply it. When the bus is down, an instance re-checks the
durable version at most every ``version_check`` seconds before answering.

Background work (never on a viewer's path): idle eviction, batched heartbeats, and committing
lifecycle counts to the slot's durable ledger (``lifecycle.Lifecycle``, ADR 0010).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sidecar.actors.channel import ChannelActor
from sidecar.actors.durable import DurableState, InstanceRecord, Stored
from sidecar.actors.lifecycle import Lifecycle, StartReason, classify_start
from sidecar.actors.state import ChannelState
from sidecar.bus import Bus
from sidecar.tasks import cancel_all
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.actors")

TOPIC = "actor"


def actor_name(colo: str, org_slug: str, channel_slug: str) -> str:
    return f"{colo}:{org_slug}:{channel_slug}"


class ActorRuntime:
    def __init__(
        self,
        durable: DurableState,
        bus: Bus,
        *,
        slot: str,
        idle_seconds: float = 300.0,
        churn_window: float = 300.0,
        heartbeat_seconds: float = 30.0,
        young_seconds: float = 10.0,
        version_check_seconds: float = 1.0,
    ) -> None:
        self.durable = durable
        self.bus = bus
        self.slot = slot
        self.idle_seconds = idle_seconds
        self.churn_window = churn_window
        self.heartbeat_seconds = heartbeat_seconds
        self.young_seconds = young_seconds
        self.version_check_seconds = version_check_seconds
        self._actors: dict[str, ChannelActor] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._registrations: set[asyncio.Task[None]] = set()
        self.lifecycle = Lifecycle(durable, slot)
        bus.subscribe(TOPIC, self._on_message, on_reconnect=self._on_reconnect)

    # --- lookup ------------------------------------------------------------------------------------
    async def get(self, colo: str, org_id: str, org_slug: str, channel_id: str, channel_slug: str) -> ChannelActor:
        """The live instance for this name, created (and loaded) on demand."""
        name = actor_name(colo, org_slug, channel_slug)
        actor = self._actors.get(name)
        if actor is None or actor.channel_id != channel_id:
            lock = self._locks.setdefault(name, asyncio.Lock())
            async with lock:
                actor = self._actors.get(name)
                if actor is not None and actor.channel_id != channel_id:
                    # The slug now names another channel (deleted and re-created): retire the old one.
                    await self._evict_locked(actor, "deleted")
                    actor = None
                if actor is None:
                    actor = await self._create(name, colo, org_id, org_slug, channel_id, channel_slug)
        if self._needs_check(actor):
            await actor.refresh("version_check")
        return actor

    def peek(self, colo: str, org_slug: str, channel_id: str, channel_slug: str) -> ChannelActor | None:
        """The live instance if it can answer right now (no creation, no version check due)."""
        actor = self._actors.get(f"{colo}:{org_slug}:{channel_slug}")
        if actor is None or actor.channel_id != channel_id or self._needs_check(actor):
            return None
        return actor

    def _needs_check(self, actor: ChannelActor) -> bool:
        if actor.stale:
            return True
        if self.bus.connected:
            return False
        return time.monotonic() - actor.last_version_check >= self.version_check_seconds

    async def _create(
        self, name: str, colo: str, org_id: str, org_slug: str, channel_id: str, channel_slug: str
    ) -> ChannelActor:
        actor = ChannelActor(
            name=name,
            colo=colo,
            org_id=org_id,
            org_slug=org_slug,
            channel_id=channel_id,
            channel_slug=channel_slug,
            durable=self.durable,
            publish=self._publish,
            young_seconds=self.young_seconds,
        )
        log_event(log, "do_routing", f"DO routing: name={name}, colo={colo}", actor=name, colo=colo)
        previous = await self.durable.previous_instance(name, self.slot)
        await actor.load()
        reason = classify_start(previous, actor.created_at, self.churn_window)
        m.init_channel(org_slug, channel_slug)
        log_event(
            log,
            "instance_created",
            f"DO Instance Created: id={actor.instance_id}, name={name}",
            name=name,
            instance_id=actor.instance_id,
            start_reason=reason,
            state_version=actor.version,
        )
        self._actors[name] = actor
        m.actor_instances.labels(colo).inc()
        # Recording this instance (and counting its start) is a durable write; the request that
        # created it does not wait. The churn, if any, is logged once it is counted.
        task = asyncio.create_task(self._register(actor, previous, reason))
        self._registrations.add(task)
        task.add_done_callback(self._registrations.discard)
        return actor

    async def _register(self, actor: ChannelActor, previous: InstanceRecord | None, reason: StartReason) -> None:
        try:
            await self.lifecycle.started(actor, previous, reason)
        except Exception as exc:
            log.warning(
                f"recording instance {actor.instance_id} failed: {exc}",
                extra={"event": "instance_register_failed", "actor": actor.name},
            )

    def live(self) -> list[ChannelActor]:
        return list(self._actors.values())

    # --- bus -----------------------------------------------------------------------------------------
    async def _publish(self, message: dict[str, Any]) -> None:
        await self.bus.publish(TOPIC, message)

    def _on_message(self, message: dict[str, Any]) -> None:
        channel_id = message.get("channel_id")
        version = message.get("version")
        if not isinstance(channel_id, str) or not isinstance(version, int):
            return
        for actor in self._actors.values():
            if actor.channel_id != channel_id or version <= actor.version:
                continue
            try:
                stored = Stored(
                    ChannelState.from_json(message.get("state")),
                    version,
                    float(message.get("updated_at") or time.time()),
                )
            except Exception:
                actor.stale = True  # could not read the announcement: re-read on next use
                continue
            if actor.apply_remote(stored):
                m.actor_state_syncs_total.labels("bus").inc()

    def _on_reconnect(self) -> None:
        # Announcements may have been missed while the bus was away.
        for actor in self._actors.values():
            actor.stale = True

    # --- background: eviction and heartbeats ----------------------------------------------------------
    async def start(self) -> None:
        with contextlib.suppress(Exception):  # the store away at start: the lifecycle task retries
            await self.lifecycle.open()
        self._tasks.append(asyncio.create_task(self._evict_idle_loop(), name="actor-eviction"))
        self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name="actor-heartbeat"))
        self._tasks.append(asyncio.create_task(self.lifecycle.run(self.live), name="actor-lifecycle"))

    async def _evict_idle_loop(self) -> None:
        period = max(0.05, min(self.idle_seconds / 4, 5.0))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for actor in list(self._actors.values()):
                if now - actor.last_request_mono >= self.idle_seconds:
                    with contextlib.suppress(Exception):
                        await self.evict(actor.name, "idle")

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            with contextlib.suppress(Exception):
                await self.heartbeat()

    async def heartbeat(self) -> None:
        beats = [(a.name, a.instance_id, a.requests) for a in self._actors.values()]
        if beats:
            await self.durable.heartbeat(self.slot, beats)
            m.actor_heartbeat_writes_total.inc()

    async def evict(self, name: str, reason: str) -> bool:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            actor = self._actors.get(name)
            if actor is None:
                return False
            await self._evict_locked(actor, reason)
            return True

    async def _evict_locked(self, actor: ChannelActor, reason: str) -> None:
        """Record the clean end first, then forget the instance, so its successor never sees a
        live-looking predecessor (that is what made the seed count idle evictions as churn)."""
        await asyncio.gather(*self._registrations, return_exceptions=True)
        await self.lifecycle.ended(actor, reason)
        self._actors.pop(actor.name, None)
        m.actor_instances.labels(actor.colo).dec()
        log_event(
            log,
            "instance_evicted",
            f"DO Instance Evicted: id={actor.instance_id}, name={actor.name}, "
            f"reason={reason}, lifetime={actor.age:.1f}s, requests={actor.requests}",
            actor=actor.name,
            instance_id=actor.instance_id,
            reason=reason,
        )

    async def close(self) -> None:
        await cancel_all(self._tasks)
        for name in list(self._actors):
            with contextlib.suppress(Exception):
                await self.evict(name, "shutdown")
        await self.lifecycle.close(self.live())
