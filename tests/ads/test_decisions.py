"""Ad decisions per break: VAST (real local ad server) → channel pod → slate, each outcome counted.

A failed VAST call is never a fill: it falls back and says why. One decision per break: every
reload and every variant sees the same ads and the ad server is asked once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.hls.parse import parse_media
from sidecar.telemetry import catalogue as m
from tests.ads.adserver import AdServer
from tests.web.test_manifest import BREAK_AT, Setup, _setup, walk


@pytest.fixture
async def setup(sqlite_url: str) -> AsyncIterator[Setup]:
    async for s in _setup(database_url=sqlite_url, origin_timeout_seconds=1.0, origin_cache_seconds=0):
        yield s


def decisions(s: Setup, channel: str, source: str, reason: str) -> float:
    return m.registry.get_sample_value("ssai_ad_decisions_total", {
        "org": s.tenant.org_slug, "channel": channel, "source": source, "reason": reason}) or 0.0


async def creative_pods(s: Setup) -> None:
    """Pre-transcoded pods for the fixture's creatives (matched by VAST creative id)."""
    o = s.origin_base
    for i in (1, 2, 3):
        resp = await s.stack.admin.post("/admin/ad-pods", json={
            "slug": f"creative-{i}", "name": f"Creative {i}", "durationSeconds": 10, "vastCreativeId": f"creative-{i}",
            "variants": [{"bitrateBps": 800_000, "playlistUrl": f"{o}/ads/pod-short/800k.m3u8"},
                         {"bitrateBps": 1_600_000, "playlistUrl": f"{o}/ads/pod-short/1600k.m3u8"}]},
            headers=s.tenant.auth)
        assert resp.status == 201


async def ads_in_break(s: Setup, stream: str) -> list[str]:
    uris: dict[int, str] = {}
    for _, text in await walk(s, stream, "ssai", BREAK_AT - 8, BREAK_AT + 40, step=2.0):
        for seg in parse_media(text).segments:
            uris[seg.msn] = seg.uri
    return [u for _, u in sorted(uris.items()) if "/ads/" in u]


async def test_vast_fills_the_break_once_for_every_variant_and_reload(setup: Setup, ad_server: AdServer) -> None:
    await creative_pods(setup)
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url("/vast/inline3"),
                        vastTimeoutMs=2000)
    before = decisions(setup, "cueout", "vast", "ok")
    ads = await ads_in_break(setup, "cueout")
    assert [u for u in ads if "pod-short" in u] == [u for u in ads if "pod-short" in u][:9]
    assert sum("pod-short/800k/" in u for u in ads) == 9, "three 10 s creatives, 3 segments each"
    assert decisions(setup, "cueout", "vast", "ok") == before + 1
    assert len(ad_server.requested("/vast/inline3")) == 1, "one decision per break"
    setup.clock.now = BREAK_AT + 30
    await setup.get("cueout/1600k.m3u8?mode=ssai")
    assert len(ad_server.requested("/vast/inline3")) == 1
    state = await (await setup.stack.admin.get("/admin/channels/cueout/break", headers=setup.tenant.auth)).json()
    brk = state["break"]
    assert brk["fillSource"] == "vast" and [a["adId"] for a in brk["ads"]] == ["adid-1", "adid-2", "adid-3"]
    assert [a["offset"] for a in brk["ads"]] == [0.0, 10.0, 20.0]
    assert any("/impression/" in url for url in brk["ads"][1]["impressions"])


