"""Fixtures for origin tests: a controllable clock and real origin servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sidecar.origin import OriginConfig, build_origin_app

EPOCH = 1_700_000_000.0  # 2023-11-14T22:13:20Z; breaks (every 120 s) start at MSN 0, 30, 60, ...


class FakeClock:
    """A settable clock: ``clock()`` returns ``clock.now``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at_segment_end(self, cfg: OriginConfig, last: int, plus: float = 0.5) -> None:
        """Move to just after segment ``last`` completes (so it is the newest one)."""
        self.now = cfg.epoch + (last + 1) * cfg.segment_duration + plus


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(EPOCH + 1000.0)


OriginFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def origin(clock: FakeClock) -> AsyncIterator[OriginFactory]:
    """``await origin(**config_fields)`` starts a real origin server and returns a client."""
    clients: list[TestClient[Any, Any]] = []

    async def start(**fields: Any) -> TestClient[Any, Any]:
        fields.setdefault("epoch", EPOCH)
        fields.setdefault("clock", clock)
        client = TestClient(TestServer(build_origin_app(OriginConfig(**fields)), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
