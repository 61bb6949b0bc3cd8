"""One channel actor instance: memory copy of the durable state, output-gated writes.

Rules:
* Reads are lock-free: viewers read ``state`` from memory and are never serialised.
* Changes go through :meth:`ChannelActor.mutate`: under the actor's lock, the transition runs on
  the current state, the result is written durably by compare-and-set, and only once the write
  is confirmed does memory change and the caller get an answer (the seed's "durable first").
  A failed write leaves memory as it was and raises. A lost compare-and-set (another process or
  colo wrote first) reloads and re-runs the transition.
* The lock is held only around that write: never across origin fetches or ad decisions.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from sidecar.actors.durable import DurableState, Stored, VersionConflict
from sidecar.actors.state import ChannelState
from sidecar.telemetry import catalogue as m
from sidecar.telemetry import hot
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.actors")

MAX_CAS_ATTEMPTS = 8
YOUNG_LOG_LIMIT = 5

Transition = Callable[[ChannelState, float], ChannelState | None]


class PersistError(Exception):
    """The durable write did not complete; nothing changed."""


class ChannelActor:
    def __init__(
        self,
        *,
        name: str,
        colo: str,
        org_id: str,
        org_slug: str,
        channel_id: str,
        channel_slug: str,
        durable: DurableState,
        publish: Callable[[dict[str, Any]], Any],
        young_seconds: float = 10.0,
    ) -> None:
        self.name = name
        self.colo = colo
        self.org_id = org_id
        self.org_slug = org_slug
        self.channel_id = channel_id
        self.channel_slug = channel_slug
        self.instance_id = secrets.token_hex(4)
        self.created_at = time.time()
        self._created_mono = time.monotonic()
        self.requests = 0
        self.last_request_mono = self._created_mono
        self.young_seconds = young_seconds
        self._young_logged = 0
        self._durable = durable
        # Metric children resolved once: touch() runs on every viewer request.
        self._age_histogram = hot.histogram(m.actor_instance_age_seconds, org_slug, channel_slug)
        self.young_requests = 0  # committed to the slot's durable ledger by the runtime (ADR 0010)
        self._publish = publish
        self._lock = asyncio.Lock()
        self.stored = Stored(ChannelState(), 0, 0.0)
        self.last_version_check = 0.0
        self.stale = False
        # What the stitcher last evaluated cue/schedule triggers for (origin window, state, config).
        self.triggers_seen: tuple[str, int, int] | None = None

    # --- reads ---------------------------------------------------------------------------------
    @property
    def state(self) -> ChannelState:
        return self.stored.state

    @property
    def version(self) -> int:
        return self.stored.version

    @property
    def age(self) -> float:
        return time.monotonic() - self._created_mono

    async def load(self) -> None:
        """Before serving: the durable state, whatever any previous instance left."""
        self.stored = await self._durable.load(self.channel_id)
        self.last_version_check = time.monotonic()

    def touch(self) -> float:
        """Account one request (no I/O): count, age histogram, young-instance flag."""
        self.requests += 1
        now = self.last_request_mono = time.monotonic()
        age = now - self._created_mono
        self._age_histogram.observe(age)
        if age < self.young_seconds:
            self.young_requests += 1
            if self._young_logged < YOUNG_LOG_LIMIT:
                self._young_logged += 1
                log_event(
                    log,
                    "young_instance",
                    f"Young DO instance serving request: age={age:.1f}s, requests={self.requests}",
                    actor=self.name,
                    instance_id=self.instance_id,
                    age_seconds=round(age, 3),
                    requests=self.requests,
                )
        return age

    # --- learning about changes made elsewhere --------------------------------------------------
    def apply_remote(self, stored: Stored) -> bool:
        """A newer state announced on the bus (or found by a version check). Never goes back."""
        if stored.version <= self.stored.version:
            return False
        self.stored = stored
        self.stale = False
        return True

    async def refresh(self, via: str) -> bool:
        """Re-read the durable state if its version moved (backstop when the bus is down)."""
        self.last_version_check = time.monotonic()
        current = await self._durable.version(self.channel_id)
        if current == self.stored.version and not self.stale:
            return False
        stored = await self._durable.load(self.channel_id)
        self.stale = False
        if self.apply_remote(stored):
            m.actor_state_syncs_total.labels(via).inc()
            return True
        return False

    # --- changes -------------------------------------------------------------------------------
    async def mutate(self, transition: Transition) -> tuple[Stored, bool]:
        """Run ``transition`` and persist its result. Returns (stored state, changed?)."""
        async with self._lock:
            for _ in range(MAX_CAS_ATTEMPTS):
                now = time.time()
                new_state = transition(self.stored.state, now)
                if new_state is None:
                    return self.stored, False
                started = time.perf_counter()
                try:
                    written = await self._durable.compare_and_set(
                        self.channel_id, self.org_id, self.stored.version, new_state
                    )
                except VersionConflict:
                    m.state_persist_total.labels("conflict").inc()
                    self.stored = await self._durable.load(self.channel_id)
                    continue
                except Exception as exc:
                    m.state_persist_total.labels("failed").inc()
                    log_event(
                        log,
                        "persist_failed",
                        f"Persisting ad state failed: {type(exc).__name__}: {exc}",
                        level=logging.ERROR,
                        actor=self.name,
                        version=self.stored.version,
                    )
                    raise PersistError(str(exc)) from exc
                m.state_persist_seconds.observe(time.perf_counter() - started)
                m.state_persist_total.labels("confirmed").inc()
                # Confirmed: only now does memory change.
                self.stored = written
                current = written.state.current
                log_event(
                    log,
                    "persisted_state",
                    f"Persisted ad state to durable storage: version={written.version}, "
                    f"podId={current.pod_id if current else None}, "
                    f"duration={current.duration_seconds if current else 0}s",
                    actor=self.name,
                    channel_id=self.channel_id,
                    version=written.version,
                )
                await self._announce(written)
                return written, True
            m.state_persist_total.labels("failed").inc()
            raise PersistError(f"gave up after {MAX_CAS_ATTEMPTS} conflicting writes")

    async def _announce(self, stored: Stored) -> None:
        message = {
            "channel_id": self.channel_id,
            "version": stored.version,
            "updated_at": stored.updated_at,
            "state": stored.state.to_json(),
        }
        try:
            result = self._publish(message)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # the write is durable; other instances find it by version check
            log.warning("state announcement failed", extra={"event": "announce_failed", "actor": self.name})
