"""Ad pods and the slate as VOD HLS."""

from __future__ import annotations

import math

import m3u8
import pytest

from .conftest import OriginFactory

POD_SEGMENTS = {
    "pod-a": [4, 4, 2] * 3,
    "pod-short": [4, 4, 2],
    "pod-odd": [4, 3, 4, 1],
    "slate": [2],
}


@pytest.mark.parametrize("pod", sorted(POD_SEGMENTS))
@pytest.mark.parametrize("rendition", ["800k", "1600k"])
async def test_pod_is_a_valid_vod_playlist(origin: OriginFactory, pod: str, rendition: str) -> None:
    client = await origin()
    master = m3u8.loads(await (await client.get(f"/ads/{pod}/master.m3u8")).text())
    assert [p.uri for p in master.playlists] == ["800k.m3u8", "1600k.m3u8"]
    resp = await client.get(f"/ads/{pod}/{rendition}.m3u8")
    assert resp.status == 200 and resp.content_type == "application/vnd.apple.mpegurl"
    text = await resp.text()
    playlist = m3u8.loads(text)
    assert playlist.is_endlist and playlist.playlist_type == "vod"
    assert [s.duration for s in playlist.segments] == POD_SEGMENTS[pod]
    assert all(math.ceil(s.duration) <= playlist.target_duration for s in playlist.segments)
    assert playlist.target_duration == max(math.ceil(d) for d in POD_SEGMENTS[pod])
    # One discontinuity before each ad but the first: ads are encoded separately.
    ads = {"pod-a": 3, "pod-short": 1, "pod-odd": 2, "slate": 1}[pod]
    assert sum(s.discontinuity for s in playlist.segments) == ads - 1
    for i, segment in enumerate(playlist.segments):
        assert segment.uri == f"{rendition}/{i}.ts"
        body = await (await client.get(f"/ads/{pod}/{segment.uri}")).read()
        assert body[0] == 0x47
        assert (b"SLATE" if pod == "slate" else f"{pod} AD".encode()) in body
    assert (await client.get(f"/ads/{pod}/{rendition}/{len(playlist.segments)}.ts")).status == 404


async def test_pod_a_fills_a_30_second_break(origin: OriginFactory) -> None:
    client = await origin()
    playlist = m3u8.loads(await (await client.get("/ads/pod-a/800k.m3u8")).text())
    assert sum(s.duration for s in playlist.segments) == 30


async def test_unknown_pods_and_renditions_are_404(origin: OriginFactory) -> None:
    client = await origin(pods={"custom": (6.0,)})
    assert (await client.get("/ads/pod-a/master.m3u8")).status == 404  # replaced by the custom set
    assert (await client.get("/ads/custom/9000k.m3u8")).status == 404
    assert (await client.get("/ads/custom/800k/0.ts")).status == 200
    assert m3u8.loads(await (await client.get("/ads/custom/800k.m3u8")).text()).segments[1].duration == 2
