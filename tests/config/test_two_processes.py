"""A second OS process serving reads sees an admin change at once, not after the TTL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import REDIS_URL, Stack, free_port, make_tenant, sidecar_cmd

PLAYLIST = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv-{name}.m3u8\n"


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    async def master(request: web.Request) -> web.Response:
        return web.Response(
            text=PLAYLIST.format(name=request.match_info["name"]), content_type="application/vnd.apple.mpegurl"
        )

    app = web.Application()
    app.router.add_get("/{name}/master.m3u8", master)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
def second_process(pg_url: str) -> Iterator[str]:
    viewer, admin = free_port(), free_port()
    env = {
        **os.environ,
        "SIDECAR_DATABASE_URL": pg_url,
        "SIDECAR_REDIS_URL": REDIS_URL,
        "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}",
        "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
        # Both cache layers would hold a stale entry for a minute or more: only the
        # invalidation message can make the change visible quickly.
        "SIDECAR_CONFIG_CACHE_TTL_SECONDS": "60",
        "SIDECAR_CONFIG_L1_TTL_SECONDS": "300",
    }
    proc = subprocess.Popen(sidecar_cmd("serve"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{viewer}"
    deadline = time.monotonic() + 30
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "serve exited")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


async def test_change_through_admin_is_served_by_another_process_at_once(
    pg_stack: Stack, origin: str, second_process: str
) -> None:
    tenant = await make_tenant(pg_stack.svc.store)
    resp = await pg_stack.admin.post(
        "/admin/channels",
        json={"slug": "sports1", "name": "Sports", "originUrl": f"{origin}/a/master.m3u8"},
        headers=tenant.auth,
    )
    assert resp.status == 201
    url = f"{second_process}/{tenant.org_slug}/sports1/master.m3u8"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as first:
            assert first.status == 200
            assert "v-a.m3u8" in await first.text()
            old_version = int(first.headers["X-Config-Version"])
        # Served again from the second process's own cache (no store read needed).
        async with http.get(url) as cached:
            assert "v-a.m3u8" in await cached.text()

        resp = await pg_stack.admin.put(
            "/admin/channels/sports1", json={"originUrl": f"{origin}/b/master.m3u8"}, headers=tenant.auth
        )
        assert resp.status == 200
        new_version = (await resp.json())["channel"]["version"]
        changed_at = time.monotonic()
        seen_after = None
        while time.monotonic() - changed_at < 5:
            async with http.get(url) as again:
                body = await again.text()
                if "v-b.m3u8" in body:
                    assert int(again.headers["X-Config-Version"]) == new_version > old_version
                    seen_after = time.monotonic() - changed_at
                    break
            await asyncio.sleep(0.005)
    assert seen_after is not None, "the second process never saw the change"
    # With both TTLs at 60 s or more, only the invalidation can explain this.
    assert seen_after < 1.0
