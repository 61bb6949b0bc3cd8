"""A real browser player (hls.js in headless Chromium) against the real service and real media.

Everything below the browser is the production code path: the synthetic origin makes live
MPEG-TS with ffmpeg and signals an ad break with a SCTE-35 ``EXT-X-DATERANGE`` ahead of time, as
a live encoder would; the service's viewer app (auto-insert on) creates the break and stitches
it. The page (``www/``) is served by that same viewer app under ``/_player/``, so playlists and
asset lists are same-origin for the browser; segments come straight from the origin, which sends
``Access-Control-Allow-Origin: *``.

One browser and one live channel serve the whole module (starting Chromium and getting a live
stream going costs seconds): two windows join the channel a few seconds before its one 8 s
break, one pinned to SSAI and one to SGAI, and the tests read what each saw. The unit tests prove
the playlists are well formed; this proves a widely used player actually *plays* them: through
the discontinuities into the ads, the slate and back (SSAI), and through the interstitial's
asset list and assets back to the live primary (SGAI). ffprobe reads the stitched playlist too.

The SGAI player runs hls.js with ``interstitialAppendInPlace: false`` (each asset gets its own
MediaSource, as in Safari). With hls.js's default (append in place) playback stalls at the start
of the break every time on this stream: hls.js preloads the assets of the interstitial announced
well ahead, then its estimate of the break's start moves by 10-20 ms between playlist reloads
(probably because each origin segment's audio ends up to one AAC frame, ~21 ms, after its
video) and it cannot re-offset the preloaded assets ("Cannot set timelineOffset after playlists
are loaded"). Open the page with ``&appendInPlace=1`` to reproduce.

hls.js comes from ``tests/player/node_modules`` (``scripts/player-deps.sh`` runs ``npm ci``).
Run with ``pytest tests/player -rP`` to see each player's story on success too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.demo import seed
from sidecar.origin import OriginConfig, build_origin_app
from sidecar.services import Services
from sidecar.web.app import build_admin_app, build_viewer_app
from tests.conftest import make_settings, unique_slug
from tests.player.cdp import Browser, Page

HERE = Path(__file__).resolve().parent
WWW = HERE / "www"
HLS_JS = HERE / "node_modules" / "hls.js" / "dist" / "hls.min.js"

SEGMENT = 2.0  # short segments: hls.js sits ~3 target durations behind the live edge
BREAK = 8.0  # the break: a 6 s pod (two ads: 4 s + 2 s) then 2 s of slate
TO_BREAK = 12.0  # seconds from the origin's start to the break (players join ~6 s behind live)
INTERVAL = 120.0  # between breaks: one break in the test's lifetime
RENDITION = "360p"  # one rung keeps ffmpeg work (and ABR noise) down
PAGE = "/_player/"

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@dataclass
class Seen:
    """One request the service's viewer app answered."""

    method: str
    path: str
    query: dict[str, str]
    status: int

    @property
    def path_qs(self) -> str:
        return self.path + ("?" + "&".join(f"{k}={v}" for k, v in self.query.items()) if self.query else "")


@dataclass
class Rig:
    """The live channel, the service serving it, and two player windows watching it."""

    viewer: str
    origin: str
    org: str
    channel: str
    browser: Browser
    ssai: Page
    sgai: Page
    seen: list[Seen] = field(default_factory=list)
    break_id: str = ""

    def playlist_url(self, mode: str) -> str:
        return f"{self.viewer}/{self.org}/{self.channel}/{RENDITION}.m3u8?mode={mode}"


# --- evidence -----------------------------------------------------------------------------------------
async def report(page: Page) -> dict[str, Any]:
    value = await page.evaluate("JSON.stringify(window.report || null)")
    data = json.loads(value) if isinstance(value, str) else None
    return data if isinstance(data, dict) else {}


