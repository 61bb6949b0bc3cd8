"""One guarded Redis connection per process.

Redis is a cache, a bus and a queue here, never the only copy of anything, so every caller has a
fallback. The guard makes the fallback cheap: after a failure, calls fail fast for
``retry_after`` seconds instead of each viewer request waiting out a socket timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

T = TypeVar("T")
log = logging.getLogger("sidecar.redis")


class RedisUnavailable(Exception):
    """Redis is down or was down moments ago; use the fallback path."""


class RedisLink:
    def __init__(self, url: str, timeout: float = 0.25, retry_after: float = 1.0) -> None:
        self.url = url
        self.retry_after = retry_after
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            health_check_interval=10,
        )
        self._down_until = 0.0
        self._was_down = False

    @property
    def healthy(self) -> bool:
        return time.monotonic() >= self._down_until

    async def call(self, component: str, fn: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if not self.healthy:
            raise RedisUnavailable("redis marked down")
        try:
            result = await fn(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.mark_down(component, exc)
            raise RedisUnavailable(str(exc)) from exc
        if self._was_down:
            self._was_down = False
            log_event(log, "redis_recovered", "Redis reachable again", component=component)
        return result

    def mark_down(self, component: str, exc: BaseException) -> None:
        m.redis_errors_total.labels(component).inc()
        if not self._was_down:
            log_event(
                log,
                "redis_unavailable",
                f"Redis unavailable, falling back: {exc}",
                level=logging.WARNING,
                component=component,
            )
        self._was_down = True
        self._down_until = time.monotonic() + self.retry_after

    async def close(self) -> None:
        await self.client.aclose()