async def test_vast_hls_media_file_is_stitched_without_a_pod(setup: Setup) -> None:
    """A creative with no pre-transcoded pod plays from its HLS MediaFile."""
    media = f"{setup.origin_base}/ads/pod-short/master.m3u8"
    vast = f"""<VAST version="4.2"><Ad id="a1"><InLine><AdSystem>t</AdSystem><AdTitle>t</AdTitle>
<Impression><![CDATA[http://127.0.0.1:9/imp]]></Impression><Creatives><Creative id="hls-only" adId="ad-hls"><Linear>
<Duration>00:00:10</Duration><MediaFiles><MediaFile delivery="streaming" type="application/x-mpegURL" width="1"
height="1"><![CDATA[{media}]]></MediaFile></MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>"""

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=vast, content_type="application/xml")

    app = web.Application()
    app.router.add_get("/vast", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await setup.channel(slug="cueout", stream="cueout", vastEnabled=True,
                            vastUrl=f"http://127.0.0.1:{server.port}/vast")
        ads = await ads_in_break(setup, "cueout")
        assert sum("pod-short/800k/" in u for u in ads) == 3
        assert any("/ads/slate/" in u for u in ads), "the rest of the break is slate"
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("path", "outcome"),
    [("/vast/slow", "timeout"), ("/vast/empty", "empty"), ("/vast/malformed", "invalid"),
     ("/vast/error500", "http_error")],
)
async def test_vast_failures_fall_back_to_the_pod_and_say_why(setup: Setup, ad_server: AdServer, path: str,
                                                               outcome: str) -> None:
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url(path),
                        vastTimeoutMs=300)
    calls = m.registry.get_sample_value("ssai_vast_requests_total", {"outcome": outcome}) or 0
    before = decisions(setup, "cueout", "pod", f"vast_{outcome}")
    ads = await ads_in_break(setup, "cueout")
    assert any("/ads/pod-a/" in u for u in ads), "the channel's pod filled the break"
    assert decisions(setup, "cueout", "pod", f"vast_{outcome}") == before + 1
    assert decisions(setup, "cueout", "vast", "ok") == 0, "a failed VAST call is not a fill"
    assert m.registry.get_sample_value("ssai_vast_requests_total", {"outcome": outcome}) == calls + 1


async def test_no_pod_and_failed_vast_is_slate_with_the_reason(setup: Setup, ad_server: AdServer) -> None:
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url("/vast/empty"))
    await setup.stack.admin.put("/admin/channels/cueout", json={"adPodId": None}, headers=setup.tenant.auth)
    before = decisions(setup, "cueout", "slate", "vast_empty")
    filled = m.registry.get_sample_value("ssai_avail_filled_seconds_total",
                                         {"org": setup.tenant.org_slug, "channel": "cueout"}) or 0
    ads = await ads_in_break(setup, "cueout")
    assert ads and all("/ads/slate/" in u for u in ads)
    assert decisions(setup, "cueout", "slate", "vast_empty") == before + 1
    assert m.registry.get_sample_value("ssai_avail_filled_seconds_total",
                                       {"org": setup.tenant.org_slug, "channel": "cueout"}) == filled, \
        "slate is not filled ad time"




async def test_vast_creative_matches_a_pod_by_media_url(setup: Setup) -> None:
    """A creative whose MediaFile is one of a pod's renditions plays that pod's segments."""
    from aiohttp import web as aioweb

    o = setup.origin_base
    resp = await setup.stack.admin.post("/admin/ad-pods", json={
        "slug": "by-url", "name": "By URL", "durationSeconds": 10,
        "variants": [{"bitrateBps": 800_000, "playlistUrl": f"{o}/ads/pod-short/800k.m3u8"}]},
        headers=setup.tenant.auth)
    assert resp.status == 201
    vast = f"""<VAST version="4.2"><Ad id="a"><InLine><AdSystem>t</AdSystem><AdTitle>t</AdTitle>
<Impression><![CDATA[http://127.0.0.1:9/i]]></Impression><Creatives><Creative id="unknown-id"><Linear>
<Duration>00:00:10</Duration><MediaFiles><MediaFile delivery="progressive" type="video/mp4" width="1" height="1">
<![CDATA[{o}/ads/pod-short/800k.m3u8]]></MediaFile></MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>"""

    async def handler(_request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(text=vast, content_type="application/xml")

    app = aioweb.Application()
    app.router.add_get("/vast", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        await setup.channel(slug="cueout", stream="cueout", vastEnabled=True,
                            vastUrl=f"http://127.0.0.1:{server.port}/vast")
        ads = await ads_in_break(setup, "cueout")
        assert sum("pod-short/800k/" in u for u in ads) == 3
        assert decisions(setup, "cueout", "vast", "ok") >= 1
    finally:
        await server.close()