def explain(name: str, data: dict[str, Any], page: Page) -> str:
    """Everything useful for a post-mortem of one player: its event log (errors included), the
    fragments it played, playback samples, interstitial events, console and hls.js's own log."""
    lines = [f"--- {name}: hls.js {data.get('hlsVersion')} src={data.get('src')}"]
    lines += [f"  {t:7.2f} {event} {detail}" for t, event, detail in data.get("log", [])[-60:]]
    lines.append("  fragments played (t, sn, cc, url):")
    lines += [f"  {f['t']:7.2f} sn={f['sn']} cc={f['cc']} {f['url']}" for f in data.get("frags", [])[-40:]]
    lines.append(f"  last samples: {data.get('samples', [])[-6:]}")
    lines.append(f"  last playlist updates: {data.get('levels', [])[-3:]}")
    lines.append("  interstitial asset fragments buffered (t, asset, sn, cc, url):")
    lines += [
        f"  {f['t']:7.2f} asset={f['asset']} sn={f['sn']} cc={f['cc']} {f['url']}" for f in data.get("assetFrags", [])
    ]
    lines.append(f"  console: {page.console[-20:]}")
    hls_log = data.get("hlsLog", [])
    lines.append("  hls.js interstitials log (last 40):")
    lines += [f"    {line}" for line in [x for x in hls_log if "[interstitials]" in x][-40:]]
    lines.append("  hls.js log (last 15):")
    lines += [f"    {line}" for line in hls_log[-15:]]
    return "\n".join(lines)


async def wait_for(
    rig: Rig, page: Page, name: str, what: str, done: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any]:
    """Poll the page's report until ``done`` holds; fail with the player's whole story if it never
    does or if hls.js reports a fatal error on the way."""
    deadline = time.monotonic() + timeout
    data: dict[str, Any] = {}
    while True:
        data = await report(page)
        fatal = [e for e in data.get("errors", []) if e.get("fatal")]
        if fatal:
            pytest.fail(f"{name}: fatal hls.js error while waiting for {what}: {fatal}\n{explain(name, data, page)}")
        if data and done(data):
            return data
        if time.monotonic() > deadline:
            seen = [f"{s.method} {s.path_qs} -> {s.status}" for s in rig.seen[-15:]]
            pytest.fail(
                f"{name}: no {what} within {timeout:g}s\n{explain(name, data, page)}\n"
                f"  service saw (last 15): {seen}\n  chromium stderr: {rig.browser.stderr_tail(800)}"
            )
        await asyncio.sleep(0.5)


def is_ad(url: str) -> bool:
    return url.startswith("/ads/")


