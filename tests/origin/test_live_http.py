"""The live URL layout over real HTTP: master, variant playlists, segments, alignment."""

from __future__ import annotations

import re

import m3u8

from sidecar.origin import OriginConfig
from sidecar.origin.encoding import codecs

from .conftest import EPOCH, FakeClock, OriginFactory

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


async def test_master_playlist_advertises_the_ladder(origin: OriginFactory) -> None:
    client = await origin()
    resp = await client.get("/live/sports1/master.m3u8")
    assert resp.status == 200
    assert resp.content_type == PLAYLIST_TYPE
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    text = await resp.text()
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text
    master = m3u8.loads(text)
    assert master.is_variant
    got = [
        (p.uri, p.stream_info.bandwidth, p.stream_info.average_bandwidth, p.stream_info.resolution,
         p.stream_info.codecs, p.stream_info.frame_rate)
        for p in master.playlists
    ]
    assert got == [
        ("800k.m3u8", 800_000, got[0][2], (640, 360), "avc1.42c01e,mp4a.40.2", 30.0),
        ("1600k.m3u8", 1_600_000, got[1][2], (1280, 720), "avc1.42c01f,mp4a.40.2", 30.0),
    ]
    for _, bandwidth, average, *_ in got:
        assert 0 < average <= bandwidth


async def test_codecs_follow_the_resolution() -> None:
    cfg = OriginConfig(renditions=(("360", 500_000, "640x360"), ("1080", 6_000_000, "1920x1080")))
    assert [codecs(r) for r in cfg.ladder] == ["avc1.42c01e,mp4a.40.2", "avc1.42c028,mp4a.40.2"]


async def test_variant_playlists_are_aligned_across_renditions(origin: OriginFactory, clock: FakeClock) -> None:
    client = await origin(cue_flavour="oatcls")
    cfg = OriginConfig(epoch=EPOCH)
    for last in range(26, 40):  # across break 1 (MSN 30..37)
        clock.at_segment_end(cfg, last)
        low = await (await client.get("/live/s/800k.m3u8")).text()
        high = await (await client.get("/live/s/1600k.m3u8")).text()
        assert low.replace("800k/", "X/") == high.replace("1600k/", "X/")
        assert re.findall(r"^800k/(\d+)\.ts$", low, re.M)[-1] == str(last)


async def test_two_origins_with_one_config_serve_identical_bytes(origin: OriginFactory, clock: FakeClock) -> None:
    a = await origin(cue_flavour="daterange")
    b = await origin(cue_flavour="daterange", clock=FakeClock(clock.now))
    for path in ("/live/x/master.m3u8", "/live/x/800k.m3u8", "/live/x/1600k.m3u8"):
        assert await (await a.get(path)).read() == await (await b.get(path)).read()


async def test_every_listed_segment_is_fetchable_and_identifies_itself(origin: OriginFactory) -> None:
    client = await origin()
    text = await (await client.get("/live/news/800k.m3u8")).text()
    playlist = m3u8.loads(text)
    assert len(playlist.segments) == 6
    for i, segment in enumerate(playlist.segments):
        msn = playlist.media_sequence + i
        resp = await client.get(f"/live/news/{segment.uri}")  # URIs are relative to the playlist
        assert resp.status == 200
        assert resp.content_type == "video/mp2t"
        body = await resp.read()
        assert len(body) == 188 and body[0] == 0x47
        assert f"news 800k MSN {msn} ".encode() in body


async def test_unpublished_expired_and_unknown_resources_are_404(origin: OriginFactory, clock: FakeClock) -> None:
    client = await origin(streams=("only",))
    cfg = OriginConfig(epoch=EPOCH)
    clock.at_segment_end(cfg, 100)
    assert (await client.get("/live/only/800k/100.ts")).status == 200
    assert (await client.get("/live/only/800k/101.ts")).status == 404  # still being "encoded"
    assert (await client.get("/live/only/800k/50.ts")).status == 404  # long gone
    assert (await client.get("/live/only/800k/90.ts")).status == 200  # recently removed: kept
    assert (await client.get("/live/other/800k.m3u8")).status == 404
    assert (await client.get("/live/other/master.m3u8")).status == 404
    assert (await client.get("/live/only/4000k.m3u8")).status == 404
    assert (await client.get("/live/only/4000k/100.ts")).status == 404
    clock.now += cfg.segment_duration
    assert (await client.get("/live/only/800k/101.ts")).status == 200


async def test_index_lists_what_is_served(origin: OriginFactory) -> None:
    client = await origin()
    index = await (await client.get("/")).json()
    assert index["renditions"] == ["800k", "1600k"]
    assert {"pod-a", "pod-short", "slate"} <= set(index["pods"])
    assert "timeout" in index["failure_modes"]
