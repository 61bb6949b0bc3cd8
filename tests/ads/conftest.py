"""Fixtures: a real ad server and beacon receiver on ephemeral 127.0.0.1 ports, and an HTTP client.

The beacon receiver is separate from the ad server on purpose: server-side beacon tests can
start it alone (``beacon_receiver``) and point any VAST at it.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.ads.adserver import AdServer, BeaconReceiver


@pytest.fixture
async def beacon_receiver() -> AsyncIterator[BeaconReceiver]:
    receiver = BeaconReceiver()
    await receiver.start()
    yield receiver
    await receiver.close()


@pytest.fixture
async def ad_server(beacon_receiver: BeaconReceiver) -> AsyncIterator[AdServer]:
    server = AdServer(beacon_receiver.base_url)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def refused_url() -> str:
    """A URL on a port nothing listens on (bound, then released, so it is free right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/vast"
