"""Segment sources: placeholders, serve_origin, and how ffmpeg failures surface."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from sidecar.origin import OriginConfig, build_origin_app, serve_origin
from sidecar.origin.media import FfmpegMedia, MediaError, placeholder_bytes

from .conftest import EPOCH, FakeClock


def test_placeholders_are_deterministic_ts_packets() -> None:
    body = placeholder_bytes("s 800k MSN 7 00-00-28Z")
    assert len(body) == 188 and body[:4] == b"\x47\x1f\xff\x10"
    assert body == placeholder_bytes("s 800k MSN 7 00-00-28Z") != placeholder_bytes("s 800k MSN 8 00-00-32Z")
    assert len(placeholder_bytes("x" * 500)) == 188


def test_missing_ffmpeg_is_reported_at_build_time(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not found"):
        FfmpegMedia(tmp_path, binary="no-such-ffmpeg-binary")


async def test_failing_ffmpeg_gives_502_and_caches_nothing(tmp_path: Path) -> None:
    media = FfmpegMedia(tmp_path, binary="false")  # exits 1 without output
    app = build_origin_app(OriginConfig(epoch=EPOCH, clock=FakeClock(EPOCH + 100)), media=media)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/live/s/800k/10.ts")
        assert resp.status == 502
        assert "ffmpeg exited with 1" in await resp.text()
    assert media.runs == 1
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [], "no segment or partial file is left"


async def test_serve_origin_runs_until_cancelled() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    task = asyncio.create_task(serve_origin(OriginConfig(), "127.0.0.1", port))
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(f"http://127.0.0.1:{port}/live/x/master.m3u8") as resp:
                    assert resp.status == 200
                    assert (await resp.text()).startswith("#EXTM3U")
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("origin did not start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT, not LISTEN
        s.bind(("127.0.0.1", port))  # nothing listens on the port any more
        s.listen()
