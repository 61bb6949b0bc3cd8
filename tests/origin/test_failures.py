"""Failure injection endpoints behave as documented."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import m3u8
import pytest

from sidecar.origin import OriginConfig

from .conftest import OriginFactory


def test_timeout_default_outlasts_thirty_seconds() -> None:
    assert OriginConfig().fail_timeout > 30


async def test_timeout_never_answers_in_time(origin: OriginFactory) -> None:
    client = await origin()
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await client.get("/fail/timeout/live/s/800k.m3u8", timeout=aiohttp.ClientTimeout(total=0.5))
    assert time.monotonic() - started >= 0.5


async def test_timeout_answers_504_after_the_configured_hold(origin: OriginFactory) -> None:
    client = await origin(fail_timeout=0.3)
    started = time.monotonic()
    resp = await client.get("/fail/timeout/x")
    assert resp.status == 504
    assert time.monotonic() - started >= 0.3


async def test_held_requests_do_not_delay_shutdown(origin: OriginFactory) -> None:
    client = await origin()
    held = asyncio.ensure_future(client.get("/fail/timeout/x"))
    await asyncio.sleep(0.2)
    assert not held.done()
    started = time.monotonic()
    await client.server.close()
    assert time.monotonic() - started < 2
    resp = await asyncio.wait_for(held, 2)
    assert resp.status == 503


@pytest.mark.parametrize("mode", ["500", "404"])
async def test_error_statuses(origin: OriginFactory, mode: str) -> None:
    client = await origin()
    resp = await client.get(f"/fail/{mode}/live/s/master.m3u8")
    assert resp.status == int(mode)
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


async def test_garbage_is_200_without_hls(origin: OriginFactory) -> None:
    client = await origin()
    resp = await client.get("/fail/garbage/live/s/800k.m3u8")
    assert resp.status == 200
    body = await resp.read()
    assert len(body) > 1000
    assert not body.startswith(b"#EXTM3U") and body[0] != 0x47
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert await (await client.get("/fail/garbage/other")).read() == body  # deterministic


async def test_huge_is_a_chunked_body_over_5_mb(origin: OriginFactory) -> None:
    client = await origin()
    resp = await client.get("/fail/huge/live/s/800k.m3u8")
    assert resp.status == 200
    assert "Content-Length" not in resp.headers
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    body = await resp.read()
    assert len(body) > 5 * 1024 * 1024
    assert body.startswith(b"#EXTM3U\n")


async def test_empty_is_200_with_no_body(origin: OriginFactory) -> None:
    client = await origin()
    resp = await client.get("/fail/empty/live/s/800k.m3u8")
    assert resp.status == 200
    assert await resp.read() == b""


async def test_truncated_has_a_malformed_extinf(origin: OriginFactory) -> None:
    client = await origin()
    resp = await client.get("/fail/truncated/live/s/800k.m3u8")
    assert resp.status == 200
    text = await resp.text()
    assert text.startswith("#EXTM3U\n") and not text.endswith("\n")
    with pytest.raises(ValueError, match="not-a-number"):
        m3u8.loads(text)


async def test_slow_serves_the_real_resource_late(origin: OriginFactory) -> None:
    client = await origin()
    direct = await (await client.get("/live/s/800k.m3u8")).text()
    started = time.monotonic()
    resp = await client.get("/fail/slow/live/s/800k.m3u8", params={"delay": "0.3"})
    assert resp.status == 200
    assert time.monotonic() - started >= 0.3
    assert await resp.text() == direct
    segment = await client.get("/fail/slow/ads/slate/800k/0.ts", params={"delay": "0"})
    assert segment.status == 200 and (await segment.read()).startswith(b"\x47")
    assert (await client.get("/fail/slow/nothing/here", params={"delay": "0"})).status == 404
    assert (await client.get("/fail/slow/live/s/800k.m3u8", params={"delay": "x"})).status == 400


async def test_unknown_mode_is_404(origin: OriginFactory) -> None:
    client = await origin()
    resp = await client.get("/fail/teapot/x")
    assert resp.status == 404
    assert "timeout" in await resp.text()
