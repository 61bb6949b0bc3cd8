"""Manifest endpoints end to end: a real synthetic origin, the real service, over HTTP.

The origin's clock is driven by the test, so a whole ad break can be walked through reload by
reload; every reload is checked against the HLS invariants of tests/hls/test_splice.py.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sidecar.hls.parse import parse_media
from sidecar.origin import OriginConfig, build_origin_app
from sidecar.telemetry import catalogue as m
from tests.conftest import Stack, Tenant, make_tenant, start_stack
from tests.hls.test_splice import DateRanges, History, check_dateranges, check_reload
from tests.web.test_admin_api import problem

GOLDEN = Path(__file__).parent / "golden"
INTERVAL = 120.0
SEG = 4.0
# Aligned to break boundaries, near the real clock (the service reads the wall clock for cue
# bookkeeping; media time comes from the origin).
EPOCH = math.floor(time.time() / INTERVAL) * INTERVAL - 20 * INTERVAL


class Clock:
    def __init__(self) -> None:
        self.now = EPOCH + 5 * INTERVAL + 0.5

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    stack: Stack
    origin: TestClient[Any, Any]
    clock: Clock
    tenant: Tenant

    @property
    def origin_base(self) -> str:
        return f"http://127.0.0.1:{self.origin.port}"

    async def channel(self, slug: str = "sports1", stream: str = "sports1", **fields: Any) -> dict[str, Any]:
        o = self.origin_base
        pod = await self.stack.admin.post(
            "/admin/ad-pods",
            json={
                "slug": f"pod-{slug}",
                "name": "Pod",
                "durationSeconds": 30,
                "variants": [
                    {"bitrateBps": 800_000, "playlistUrl": f"{o}/ads/pod-a/800k.m3u8"},
                    {"bitrateBps": 1_600_000, "playlistUrl": f"{o}/ads/pod-a/1600k.m3u8"},
                ],
            },
            headers=self.tenant.auth,
        )
        slate = await self.stack.admin.post(
            "/admin/slates",
            json={
                "slug": f"slate-{slug}",
                "name": "Slate",
                "durationSeconds": 2,
                "variants": [
                    {"bitrateBps": 800_000, "playlistUrl": f"{o}/ads/slate/800k.m3u8"},
                    {"bitrateBps": 1_600_000, "playlistUrl": f"{o}/ads/slate/1600k.m3u8"},
                ],
            },
            headers=self.tenant.auth,
        )
        body = {
            "slug": slug,
            "name": "Sports",
            "originUrl": f"{o}/live/{stream}/master.m3u8",
            "scte35AutoInsert": True,
            "adPodId": (await pod.json())["adPod"]["id"],
            "slateId": (await slate.json())["slate"]["id"],
            **fields,
        }
        resp = await self.stack.admin.post("/admin/channels", json=body, headers=self.tenant.auth)
        assert resp.status == 201, await resp.text()
        return dict((await resp.json())["channel"])

    async def get(self, path: str, **headers: str) -> Any:
        return await self.stack.viewer.get(f"/{self.tenant.org_slug}/{path}", headers=headers)


async def _setup(**settings: Any) -> AsyncIterator[Setup]:
    clock = Clock()
    origin = TestClient(
        TestServer(
            build_origin_app(
                OriginConfig(
                    epoch=EPOCH,
                    clock=clock,
                    break_interval=INTERVAL,
                    break_duration=30.0,
                    segment_duration=SEG,
                    window=6,
                    stream_cues={
                        "cueout": "cue-out",
                        "daterange": "daterange",
                        "oatcls": "oatcls",
                        "timesignal": "oatcls-timesignal",
                        "plain": "none",
                    },
                    fail_timeout=5.0,
                )
            ),
            host="127.0.0.1",
        )
    )
    await origin.start_server()
    stack = await start_stack(**settings)
    tenant = await make_tenant(stack.svc.store)
    yield Setup(stack, origin, clock, tenant)
    await stack.close()
    await origin.close()


@pytest.fixture
async def setup(sqlite_url: str) -> AsyncIterator[Setup]:
    # The test drives the origin clock faster than real time: no sharing of origin fetches.
    async for s in _setup(database_url=sqlite_url, origin_timeout_seconds=1.0, origin_cache_seconds=0):
        yield s


def normalise(text: str, s: Setup) -> str:
    """What varies between runs: the origin's port, wall-clock dates (EPOCH follows the real
    clock, so dates become offsets from it) and break ids (hashed with a random channel id)."""
    from sidecar.hls.parse import parse_pdt

    text = text.replace(s.origin_base, "ORIGIN")
    text = re.sub(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
        lambda mt: f"EPOCH+{parse_pdt(mt.group(0)).timestamp() - EPOCH:.3f}",
        text,
    )
    return re.sub(r"brk_[0-9a-f]{12}", "brk_ID", text)


# --- master ---------------------------------------------------------------------------------------
async def test_master_comes_through_us_with_every_attribute(setup: Setup) -> None:
    await setup.channel()
    origin_master = await (await setup.origin.get("/live/sports1/master.m3u8")).text()
    resp = await setup.get("sports1/master.m3u8")
    assert resp.status == 200 and resp.content_type == "application/vnd.apple.mpegurl"
    assert resp.headers["Access-Control-Allow-Origin"] == "*", "browser players on other pages can read it"
    text = await resp.text()
    ours = [line for line in text.splitlines() if line.startswith("#")]
    theirs = [line for line in origin_master.splitlines() if line.startswith("#")]
    assert ours == theirs, "every tag and attribute kept"
    assert [line for line in text.splitlines() if not line.startswith("#")] == [
        "800k.m3u8?mode=ssai",
        "1600k.m3u8?mode=ssai",
    ]
    assert resp.headers["Cache-Control"] == "max-age=2" and int(resp.headers["X-Config-Version"]) > 0
    sgai = await (await setup.get("sports1/master.m3u8", **{"User-Agent": "AppleCoreMedia/1.0.0.21A"})).text()
    assert "800k.m3u8?mode=sgai" in sgai
    asked = await (await setup.stack.viewer.get(f"/{setup.tenant.org_slug}/sports1/master.m3u8?mode=sgai")).text()
    assert "1600k.m3u8?mode=sgai" in asked


async def test_unknown_channel_and_variant_are_404_problems(setup: Setup) -> None:
    await setup.channel()
    for resp in (
        await setup.get("nope/master.m3u8"),
        await setup.get("sports1/9000k.m3u8"),
        await setup.stack.viewer.get("/no-org/sports1/800k.m3u8"),
        await setup.stack.viewer.get("/nothing/here"),
        await setup.get("sports1/ad/brk_nope/0/800000.m3u8"),
    ):
        assert resp.headers.get("Access-Control-Allow-Origin") == "*", resp.url
        await problem(resp, 404)


async def test_paused_channel_passes_content_through(setup: Setup) -> None:
    await setup.channel(status="paused")
    resp = await setup.get("sports1/800k.m3u8")
    assert resp.status == 200 and resp.headers["X-Ad-Mode"] == "passthrough"
    origin = await (await setup.origin.get("/live/sports1/800k.m3u8")).text()
    ours = await resp.text()
    assert [line for line in ours.splitlines() if line.startswith("#")] == [
        line for line in origin.splitlines() if line.startswith("#")
    ], "unknown tags and cues untouched"


# --- origin failures ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "status", "kind", "reason"),
    [
        ("500", 502, "origin-http-5xx", "http_5xx"),
        ("404", 502, "origin-http-4xx", "http_4xx"),
        ("garbage", 502, "origin-invalid", "invalid"),
        ("empty", 502, "origin-invalid", "invalid"),
        ("truncated", 502, "origin-invalid", "invalid"),
        ("huge", 502, "origin-oversized", "oversized"),
        ("timeout", 504, "origin-timeout", "timeout"),
    ],
)
async def test_origin_failures_are_named_problems(setup: Setup, mode: str, status: int, kind: str, reason: str) -> None:
    resp = await setup.stack.admin.post(
        "/admin/channels",
        json={"slug": "broken", "name": "B", "originUrl": f"{setup.origin_base}/fail/{mode}/live/sports1/master.m3u8"},
        headers=setup.tenant.auth,
    )
    assert resp.status == 201
    labels = {"org": setup.tenant.org_slug, "channel": "broken", "reason": reason}
    before = m.registry.get_sample_value("ssai_origin_errors_total", labels) or 0
    resp = await setup.get("broken/master.m3u8")
    # A web player on another page sees the problem, not status 0: errors carry CORS too.
    assert resp.headers.get("Access-Control-Allow-Origin") == "*"
    body = await problem(resp, status)
    assert body["type"] == f"urn:sidecar:problem:{kind}" and body["cause"] == reason
    assert m.registry.get_sample_value("ssai_origin_errors_total", labels) == before + 1


async def test_unreachable_origin_is_502(setup: Setup) -> None:
    await setup.stack.admin.post(
        "/admin/channels",
        json={"slug": "gone", "name": "G", "originUrl": "http://127.0.0.1:9/master.m3u8"},
        headers=setup.tenant.auth,
    )
    body = await problem(await setup.get("gone/master.m3u8"), 502)
    assert body["cause"] == "connect"


# --- breaks across reloads, every cue flavour x mode ---------------------------------------------------
async def walk(
    setup: Setup, stream: str, mode: str, from_t: float, to_t: float, step: float = SEG
) -> list[tuple[float, str]]:
    out = []
    setup.clock.now = from_t
    while setup.clock.now <= to_t:
        resp = await setup.get(f"{stream}/800k.m3u8?mode={mode}")
        assert resp.status == 200, await resp.text()
        out.append((setup.clock.now, await resp.text()))
        setup.clock.now += step
    return out


BREAK_AT = EPOCH + 6 * INTERVAL  # the origin signals a break every INTERVAL seconds of media time


@pytest.mark.parametrize("stream", ["cueout", "daterange", "oatcls", "timesignal"])
async def test_scte35_breaks_are_stitched_with_valid_hls_on_every_reload(setup: Setup, stream: str) -> None:
    await setup.channel(slug=stream, stream=stream)
    history = History({})
    ads_seen = 0
    reloads = await walk(setup, stream, "ssai", BREAK_AT - 30, BREAK_AT + 60, step=1.7)
    for _, text in reloads:
        pl = parse_media(text)
        check_reload(history, pl, 800_000)
        ads_seen += sum("/ads/pod-a/800k/" in s.uri for s in pl.segments)
    uris = [history.by_msn[k][0] for k in sorted(history.by_msn)]
    ad_uris = [u for u in uris if "/ads/" in u]
    assert [u.rsplit("/", 1)[-1] for u in ad_uris if "pod-a" in u] == [f"{i}.ts" for i in range(9)], (
        "the whole 30 s pod (9 segments), once, in order"
    )
    assert any("/ads/slate/" in u for u in ad_uris), "the 2 s left over is slate"
    assert ads_seen > 0
    # Content resumes after the break; nothing of the replaced content leaked in.
    resumed = uris[uris.index(ad_uris[-1]) + 1]
    assert resumed.endswith(f"/{int((BREAK_AT + 32 - EPOCH) / SEG)}.ts")
    # Both variants splice at the same media sequence numbers.
    setup.clock.now = reloads[-1][0]
    hi = parse_media(await (await setup.get(f"{stream}/1600k.m3u8?mode=ssai")).text())
    lo = parse_media(reloads[-1][1])
    assert [(s.msn, s.pdt) for s in hi.segments] == [(s.msn, s.pdt) for s in lo.segments]


@pytest.mark.parametrize("stream", ["cueout", "daterange", "oatcls", "timesignal"])
async def test_sgai_interstitial_is_stable_and_ahead(setup: Setup, stream: str) -> None:
    await setup.channel(slug=stream, stream=stream, interstitialRestrict="SKIP,JUMP", interstitialSnap="OUT,IN")
    tags: list[str] = []
    seen = DateRanges()
    for _, text in await walk(setup, stream, "sgai", BREAK_AT - 30, BREAK_AT + 40, step=2.0):
        check_dateranges(seen, parse_media(text))  # no attribute of an ID ever changes
        found = [line for line in text.splitlines() if 'CLASS="com.apple.hls.interstitial"' in line]
        assert len(found) <= 1, "the ad is never scheduled twice"
        tags += [t for t in found if t not in tags]
    # Announced once; the same ID gains the actual DURATION and X-PLAYOUT-LIMIT once content after
    # the break is published (the origin returns 32 s in: breaks end on 4 s segment boundaries).
    assert len(tags) == 2 and tags[1] == tags[0] + ",DURATION=32.000,X-PLAYOUT-LIMIT=32.000", tags
    tag = tags[0]
    assert 'X-RESTRICT="SKIP,JUMP"' in tag and 'X-SNAP="OUT,IN"' in tag and "PLANNED-DURATION=30.000" in tag
    break_id = re.search(r'ID="([^"]+)"', tag).group(1)  # type: ignore[union-attr]
    assets = await setup.get(f"{stream}/assets.json?break={break_id}")
    body = await assets.json()
    assert body["ASSETS"][0]["DURATION"] == 30.0
    # Host-qualified (players resolve asset URIs against their page), keeping the player's scheme.
    uri = body["ASSETS"][0]["URI"]
    assert uri.startswith(f"//127.0.0.1:{setup.stack.viewer.port}/{setup.tenant.org_slug}/{stream}/ad/"), uri
    ad = await setup.stack.viewer.session.get("http:" + uri)
    text = await ad.text()
    assert "#EXT-X-STREAM-INF:BANDWIDTH=800000" in text and "/ads/pod-a/800k.m3u8" in text
    await problem(await setup.get(f"{stream}/assets.json"), 400)
    await problem(await setup.get(f"{stream}/assets.json?break=brk_nope"), 404)


async def test_daterange_cue_gives_interstitial_before_the_break_reaches_the_live_edge(setup: Setup) -> None:
    """The origin signals DATERANGE 12 s ahead; players (hls.js: ~10 s look-ahead) need that."""
    await setup.channel(slug="daterange", stream="daterange")
    setup.clock.now = BREAK_AT - 10
    text = await (await setup.get("daterange/800k.m3u8?mode=sgai")).text()
    assert 'CLASS="com.apple.hls.interstitial"' in text
    last_pdt = parse_media(text).segments[-1].pdt
    assert last_pdt is not None and last_pdt.timestamp() < BREAK_AT


async def test_golden_outputs(setup: Setup) -> None:
    """Byte-exact outputs at fixed points of a break, for each flavour x mode (UPDATE_GOLDEN=1 rewrites)."""
    for stream in ("cueout", "daterange", "oatcls", "timesignal"):
        await setup.channel(slug=stream, stream=stream)
        for mode in ("ssai", "sgai"):
            texts = await walk(setup, stream, mode, BREAK_AT - 8, BREAK_AT + 40, step=SEG)
            for i in (0, 3, 6, 12):
                path = GOLDEN / f"{stream}-{mode}-{i:02d}.m3u8"
                got = normalise(texts[i][1], setup)
                if os.environ.get("UPDATE_GOLDEN"):
                    GOLDEN.mkdir(exist_ok=True)
                    path.write_text(got)
                assert path.read_text() == got, f"{path.name} differs"


# --- manual cues and schedules ---------------------------------------------------------------------------
async def test_manual_cue_splices_at_the_live_edge_for_every_variant(setup: Setup) -> None:
    await setup.channel(slug="plain", stream="plain")
    setup.clock.now = BREAK_AT + 0.5
    before = parse_media(await (await setup.get("plain/800k.m3u8?mode=ssai")).text())
    resp = await setup.stack.admin.post(
        "/admin/channels/plain/cue", json={"action": "start", "duration": 20}, headers=setup.tenant.auth
    )
    assert resp.status == 201, await resp.text()
    cue = await resp.json()
    live_edge = before.segments[-1].pdt.timestamp() + before.segments[-1].duration  # type: ignore[union-attr]
    # It splices a little after the live edge, so SGAI players learn of it ahead of time.
    start = live_edge + setup.stack.svc.settings.cue_lead_seconds
    assert cue["break"]["startPdt"] == start
    history = History({})
    for _, text in await walk(setup, "plain", "ssai", BREAK_AT + 0.5, BREAK_AT + 40, step=2.0):
        check_reload(history, parse_media(text), 800_000)
    ads = [k for k, v in history.by_msn.items() if "/ads/" in v[0]]
    assert ads and min(history.by_msn[k][2].timestamp() for k in ads) == start  # type: ignore[union-attr]


async def test_scheduled_breaks_need_no_cue(setup: Setup) -> None:
    await setup.channel(
        slug="plain",
        stream="plain",
        scte35AutoInsert=False,
        scheduleEnabled=True,
        scheduleIntervalMinutes=2,
        scheduleBreakSeconds=20,
    )
    history = History({})
    for _, text in await walk(setup, "plain", "ssai", BREAK_AT - 20, BREAK_AT + 40, step=2.0):
        check_reload(history, parse_media(text), 800_000)
    first_ad = min(k for k, v in history.by_msn.items() if "/ads/" in v[0])
    assert history.by_msn[first_ad][2].timestamp() == BREAK_AT  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", ["cueout", "daterange", "oatcls"])
async def test_a_break_under_way_is_joined_at_the_fresh_edge_never_in_history(setup: Setup, stream: str) -> None:
    """The channel is first played 17 s into a 30 s break (sidecar just started, or the viewer is
    the first): the CUE-OUT is history, so content viewers may already have had stays content, but
    the rest of the break is still a break. It is joined at the first segment no more than two
    segments behind the live edge, and lasts to the signalled end."""
    await setup.channel(slug=stream, stream=stream)
    setup.clock.now = BREAK_AT + 17
    resp = await setup.get(f"{stream}/800k.m3u8?mode=ssai")
    assert resp.headers["X-Ad-Mode"] == "ssai"
    pl = parse_media(await resp.text())
    history = [s for s in pl.segments if s.pdt is not None and s.pdt.timestamp() < BREAK_AT + 4]
    assert history and all("/live/" in s.uri for s in history), "segments deep in the window stay content"
    first_ad = next(s for s in pl.segments if "/ads/" in s.uri)
    assert first_ad.pdt is not None and first_ad.pdt.timestamp() == BREAK_AT + 4
    brk = (await (await setup.stack.admin.get(f"/admin/channels/{stream}/break", headers=setup.tenant.auth)).json())[
        "break"
    ]
    assert (brk["startPdt"], brk["durationSeconds"]) == (BREAK_AT + 4, 26.0)


async def test_two_streams_with_identical_playlists_keep_their_own_segments(setup: Setup) -> None:
    """Relative segment URIs make two streams' playlists byte-identical; each channel must still
    get its own segments (a cache keyed on content alone mixed them up)."""
    await setup.channel(slug="one", stream="x1")
    await setup.channel(slug="two", stream="x2")
    one = await (await setup.origin.get("/live/x1/800k.m3u8")).text()
    two = await (await setup.origin.get("/live/x2/800k.m3u8")).text()
    assert one == two
    a = await (await setup.get("one/800k.m3u8")).text()
    b = await (await setup.get("two/800k.m3u8")).text()
    assert "/live/x1/" in a and "/live/x2/" not in a
    assert "/live/x2/" in b and "/live/x1/" not in b


async def test_asset_lists_name_the_configured_public_url(sqlite_url: str) -> None:
    """Behind a proxy, ``public_url`` is where viewers reach the service: asset URIs use it."""
    async for s in _setup(database_url=sqlite_url, origin_cache_seconds=0, public_url="https://ssai.example.com/"):
        await s.channel(slug="cueout", stream="cueout")
        brk = None
        for _, text in await walk(s, "cueout", "sgai", BREAK_AT - 4, BREAK_AT + 4, step=4.0):
            brk = brk or re.search(r'ID="(brk_[0-9a-f]+)"', text)
        assert brk is not None
        body = await (await s.get(f"cueout/assets.json?break={brk.group(1)}")).json()
        assert body["ASSETS"][0]["URI"].startswith(f"https://ssai.example.com/{s.tenant.org_slug}/cueout/ad/")
