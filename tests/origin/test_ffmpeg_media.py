"""Real media: ffmpeg-made segments that ffprobe reads as advertised and that play continuously."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import m3u8
import pytest
from aiohttp.test_utils import TestClient, TestServer

from sidecar.origin import OriginConfig, build_origin_app
from sidecar.origin.media import FfmpegMedia

from .conftest import EPOCH, FakeClock, OriginFactory

pytestmark = pytest.mark.slow

PTS_WRAP_S = 2**33 / 90_000


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    info: dict[str, Any] = json.loads(out)
    return info


def first_video_frame(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1",
         "-show_entries", "frame=key_frame,pict_type,pts_time", "-print_format", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    frame: dict[str, Any] = json.loads(out)["frames"][0]
    return frame


async def fetch(client: TestClient[Any, Any], url: str, tmp: Path) -> Path:
    resp = await client.get(url)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "video/mp2t"
    path = tmp / url.strip("/").replace("/", "_")
    path.write_bytes(await resp.read())
    return path


def streams(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["codec_type"]: s for s in info["streams"]}


async def test_live_segments_are_real_continuous_and_as_advertised(origin: OriginFactory, tmp_path: Path) -> None:
    client = await origin(media="ffmpeg", cache_dir=tmp_path / "cache")
    master = m3u8.loads(await (await client.get("/live/demo/master.m3u8")).text())
    advertised = {p.uri.removesuffix(".m3u8"): p.stream_info for p in master.playlists}
    playlist = m3u8.loads(await (await client.get("/live/demo/800k.m3u8")).text())
    n = playlist.media_sequence + len(playlist.segments) - 2  # the last two published segments
    d = playlist.segments[0].duration
    starts = []
    for msn in (n, n + 1):
        info = probe(await fetch(client, f"/live/demo/800k/{msn}.ts", tmp_path))
        video, audio = streams(info)["video"], streams(info)["audio"]
        assert (video["codec_name"], video["profile"], audio["codec_name"]) == ("h264", "Constrained Baseline", "aac")
        assert float(video["duration"]) == pytest.approx(d, abs=1 / 30 + 1e-3)
        assert float(audio["duration"]) == pytest.approx(d, abs=1024 / 48_000 + 1e-3)
        assert float(video["start_time"]) == pytest.approx((10 + msn * d) % PTS_WRAP_S, abs=2e-3)
        assert float(audio["start_time"]) == pytest.approx(float(video["start_time"]), abs=2e-3)
        starts.append(float(info["format"]["start_time"]))
    assert starts[1] - starts[0] == pytest.approx(d, abs=1e-3), "timestamps must continue across segments"

    for name, stream_info in advertised.items():
        path = await fetch(client, f"/live/demo/{name}/{n}.ts", tmp_path)
        video = streams(probe(path))["video"]
        assert (video["width"], video["height"]) == stream_info.resolution
        level = stream_info.codecs.split(",")[0][-2:]
        assert int(level, 16) == video["level"], "CODECS must name the encoded level"
        assert video["r_frame_rate"] == "30/1"
        frame = first_video_frame(path)
        assert frame["key_frame"] == 1 and frame["pict_type"] == "I", "segments must start on a keyframe"
        bits_per_second = path.stat().st_size * 8 / d
        assert bits_per_second <= stream_info.bandwidth, "BANDWIDTH must bound the real bitrate"


async def test_ad_and_slate_segments_have_their_playlist_durations(origin: OriginFactory, tmp_path: Path) -> None:
    client = await origin(media="ffmpeg", cache_dir=tmp_path / "cache")
    pod = m3u8.loads(await (await client.get("/ads/pod-odd/800k.m3u8")).text())
    for index in (1, 3):  # the short last segments of each ad: 3 s and 1 s
        info = probe(await fetch(client, f"/ads/pod-odd/800k/{index}.ts", tmp_path))
        assert float(streams(info)["video"]["duration"]) == pytest.approx(pod.segments[index].duration, abs=0.04)
    slate = probe(await fetch(client, "/ads/slate/1600k/0.ts", tmp_path))
    assert float(streams(slate)["video"]["duration"]) == pytest.approx(2.0, abs=0.04)
    assert streams(slate)["video"]["height"] == 720


async def test_concurrent_requests_for_one_segment_run_ffmpeg_once(tmp_path: Path) -> None:
    media = FfmpegMedia(tmp_path)
    app = build_origin_app(OriginConfig(epoch=EPOCH, clock=FakeClock(EPOCH + 100)), media=media)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        url = "/live/c/800k/20.ts"
        responses = await asyncio.gather(*(client.get(url) for _ in range(5)))
        bodies = {await r.read() for r in responses}
        assert [r.status for r in responses] == [200] * 5
        assert len(bodies) == 1 and len(next(iter(bodies))) > 10_000
        assert media.runs == 1
        await (await client.get(url)).read()
        assert media.runs == 1, "a cached segment must not be encoded again"
    assert len(list(tmp_path.rglob("*.ts"))) == 1


async def test_cache_keeps_at_most_max_files(tmp_path: Path) -> None:
    media = FfmpegMedia(tmp_path, max_files=1)
    app = build_origin_app(OriginConfig(epoch=EPOCH, clock=FakeClock(EPOCH + 100)), media=media)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for msn in (20, 21):
            assert (await client.get(f"/live/s/800k/{msn}.ts")).status == 200
    assert media.runs == 2
    assert [p.name.split("-")[0] for p in tmp_path.rglob("*.ts")] == ["21"]
