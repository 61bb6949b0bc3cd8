"""Test helpers for the beacon queue: a scripted beacon receiver and metric readers.

``ScriptedReceiver`` is the real ``BeaconReceiver`` HTTP server (every request is recorded in
``hits`` on arrival) that answers according to the path, so a test can make a tracker fail in
the ways that matter:

==========================  ===============================================================
``/status/{code}/...``      answers ``code`` (404, 500 ...)
``/flaky/{n}/...``          500 for the first ``n`` requests to that exact path, then 200
``/hold/...``               waits until ``gate`` is set, then 200 (a tracker that hangs)
``/redirect/...``           302 to ``/landed`` (which a beacon sender must not follow)
anything else               200 with a 1x1 GIF
==========================  ===============================================================

``answered`` records ``(path, status)`` when the response is sent, which is how the kill test
tells a request that reached the tracker from one the tracker actually answered.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import REGISTRY

from tests.ads.adserver import PIXEL, BeaconReceiver


class ScriptedReceiver(BeaconReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.answered: list[tuple[str, int]] = []

    def hit_counts(self) -> Counter[str]:
        return Counter(hit.path for hit in self.hits)

    def answered_counts(self, status: int = 200) -> Counter[str]:
        return Counter(path for path, code in self.answered if code == status)

    async def wait_answered(self, predicate: Callable[[list[tuple[str, int]]], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: predicate(self.answered))

    async def _record(self, request: web.Request) -> web.Response:
        await super()._record(request)
        parts = request.path.strip("/").split("/")
        status = 200
        if parts[0] == "status":
            status = int(parts[1])
        elif parts[0] == "flaky":
            status = 500 if self.hit_counts()[request.path] <= int(parts[1]) else 200
        elif parts[0] == "hold":
            await self.gate.wait()
        elif parts[0] == "redirect":
            status = 302
        async with self._arrived:
            self.answered.append((request.path, status))
            self._arrived.notify_all()
        if status == 302:
            return web.Response(status=302, headers={"Location": self.url("/landed")})
        if status != 200:
            return web.Response(status=status, text="tracker says no")
        return web.Response(body=PIXEL, content_type="image/gif")


def beacons_count(event: str, result: str) -> float:
    """Current value of ``ssai_beacons_total{event,result}`` in this process."""
    return REGISTRY.get_sample_value("ssai_beacons_total", {"event": event, "result": result}) or 0.0


def counts_by_result(event: str) -> dict[str, float]:
    return {r: beacons_count(event, r) for r in ("sent", "failed", "retried", "dropped")}


def gauge(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None, f"{name} is not exported"
    return value


async def eventually(check: Callable[[], Awaitable[object] | object], timeout: float = 5.0,
                     interval: float = 0.02) -> None:
    """Poll ``check`` (sync or async) until it returns truthy: for state outside the receiver."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