# --- the rig ----------------------------------------------------------------------------------------------
def _page_app(viewer: web.Application, seen: list[Seen]) -> None:
    """Add the test page to the service's viewer app (same origin: no CORS needed for playlists)
    and record every request the app answers, so tests can assert what the player fetched."""

    def file(path: Path, content_type: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

        return handler

    viewer.router.add_get(PAGE, file(WWW / "index.html", "text/html; charset=utf-8"))
    viewer.router.add_get(PAGE + "player.js", file(WWW / "player.js", "text/javascript"))
    viewer.router.add_get(PAGE + "hls.min.js", file(HLS_JS, "text/javascript"))

    async def record(request: web.Request, response: web.StreamResponse) -> None:
        seen.append(Seen(request.method, request.path, dict(request.query), response.status))

    viewer.on_response_prepare.append(record)


async def _prewarm(origin: str, paths: list[str]) -> None:
    """Encode the ad and slate segments before the break: ffmpeg runs on first request, and the
    player should not stall at the splice just because the origin is encoding."""
    async with aiohttp.ClientSession() as http:
        for path in paths:
            async with http.get(origin + path) as resp:
                assert resp.status == 200, f"{path}: {resp.status} {await resp.text()}"
                await resp.read()


async def _break_id(admin: str, channel: str, token: str, timeout: float = 20.0) -> str:
    """The service's ID for the break, once a player's playlist request has made it create it."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(
                f"{admin}/admin/channels/{channel}/break", headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                body = await resp.json()
                assert resp.status == 200, body
            if body.get("break"):
                return str(body["break"]["id"])
            assert time.monotonic() < deadline, f"the service never created the signalled break: {body}"
            await asyncio.sleep(0.25)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(sqlite_url: str) -> AsyncIterator[Rig]:
    assert HLS_JS.is_file(), f"{HLS_JS} is missing: run scripts/player-deps.sh (npm ci in tests/player)"
    assert shutil.which("ffmpeg") and shutil.which("ffprobe"), "ffmpeg/ffprobe are required (scripts/system-deps.sh)"
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-player-"))
    servers: list[TestServer] = []
    svc: Services | None = None
    browser: Browser | None = None
    try:
        svc = Services.build(make_settings(database_url=sqlite_url))
        await svc.start()
        seen: list[Seen] = []
        viewer_app = build_viewer_app(svc)
        _page_app(viewer_app, seen)
        viewer_server = TestServer(viewer_app, host="127.0.0.1")
        admin_server = TestServer(build_admin_app(svc), host="127.0.0.1")
        for server in (viewer_server, admin_server):
            await server.start_server()
            servers.append(server)
        viewer = f"http://127.0.0.1:{viewer_server.port}"
        admin = f"http://127.0.0.1:{admin_server.port}"
        browser = await Browser.launch()

        # The origin's clock is the real one (the browser plays in real time); its epoch puts the
        # one break of the test TO_BREAK seconds from now. The break is signalled the SCTE-35
        # DATERANGE way, daterange_lead seconds before it starts, as a live encoder would: an SGAI
        # player needs the interstitial ahead of its buffer, not at the live edge.
        break_start = math.floor(time.time()) + TO_BREAK
        config = OriginConfig(
            media="ffmpeg",
            cache_dir=tmp / "media",
            segment_duration=SEGMENT,
            window=6,
            renditions=((RENDITION, 800_000, "640x360"),),
            cue_flavour="daterange",
            daterange_lead=12.0,
            break_interval=INTERVAL,
            break_duration=BREAK,
            epoch=break_start - INTERVAL,
            pods={"pod-a": (4.0, 2.0)},
        )
        origin_server = TestServer(build_origin_app(config), host="127.0.0.1")
        await origin_server.start_server()
        servers.append(origin_server)
        origin = f"http://127.0.0.1:{origin_server.port}"
        info = await seed(svc.store, origin, config, org_slug=unique_slug("play"), channel_slug="live1")
        await _prewarm(origin, [f"/ads/pod-a/{RENDITION}/{i}.ts" for i in range(3)] + [f"/ads/slate/{RENDITION}/0.ts"])

        master = f"{viewer}/{info.org}/{info.channel}/master.m3u8"
        ssai = await browser.new_page(f"{viewer}{PAGE}?src={quote(master + '?mode=ssai', safe='')}")
        sgai = await browser.new_page(f"{viewer}{PAGE}?interstitials=1&src={quote(master + '?mode=sgai', safe='')}")
        # hls.js joins ~3 segments behind the live edge; it must meet content before the break.
        slack = break_start - time.time()
        assert slack > 2 * SEGMENT, f"setup took too long: the players joined {slack:.1f}s before the break"
        rig = Rig(viewer, origin, info.org, info.channel, browser, ssai, sgai, seen)
        rig.break_id = await _break_id(admin, info.channel, info.token)
        yield rig
    finally:
        if browser is not None:
            await browser.close()
        for server in reversed(servers):
            await server.close()
        if svc is not None:
            await svc.close()
        shutil.rmtree(tmp, ignore_errors=True)


# --- tests -------------------------------------------------------------------------------------------------
async def test_ffprobe_reads_the_stitched_playlist_through_the_splice(rig: Rig) -> None:
    """ffmpeg's HLS demuxer is a second, independent reader: it must open the stitched live
    playlist and demux real H.264 from the last content segment before the break, through the
    pod and the slate, into the content after it."""
    url = rig.playlist_url("ssai")
    deadline = time.monotonic() + 40
    async with aiohttp.ClientSession() as http:
        while True:  # until the splice-out reaches the live edge: "..., content, ad 1"
            async with http.get(url) as resp:
                text = await resp.text()
            uris = [line for line in text.splitlines() if line and not line.startswith("#")]
            first_ad = next((i for i, u in enumerate(uris) if "/ads/" in u), None)
            if first_ad is not None:
                break
            assert time.monotonic() < deadline, f"the break never showed up in the SSAI playlist:\n{text}"
            await asyncio.sleep(0.25)
    assert first_ad > 0, f"probe too late, the window starts inside the break:\n{text}"
    break_segments = round(BREAK / SEGMENT)
    frames = round(SEGMENT * 30)
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "verbose", "-rw_timeout", "15000000", "-live_start_index", str(first_ad - 1),
        # Every video packet of the content segment and the break, and the first one after it.
        "-read_intervals", f"%+#{(1 + break_segments) * frames + 1}", "-select_streams", "v",
        "-show_entries", "stream=codec_type,codec_name,width,height:format=format_name:packet=pts_time",
        "-of", "json", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    log = err.decode(errors="replace")
    story = f"playlist when probing began:\n{text}\nffprobe log (tail):\n{log[-3000:]}"
    assert proc.returncode == 0, f"ffprobe exited with {proc.returncode}\n{story}"
    probed = json.loads(out)
    assert probed["format"]["format_name"] == "hls", story
    assert [(s["codec_name"], s["width"], s["height"]) for s in probed["streams"]] == [("h264", 640, 360)], story
    assert len(probed["packets"]) == (1 + break_segments) * frames + 1, story

    opened = [line.split("'")[1] for line in log.splitlines() if "Opening '" in line and ".ts'" in line]
    kinds = ["content" if "/live/" in u else u.split("/ads/", 1)[-1] for u in opened]
    expected = [
        "content",
        *(f"pod-a/{RENDITION}/{i}.ts" for i in range(3)),
        *[f"slate/{RENDITION}/0.ts"] * (break_segments - 3),
        "content",
    ]
    assert kinds[: len(expected)] == expected, f"segments ffprobe read: {opened}\n{story}"


async def test_hlsjs_plays_an_ssai_break_and_returns_to_content(rig: Rig) -> None:
    """The SSAI player plays content, the whole pod, the slate and content again, in real time."""

    def back_to_content(data: dict[str, Any]) -> bool:
        frags = data.get("frags", [])
        first_ad = next((i for i, f in enumerate(frags) if is_ad(f["url"])), None)
        return first_ad is not None and sum(1 for f in frags[first_ad:] if f["url"].startswith("/live/")) >= 2

    data = await wait_for(rig, rig.ssai, "SSAI player", "content after the break", back_to_content, 60.0)
    story = explain("SSAI player", data, rig.ssai)
    frags = data["frags"]
    urls = [f["url"] for f in frags]
    first_ad = next(i for i, u in enumerate(urls) if is_ad(u))
    last_ad = max(i for i, u in enumerate(urls) if is_ad(u))

    assert first_ad > 0 and urls[first_ad - 1].startswith("/live/"), f"content played before the ads\n{story}"
    played = urls[first_ad : last_ad + 1]
    assert all(is_ad(u) for u in played), f"the break played without content mixed in\n{story}"
    pod = [u for u in played if u.startswith("/ads/pod-a/")]
    assert pod == [f"/ads/pod-a/{RENDITION}/{i}.ts" for i in range(3)], f"every pod segment, in order\n{story}"
    assert played[len(pod) :] and all(u.startswith("/ads/slate/") for u in played[len(pod) :]), (
        f"slate after the pod\n{story}"
    )
    assert urls[last_ad + 1].startswith("/live/"), f"content after the break\n{story}"

    # Discontinuities: content -> ad 1 -> ad 2 -> slate -> content, each a new hls.js cc.
    cc = [f["cc"] for f in frags]
    assert cc[first_ad] != cc[first_ad - 1], f"splice-out starts a new discontinuity\n{story}"
    assert cc[last_ad + 1] != cc[last_ad], f"splice-in starts a new discontinuity\n{story}"
    assert len({cc[i] for i in range(first_ad - 1, last_ad + 2)}) >= 4, f"four timelines in the break\n{story}"
    assert any(lv["ads"] > 0 and lv["endCC"] > lv["startCC"] for lv in data["levels"]), (
        f"LEVEL_UPDATED showed the stitched playlist\n{story}"
    )

    # Real time: the playhead kept moving through the splices (no long stall, no jump back).
    break_t = frags[first_ad]["t"]
    samples = [s for s in data["samples"] if s["t"] >= break_t - 4]
    moved = samples[-1]["ct"] - samples[0]["ct"]
    elapsed = samples[-1]["t"] - samples[0]["t"]
    assert moved >= 0.75 * elapsed and moved >= BREAK, f"played {moved:.1f}s of media in {elapsed:.1f}s\n{story}"
    assert all(b["ct"] >= a["ct"] for a, b in itertools.pairwise(samples)), f"no jump back\n{story}"
    assert not [e for e in data["errors"] if e["fatal"]], story
    print(story)  # shown with pytest -rP: what a passing run looked like


async def test_hlsjs_plays_the_sgai_interstitial_from_the_services_asset_list(rig: Rig) -> None:
    """hls.js parses the SGAI playlist's interstitial DATERANGE (the break's ID, its asset list on
    the service), fetches the asset list and the creatives' playlists from the service, plays the
    pod and the slate as interstitial assets, and resumes the live primary."""
    mine = rig.break_id

    def ended_at(data: dict[str, Any]) -> float | None:
        ends = [e["t"] for e in data.get("interstitialEvents", []) if e["name"] == "INTERSTITIAL_ENDED"]
        return ends[0] if ends else None

    def resumed(data: dict[str, Any]) -> bool:
        """Live content played again after the interstitial, and the playhead moves on."""
        end = ended_at(data)
        if end is None:
            return False
        after = [s["ct"] for s in data.get("samples", []) if s["t"] > end + 0.5 and not s["paused"]]
        content = [f for f in data.get("frags", []) if f["t"] >= end - 0.5 and f["url"].startswith("/live/")]
        return bool(content) and len(after) >= 2 and after[-1] - after[0] >= 1.5

    data = await wait_for(rig, rig.sgai, "SGAI player", "content playing after the interstitial", resumed, 60.0)
    story = explain("SGAI player", data, rig.sgai)

    listed = [ev for update in data["interstitialUpdates"] for ev in update["events"] if ev["id"] == mine]
    assert listed, f"INTERSTITIALS_UPDATED never listed {mine}\n{story}"
    # As written in the DATERANGE: relative to the media playlist, so it resolves to the service.
    assert listed[-1]["assetListUrl"] == f"assets.json?break={mine}", f"{listed[-1]}\n{story}"
    assert abs(listed[-1]["duration"] - BREAK) < 0.05, f"{listed[-1]}\n{story}"

    steps = [(e["name"], e["index"]) for e in data["interstitialEvents"] if e["id"] == mine]
    expected = [
        ("ASSET_LIST_LOADING", None),
        ("ASSET_LIST_LOADED", None),
        ("INTERSTITIAL_STARTED", None),
        ("INTERSTITIAL_ASSET_STARTED", 0),
        ("INTERSTITIAL_ASSET_ENDED", 0),
        ("INTERSTITIAL_ASSET_STARTED", 1),
        ("INTERSTITIAL_ASSET_ENDED", 1),
        ("INTERSTITIAL_ENDED", None),
    ]
    assert [s for s in steps if s in expected] == expected, f"interstitial played in order\n{story}"
    assert not [s for s in steps if s[0] == "INTERSTITIAL_ASSET_ERROR"], story

    # What the assets' own players buffered: the pod's segments and the slate, from the origin;
    # and each asset ran for about its duration (real-time playback, not a skip).
    shown = [(f["asset"], f["url"]) for f in data["assetFrags"]]
    assert [u for a, u in shown if a == 0] == [f"/ads/pod-a/{RENDITION}/{i}.ts" for i in range(3)], story
    assert {u for a, u in shown if a == 1} == {f"/ads/slate/{RENDITION}/0.ts"}, story
    at = {(e["name"], e["index"]): e["t"] for e in data["interstitialEvents"] if e["id"] == mine}
    for index, seconds in ((0, 6.0), (1, BREAK - 6.0)):
        ran = at[("INTERSTITIAL_ASSET_ENDED", index)] - at[("INTERSTITIAL_ASSET_STARTED", index)]
        assert seconds - 0.5 <= ran <= seconds + 2.5, f"asset {index} ran {ran:.2f}s, not ~{seconds:g}s\n{story}"
    # The primary showed none of the content the interstitial replaces: nothing between its start
    # and its end, then it resumed where the break ends (X-RESUME-OFFSET), not where it began.
    started, ended = at[("INTERSTITIAL_STARTED", None)], at[("INTERSTITIAL_ENDED", None)]
    during = [f for f in data["frags"] if started + 0.5 < f["t"] < ended - 0.5]
    assert not during, f"primary content played during the interstitial: {during}\n{story}"
    before = [f["sn"] for f in data["frags"] if f["t"] <= started + 0.5]
    after = [f["sn"] for f in data["frags"] if f["t"] >= ended - 0.5]
    assert after[0] - before[-1] - 1 == round(BREAK / SEGMENT), f"resumed after the break's segments\n{story}"

    # The service answered the asset list (hls.js adds its own _HLS_* query parameters) and the
    # per-creative multivariant playlists the list points to.
    base = f"/{rig.org}/{rig.channel}"
    asset_lists = [s.status for s in rig.seen if s.path == f"{base}/assets.json" and s.query.get("break") == mine]
    assert asset_lists and set(asset_lists) == {200}, f"service answered the asset list with {asset_lists}\n{story}"
    for index in (0, 1):
        got = [s.status for s in rig.seen if s.path == f"{base}/ad/{mine}/{index}.m3u8"]
        assert got and set(got) == {200}, f"service answered creative {index} with {got}\n{story}"

    assert not [e for e in data["errors"] if e["fatal"]], story
    print(story)  # shown with pytest -rP: what a passing run looked like
