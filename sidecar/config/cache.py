"""Channel config read path: per-process L1 → shared KV → SQL store.

* Keys are the seed's: ``channel:{org}:{channel}`` and ``channel:id:{channel_id}``.
* The shared KV bounds staleness by TTL (60 s, the seed's value) even if every invalidation were
  lost; invalidations normally make changes visible at once.
* L1 is a small per-process map in front. It is trusted only while this process is subscribed to
  the invalidation bus (every write publishes the keys it changed); when the bus drops, L1 is
  cleared and bypassed until it is back, so a lost message cannot leave a process stale.
* Concurrent misses of one key share one in-flight read (single flight), so a popular channel
  whose entry was just invalidated costs the store one query, not one per viewer.
* Redis failures degrade to the store: the answer is slower, never wrong or missing.

Counting: exactly one ``ssai_config_cache_requests_total`` per lookup that answers a request,
whichever path answers it (``get``, or the playlist fast path's ``peek`` followed by
``count_hit`` once the fast path has answered; a fast path that gives up counts nothing and the
full path's ``get`` counts). Lookups of channels that do not exist are not a channel's cache
reads: they show in ``ssai_config_lookups_total`` only.

Propagation: every invalidation message carries the committed write's timestamp and orgs; every
process that receives it observes ``ssai_config_propagation_seconds{org}`` once its L1 copies
are gone (the writing process too, at publish time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from sidecar.bus import Bus
from sidecar.config.kv import ABSENT, DATA, KV
from sidecar.config.models import ChannelConfig
from sidecar.config.store import Store
from sidecar.redis_link import RedisUnavailable
from sidecar.telemetry import catalogue as m
from sidecar.telemetry import hot
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.config.cache")

TOPIC = "config"
#: A receiving process logs a propagation slower than this (the seed's alert threshold).
SLOW_PROPAGATION_SECONDS = 2.0


def slug_key(org_slug: str, channel_slug: str) -> str:
    return f"channel:{org_slug}:{channel_slug}"


def id_key(channel_id: str) -> str:
    return f"channel:id:{channel_id}"


@dataclass(frozen=True)
class Invalidation:
    """What one committed write invalidates: (key, version) pairs, when the write committed
    (Unix time, the start of its propagation) and the orgs it belongs to."""

    items: list[tuple[str, int]]
    written_at: float
    orgs: list[str] = field(default_factory=list)

    def message(self) -> dict[str, object]:
        return {"items": [[k, v] for k, v in self.items], "written_at": self.written_at, "orgs": self.orgs}


@dataclass(frozen=True)
class Lookup:
    """A resolved key: what was found (None = no such channel) and at which version."""

    version: int
    config: ChannelConfig | None


class L1:
    """Bounded map of decoded configs (oldest inserted evicted first; entries live seconds) with
    per-key version floors from invalidations."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Lookup]] = OrderedDict()
        self._floors: dict[str, tuple[float, int]] = {}

    def get(self, key: str) -> Lookup | None:
        item = self._entries.get(key)
        if item is None:
            return None
        expires, lookup = item
        if expires <= time.monotonic():
            del self._entries[key]
            return None
        return lookup

    def put(self, key: str, lookup: Lookup, ttl: float | None = None) -> bool:
        floor = self._floors.get(key)
        if floor is not None:
            floor_expires, floor_version = floor
            if floor_expires <= time.monotonic():
                del self._floors[key]
            elif lookup.version < floor_version:
                return False
        self._entries[key] = (time.monotonic() + (ttl or self.ttl), lookup)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def drop(self, items: list[tuple[str, int]], floor_ttl: float) -> int:
        dropped = 0
        expires = time.monotonic() + floor_ttl
        for key, version in items:
            if self._entries.pop(key, None) is not None:
                dropped += 1
            current = self._floors.get(key)
            if current is None or current[1] < version:
                self._floors[key] = (expires, version)
        if len(self._floors) > 4 * self.max_entries:
            now = time.monotonic()
            self._floors = {k: v for k, v in self._floors.items() if v[0] > now}
        return dropped

    def clear(self) -> None:
        self._entries.clear()


