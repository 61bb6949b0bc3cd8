"""The test servers themselves: placeholders are filled and the beacon receiver records hits."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.ads.adserver import PIXEL, AdServer, BeaconReceiver


async def test_fixtures_point_at_the_beacon_receiver(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    async with http.get(ad_server.url("/vast/wrapper1")) as resp:
        body = await resp.text()
    assert resp.status == 200 and resp.content_type == "application/xml"
    assert "{{" not in body
    assert f"{ad_server.beacon_url}/impression/wrapper-1" in body
    assert f"{ad_server.base_url}/vast/wrapper2?" in body
    assert ad_server.requests == ["/vast/wrapper1"]


async def test_beacon_receiver_records_every_get(http: aiohttp.ClientSession, beacon_receiver: BeaconReceiver) -> None:
    async with http.get(beacon_receiver.url("/track/ad-1/start?sid=abc&cb=12345678")) as resp:
        assert resp.status == 200
        assert await resp.read() == PIXEL
    async with http.get(beacon_receiver.url("/impression/ad-1")) as resp:
        assert resp.status == 200
    assert beacon_receiver.paths() == ["/track/ad-1/start", "/impression/ad-1"]
    assert beacon_receiver.hits[0].query == {"sid": "abc", "cb": "12345678"}
    async with http.get(beacon_receiver.url("/__beacons")) as resp:
        listed = await resp.json()
    assert [h["pathQs"] for h in listed] == ["/track/ad-1/start?sid=abc&cb=12345678", "/impression/ad-1"]
    assert beacon_receiver.paths() == ["/track/ad-1/start", "/impression/ad-1"]  # reading is not a hit
    beacon_receiver.clear()
    assert beacon_receiver.hits == []


async def test_beacon_receiver_wait_for(http: aiohttp.ClientSession, beacon_receiver: BeaconReceiver) -> None:
    async def fire_later() -> None:
        await asyncio.sleep(0.05)
        async with http.get(beacon_receiver.url("/track/ad-9/complete")):
            pass

    task = asyncio.create_task(fire_later())
    hits = await beacon_receiver.wait_for(lambda hs: any(h.path.endswith("/complete") for h in hs), timeout=5)
    await task
    assert [h.path for h in hits] == ["/track/ad-9/complete"]
