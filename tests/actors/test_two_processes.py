"""A cue accepted by one OS process (colo SJC) is served by another (colo LHR): one durable
truth per channel, delivered over the Redis bus."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from tests.conftest import REDIS_URL, ServiceProcess, unique_slug


async def test_cue_through_sjc_is_seen_by_lhr_in_another_process(pg_url: str) -> None:
    store = Store.from_url(pg_url)
    org = await store.create_org(unique_slug(), "Org")
    await store.create_channel(org.id, ChannelIn.model_validate(
        {"slug": "sports1", "name": "S", "origin_url": "http://127.0.0.1:9/m.m3u8"}))
    _, token = await store.create_token(org.id, "operator")
    await store.close()
    common = {"SIDECAR_DATABASE_URL": pg_url, "SIDECAR_REDIS_URL": REDIS_URL, "SIDECAR_AUTO_MIGRATE": "false"}
    sjc = ServiceProcess({**common, "SIDECAR_COLO": "SJC"})
    lhr = ServiceProcess({**common, "SIDECAR_COLO": "LHR"})
    await asyncio.gather(asyncio.to_thread(sjc.start), asyncio.to_thread(lhr.start))
    auth = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{lhr.admin}/admin/channels/sports1/break", headers=auth) as resp:
                before = await resp.json()
            assert before["active"] is False and before["instance"].startswith("LHR:")
            async with http.post(f"{sjc.admin}/admin/channels/sports1/cue",
                                 json={"action": "start", "duration": 60, "eventId": "ev-sjc"}, headers=auth) as resp:
                assert resp.status == 201
                accepted = await resp.json()
            assert accepted["instance"].startswith("SJC:")
            deadline = time.monotonic() + 5
            while True:
                async with http.get(f"{lhr.admin}/admin/channels/sports1/break", headers=auth) as resp:
                    seen = await resp.json()
                if seen["eventId"] == "ev-sjc" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            assert seen["eventId"] == "ev-sjc" and seen["version"] == accepted["version"]
            assert seen["endsAt"] == accepted["endsAt"] and seen["instance"].startswith("LHR:")
    finally:
        sjc.stop()
        lhr.stop()
