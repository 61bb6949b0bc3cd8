"""Notification bus: Redis pub/sub across processes, or direct calls inside one process.

Used for config invalidation (drop L1 entries everywhere) and actor state changes. Pub/sub is
fire-and-forget, so subscribers also learn when they may have missed messages
(``on_reconnect``) and must then distrust what they hold; ``connected`` says whether messages
are currently flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from sidecar.redis_link import RedisLink, RedisUnavailable
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.bus")

Handler = Callable[[dict[str, Any]], None]


class Bus(Protocol):
    @property
    def connected(self) -> bool: ...

    async def publish(self, topic: str, message: dict[str, Any]) -> bool: ...

    def subscribe(self, topic: str, handler: Handler, on_reconnect: Callable[[], None] | None = None) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """One process: delivery is a direct call, so it is always connected."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        m.bus_connected.set(1)  # in-process delivery cannot be lost

    @property
    def connected(self) -> bool:
        return True

    async def publish(self, topic: str, message: dict[str, Any]) -> bool:
        m.bus_messages_total.labels(topic, "published").inc()
        for handler in self._handlers.get(topic, []):
            handler(message)
        return True

    def subscribe(self, topic: str, handler: Handler, on_reconnect: Callable[[], None] | None = None) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisBus:
    """Redis pub/sub with a reconnecting listener task."""

    def __init__(self, link: RedisLink, prefix: str = "sidecar:") -> None:
        self.link = link
        self.prefix = prefix
        self._handlers: dict[str, list[Handler]] = {}
        self._reconnect_hooks: list[Callable[[], None]] = []
        self._connected = False
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        # Identifies this bus on the wire so its listener skips its own echo (PIDs repeat
        # across machines, and tests run several buses in one process; this does not).
        self.token = secrets.token_hex(8)

    @property
    def connected(self) -> bool:
        return self._connected

    async def publish(self, topic: str, message: dict[str, Any]) -> bool:
        try:
            wire = json.dumps({**message, "_src": self.token})
            await self.link.call("bus", lambda r: r.publish(self.prefix + topic, wire))
        except RedisUnavailable:
            return False
        m.bus_messages_total.labels(topic, "published").inc()
        # Our own listener receives it too; for this process deliver now so the writer's
        # L1 is correct the moment the write returns.
        self._deliver(topic, message)
        return True

    def subscribe(self, topic: str, handler: Handler, on_reconnect: Callable[[], None] | None = None) -> None:
        self._handlers.setdefault(topic, []).append(handler)
        if on_reconnect is not None:
            self._reconnect_hooks.append(on_reconnect)

    def _deliver(self, topic: str, message: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, []):
            try:
                handler(message)
            except Exception:  # a bad handler must not kill the listener
                log.exception("bus handler failed", extra={"event": "bus_handler_error", "topic": topic})

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="bus-listener")
            # Give the first subscription a moment so writes right after start are seen.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=2.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._connected = False

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self.link.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.prefix + "*")
                # Anything published while we were away is lost: tell holders of derived state.
                for hook in self._reconnect_hooks:
                    hook()
                self._connected = True
                m.bus_connected.set(1)
                self._ready.set()
                backoff = 0.1
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None or msg.get("type") != "pmessage":
                        continue
                    topic = msg["channel"].decode()[len(self.prefix) :]
                    if topic not in self._handlers:
                        continue  # not ours; also keeps the topic label set bounded
                    try:
                        payload = json.loads(msg["data"])
                    except (ValueError, TypeError):
                        continue
                    if not isinstance(payload, dict) or payload.pop("_src", None) == self.token:
                        continue  # delivered locally at publish time
                    m.bus_messages_total.labels(topic, "received").inc()
                    self._deliver(topic, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: distrust derived state until back
                if self._connected:
                    log_event(log, "bus_disconnected", f"Invalidation bus lost: {exc}", level=logging.WARNING)
                self._connected = False
                m.bus_connected.set(0)
                self._ready.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
