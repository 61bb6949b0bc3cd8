"""The process's long-lived parts, built once from settings and shared by every app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import aiohttp

from sidecar.actors.durable import DurableState
from sidecar.actors.runtime import ActorRuntime
from sidecar.ads.beacons import BeaconQueue, MemoryBeaconQueue, RedisBeaconQueue, consumer_name
from sidecar.bus import Bus, LocalBus, RedisBus
from sidecar.config.cache import ConfigCache
from sidecar.config.invalidation import Invalidator
from sidecar.config.kv import KV, MemoryKV, RedisKV
from sidecar.config.store import Store
from sidecar.net.client import client_session
from sidecar.net.policy import UrlPolicy
from sidecar.redis_link import RedisLink
from sidecar.settings import Settings
from sidecar.stitch.engine import Stitcher
from sidecar.tasks import cancel_all

log = logging.getLogger("sidecar.services")
AUDIT_PRUNE_INTERVAL = 3600.0


@dataclass
class Services:
    settings: Settings
    store: Store
    kv: KV
    bus: Bus
    cache: ConfigCache
    invalidator: Invalidator
    actors: ActorRuntime
    redis: RedisLink | None = None
    stitcher: Stitcher | None = None
    beacons: BeaconQueue | None = None
    url_policy: UrlPolicy = field(default_factory=UrlPolicy)
    #: Every listener of ``run_apps`` is bound (readiness; ``/readyz``).
    listening: bool = False
    _session: aiohttp.ClientSession | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        store = Store.from_url(settings.database_url)
        redis: RedisLink | None = None
        kv: KV
        bus: Bus
        if settings.redis_url:
            redis = RedisLink(settings.redis_url, settings.redis_timeout_seconds, settings.redis_retry_after_seconds)
            kv, bus = RedisKV(redis), RedisBus(redis)
        else:
            kv, bus = MemoryKV(), LocalBus()
        cache = ConfigCache(
            store,
            kv,
            bus,
            ttl=settings.config_cache_ttl_seconds,
            l1_ttl=settings.config_l1_ttl_seconds,
            negative_ttl=settings.config_negative_ttl_seconds,
        )
        actors = ActorRuntime(
            DurableState(store.engine),
            bus,
            slot=settings.slot,
            idle_seconds=settings.actor_idle_seconds,
            churn_window=settings.actor_churn_window_seconds,
            heartbeat_seconds=settings.actor_heartbeat_seconds,
            young_seconds=settings.actor_young_seconds,
            version_check_seconds=settings.actor_version_check_seconds,
        )
        policy = UrlPolicy(settings.url_allow_entries)
        for address in settings.listen_addresses:
            policy.add_listener(address.host, address.port)
        return cls(settings, store, kv, bus, cache, Invalidator(cache), actors, redis, url_policy=policy)

    async def start(self) -> None:
        await self.bus.start()
        await self.actors.start()
        # Every URL this session fetches was chosen by a tenant: the URL policy checks each connection.
        self._session = client_session(
            self.url_policy, timeout=aiohttp.ClientTimeout(total=10), headers={"User-Agent": "sidecar-ssai"}
        )
        self.beacons = (
            RedisBeaconQueue(self.redis, self._session, consumer_name())
            if self.redis is not None
            else MemoryBeaconQueue(self._session)
        )
        await self.beacons.start()
        self.stitcher = Stitcher(
            self.actors,
            self._session,
            origin_timeout=self.settings.origin_timeout_seconds,
            origin_ttl=self.settings.origin_cache_seconds,
            list_pods=self.store.list_pods,
            beacons=self.beacons,
            beacon_delay=self.settings.beacon_player_delay_seconds,
        )
        self._tasks.append(asyncio.create_task(self._retry_invalidations(), name="invalidation-retry"))
        self._tasks.append(asyncio.create_task(self._prune_audit(), name="audit-prune"))

    async def _retry_invalidations(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.cache.retry_pending()

    async def _prune_audit(self) -> None:
        """Drop audit records past SIDECAR_AUDIT_RETENTION_DAYS: at start, then hourly (every
        process does it; deleting what another already deleted is harmless)."""
        while True:
            try:
                pruned = await self.store.audit.prune(self.settings.audit_retention_days * 86400)
            except Exception as exc:
                log.warning(f"audit pruning failed: {type(exc).__name__}", extra={"event": "audit_prune_failed"})
            else:
                if pruned:
                    log.info(f"pruned {pruned} audit records", extra={"event": "audit_pruned", "records": pruned})
            await asyncio.sleep(AUDIT_PRUNE_INTERVAL)

    async def close(self) -> None:
        await cancel_all(self._tasks)
        await self.actors.close()
        if self.beacons is not None:
            await self.beacons.close()
        if self._session is not None:
            await self._session.close()
        await self.bus.close()
        if self.redis is not None:
            await self.redis.close()
        await self.store.close()
