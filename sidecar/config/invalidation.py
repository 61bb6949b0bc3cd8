"""Invalidation as in the seed: one channel (all its keys), a whole org, and warming.

Unlike the system this replaces, these are not optional helpers: the admin API calls
:meth:`Invalidator.after_write` for every write that changes what a channel's config holds, and a
test walks every mutating admin route to prove it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sidecar.config.cache import ConfigCache, Invalidation, id_key, slug_key
from sidecar.config.store import ChannelKeyRef, unique
from sidecar.redis_link import RedisUnavailable
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.config.invalidation")


@dataclass
class InvalidationReport:
    scope: str
    keys: list[str] = field(default_factory=list)
    keys_dropped: int = 0
    seconds: float = 0.0
    ok: bool = True
    warmed: bool | None = None
    error: str | None = None

    def api(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "keys": self.keys,
            "keysDropped": self.keys_dropped,
            "invalidationMs": round(self.seconds * 1000, 3),
            "ok": self.ok,
            "warmed": self.warmed,
            "error": self.error,
        }


def keys_of(ref: ChannelKeyRef) -> list[tuple[str, int]]:
    return [(slug_key(ref.org_slug, ref.slug), ref.version), (id_key(ref.id), ref.version)]


class Invalidator:
    def __init__(self, cache: ConfigCache, warm_on_write: bool = True) -> None:
        self.cache = cache
        self.warm_on_write = warm_on_write

    async def invalidate(
        self, refs: Sequence[ChannelKeyRef], scope: str = "channel", *, written_at: float | None = None
    ) -> InvalidationReport:
        """Drop the refs' keys everywhere. ``written_at`` is when the write that changed them
        committed (default: now, for an invalidation asked for without a write); every process
        that receives the message measures its propagation from it."""
        written_at = time.time() if written_at is None else written_at
        refs = unique(refs)
        items = [item for ref in refs for item in keys_of(ref)]
        report = InvalidationReport(scope=scope, keys=[k for k, _ in items])
        if not items:
            return report
        names = ", ".join(f"{r.org_slug}/{r.slug} ({r.id})" for r in refs[:5])
        log_event(
            log,
            "cache_invalidating",
            f"Invalidating channel config cache: {names}",
            scope=scope,
            keys=report.keys,
        )
        change = Invalidation(items, written_at, sorted({r.org_slug for r in refs}))
        started = time.perf_counter()
        try:
            report.keys_dropped = await self.cache.drop(change)
        except RedisUnavailable as exc:
            # The write is committed; the shared cache is unreachable. Retry when Redis is back;
            # until then entries expire within the TTL and L1s are bypassed (bus down).
            self.cache.retry_later(change)
            report.ok = False
            report.error = f"shared cache unreachable, invalidation queued for retry: {exc}"
        report.seconds = time.perf_counter() - started
        m.config_invalidation_seconds.labels(scope).observe(report.seconds)
        m.config_invalidations_total.labels(scope, "ok" if report.ok else "error").inc()
        m.config_invalidated_keys_total.inc(report.keys_dropped)
        if report.ok:
            log_event(
                log,
                "cache_invalidated",
                f"Cache invalidated for {report.keys_dropped} keys",
                scope=scope,
                keys=report.keys,
                keys_dropped=report.keys_dropped,
                duration_ms=round(report.seconds * 1000, 3),
            )
        else:
            log_event(
                log,
                "cache_invalidation_failed",
                f"Cache invalidation failed: {report.error}",
                level=logging.WARNING,
                scope=scope,
                keys=report.keys,
            )
        return report

    async def warm(self, ref: ChannelKeyRef) -> bool:
        """Re-read the channel and write it through. Version-checked: it can never write back
        an older version over a newer one, whatever it races with."""
        try:
            await self.cache.fill(slug_key(ref.org_slug, ref.slug))
            await self.cache.fill(id_key(ref.id))
        except Exception as exc:  # a failed warm only costs a later miss
            m.config_warms_total.labels("error").inc()
            log_event(log, "cache_warm_failed", f"Cache warm failed: {exc}", level=logging.WARNING)
            return False
        m.config_warms_total.labels("ok").inc()
        log_event(log, "cache_warmed", f"Cache warmed: {ref.org_slug}/{ref.slug}")
        return True

    async def after_write(
        self,
        refs: Sequence[ChannelKeyRef],
        *,
        scope: str = "channel",
        warm: bool | None = None,
        exists: bool = True,
    ) -> InvalidationReport:
        """What every admin write calls once its transaction has committed: the time of the call
        is the write's commit time, which the invalidation carries to every process."""
        report = await self.invalidate(refs, scope, written_at=time.time())
        if exists and (self.warm_on_write if warm is None else warm) and refs:
            results = [await self.warm(ref) for ref in unique(refs)]
            report.warmed = all(results)
        return report