class ConfigCache:
    def __init__(
        self,
        store: Store,
        kv: KV,
        bus: Bus,
        *,
        ttl: float = 60.0,
        l1_ttl: float = 5.0,
        negative_ttl: float = 5.0,
    ) -> None:
        self.store = store
        self.kv = kv
        self.bus = bus
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.l1 = L1(l1_ttl)
        self._flights: dict[str, asyncio.Future[tuple[Lookup, str]]] = {}
        self._l1_hits = hot.counter(m.config_lookups_total, "l1", "hit")
        self._by_channel: dict[tuple[str, str, str], hot.HotCounter] = {}
        self._propagation: dict[str, hot.HotHistogram] = {}
        self._pending: list[Invalidation] = []
        bus.subscribe(TOPIC, self._on_message, on_reconnect=self.l1.clear)

    # --- reads -------------------------------------------------------------------------------
    async def get(self, org_slug: str, channel_slug: str) -> ChannelConfig | None:
        lookup, source = await self._lookup(slug_key(org_slug, channel_slug))
        self._count(lookup, source)
        return lookup.config

    async def get_by_id(self, channel_id: str) -> ChannelConfig | None:
        lookup, source = await self._lookup(id_key(channel_id))
        self._count(lookup, source)
        return lookup.config

    def peek(self, org_slug: str, channel_slug: str) -> ChannelConfig | None:
        """A trusted L1 hit, without awaiting anything (the playlist fast path), else None.
        Counts nothing: the fast path calls :meth:`count_hit` once it has answered with it, and
        a None (or a fast path that gives up) means "call ``get``", which counts."""
        if not self.bus.connected:
            return None
        hit = self.l1.get(f"channel:{org_slug}:{channel_slug}")
        if hit is None or hit.config is None:
            return None
        return hit.config

    def count_hit(self, config: ChannelConfig) -> None:
        """The fast path answered from ``peek``'s L1 hit: counted exactly as ``get`` counts one."""
        self._l1_hits.inc()
        self._channel_counter(config, "hit").inc()

    def _channel_counter(self, config: ChannelConfig, result: str) -> hot.HotCounter:
        # Keyed by the labels themselves: a renamed channel counts under its new name at once.
        key = (config.org_slug, config.slug, result)
        counter = self._by_channel.get(key)
        if counter is None:
            m.init_channel(config.org_slug, config.slug)
            counter = self._by_channel[key] = hot.counter(
                m.config_cache_requests_total, config.org_slug, config.slug, result, fresh=True
            )
        return counter

    def _count(self, lookup: Lookup, source: str) -> None:
        # Only channels that exist get a series: garbage URLs cannot grow the series set.
        if lookup.config is not None:
            result = {"db": "miss", "coalesced": "coalesced"}.get(source, "hit")
            self._channel_counter(lookup.config, result).inc()

    async def _lookup(self, key: str) -> tuple[Lookup, str]:
        """(lookup, source) where source is l1, kv, db or coalesced."""
        if self.bus.connected:
            hit = self.l1.get(key)
            if hit is not None:
                m.child(m.config_lookups_total, "l1", "hit").inc()
                return hit, "l1"
            m.config_lookups_total.labels("l1", "miss").inc()
        flight = self._flights.get(key)
        if flight is not None:
            m.config_coalesced_total.inc()
            return (await asyncio.shield(flight))[0], "coalesced"
        future: asyncio.Future[tuple[Lookup, str]] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            result = await self._read_through(key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must warn
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._flights[key]

    async def _read_through(self, key: str) -> tuple[Lookup, str]:
        try:
            entry = await self.kv.get(key)
        except RedisUnavailable:
            entry = None
            m.config_lookups_total.labels("kv", "error").inc()
        else:
            if entry is not None and entry.kind in (DATA, ABSENT):
                m.config_lookups_total.labels("kv", "hit").inc()
                config = ChannelConfig.model_validate_json(entry.payload) if entry.kind == DATA else None
                lookup = Lookup(entry.version, config)
                self._l1_put(key, lookup)
                return lookup, "kv"
            m.config_lookups_total.labels("kv", "miss").inc()
        lookup = await self.fill(key)
        return lookup, "db"

    async def _read_store(self, key: str) -> Lookup:
        try:
            if key.startswith("channel:id:"):
                floor, config = await self.store.read_config(channel_id=key[len("channel:id:") :])
            else:
                _, org_slug, channel_slug = key.split(":", 2)
                floor, config = await self.store.read_config(org_slug=org_slug, channel_slug=channel_slug)
        except Exception:
            m.config_lookups_total.labels("db", "error").inc()
            raise
        m.config_lookups_total.labels("db", "hit" if config else "miss").inc()
        return Lookup(config.version if config else floor, config)

    def _l1_put(self, key: str, lookup: Lookup) -> None:
        if not self.bus.connected:
            return
        ttl = self.l1.ttl if lookup.config is not None else min(self.l1.ttl, self.negative_ttl)
        if not self.l1.put(key, lookup, ttl):
            m.config_cache_writes_total.labels("l1", "rejected_stale").inc()

    async def _kv_put(self, key: str, lookup: Lookup) -> bool:
        if lookup.config is not None:
            kind, payload, ttl = DATA, lookup.config.model_dump_json(), self.ttl
        else:
            kind, payload, ttl = ABSENT, "", self.negative_ttl
        try:
            written = await self.kv.put(key, lookup.version, kind, payload, ttl)
        except RedisUnavailable:
            m.config_cache_writes_total.labels("kv", "error").inc()
            return False
        m.config_cache_writes_total.labels("kv", "written" if written else "rejected_stale").inc()
        return written

    # --- invalidation primitives (policy lives in invalidation.py) -----------------------------
    async def drop(self, change: Invalidation) -> int:
        """Tombstone the change's (key, version) pairs in the shared KV and drop them from every
        process's L1 (the message carries the write's timestamp, so each receiver can tell how
        long the change took to reach it).

        Returns how many keys held a value. Raises RedisUnavailable when the shared part could
        not be done; the caller queues a retry (``retry_later``) and the TTL bounds the damage.
        """
        self.l1.drop(change.items, self.ttl)
        dropped = await self.kv.invalidate(change.items, self.ttl)
        if not await self.bus.publish(TOPIC, change.message()):
            raise RedisUnavailable("invalidation not published")
        return dropped

    def retry_later(self, change: Invalidation) -> None:
        self._pending.append(change)

    async def retry_pending(self) -> int:
        """Re-send invalidations that failed while Redis was away (with their original write
        time: the outage is part of their propagation). Returns how many are left."""
        while self._pending:
            try:
                await self.drop(self._pending[0])
            except RedisUnavailable:
                break
            self._pending.pop(0)
        return len(self._pending)

    async def fill(self, key: str) -> Lookup:
        """Read the store and write the result through (a miss, or a warm); version-checked."""
        lookup = await self._read_store(key)
        await self._kv_put(key, lookup)
        self._l1_put(key, lookup)
        return lookup

    def _on_message(self, message: dict[str, object]) -> None:
        items = message.get("items")
        if not isinstance(items, list):
            return
        valid = [
            (str(item[0]), item[1])
            for item in items
            if isinstance(item, list) and len(item) == 2 and isinstance(item[1], int)
        ]
        self.l1.drop(valid, self.ttl)
        written_at = message.get("written_at")
        orgs = message.get("orgs")
        if isinstance(written_at, int | float) and isinstance(orgs, list):
            self._observe_propagation(time.time() - float(written_at), [o for o in orgs if isinstance(o, str)])

    def _observe_propagation(self, seconds: float, orgs: list[str]) -> None:
        """This process no longer holds the changed config: the change has reached it."""
        seconds = max(0.0, seconds)  # clocks of two machines may disagree by a little
        for org in orgs:
            histogram = self._propagation.get(org)
            if histogram is None:
                histogram = self._propagation[org] = hot.histogram(m.config_propagation_seconds, org, fresh=True)
            histogram.observe(seconds)
        if seconds > SLOW_PROPAGATION_SECONDS:
            log_event(
                log,
                "config_propagation_slow",
                f"A config change reached this process {seconds:.2f}s after it was committed",
                level=logging.WARNING,
                orgs=orgs,
                propagation_seconds=round(seconds, 3),
            )
