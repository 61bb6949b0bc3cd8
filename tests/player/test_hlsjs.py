"""A real browser player (hls.js in headless Chromium) against the real service and real media.

Everything below the browser is the production code path: the synthetic origin makes live
MPEG-TS with ffmpeg and signals three ad breaks with SCTE-35 ``EXT-X-DATERANGE`` ahead of time,
as a live encoder would: two back to back (the second splices out where the first returns), then
a third. The service's viewer app, on channel defaults (origin cues honoured), creates the breaks
and stitches them. The page (``www/``) is served from **another origin** than the service, as a
customer's site would be, so every URI the service hands out (variant playlists, asset lists,
asset playlists) must work from a page on any origin; segments come straight from the origin,
which sends ``Access-Control-Allow-Origin: *``.

One browser and one live channel serve the whole module (starting Chromium and getting a live
stream going costs seconds): two windows join the channel a few seconds before the first break,
one pinned to SSAI and one to SGAI, both with hls.js's **default** configuration, and the tests
read what each saw. The unit tests prove the playlists are well formed; this proves a widely used
player actually *plays* them: through every discontinuity of back-to-back breaks into the ads,
the slate and back (SSAI), and every interstitial of the run through its asset list and assets
back to the live primary (SGAI). ffprobe reads the stitched playlist too.

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
from datetime import datetime
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
from sidecar.origin.config import BreakSpec
from sidecar.origin.timeline import Timeline
from sidecar.services import Services
from sidecar.web.app import build_admin_app, build_viewer_app
from tests.conftest import make_settings, unique_slug
from tests.player.cdp import Browser, Page

HERE = Path(__file__).resolve().parent
WWW = HERE / "www"
HLS_JS = HERE / "node_modules" / "hls.js" / "dist" / "hls.min.js"

# 1.6 s segments hold whole video frames (48 at 30 fps) *and* whole AAC frames (75 of 1024 samples
# at 48 kHz). The origin encodes every segment on its own, so with other lengths each segment's
# audio overhangs its video by up to one AAC frame, which a continuous live encoder never does;
# hls.js's estimate of where an interstitial starts then drifts by tens of milliseconds between
# reloads, and with its default append-in-place it cannot re-offset preloaded assets ("Cannot set
# timelineOffset after playlists are loaded") and stalls.
SEGMENT = 1.6
POD = (3.2, 1.6)  # two ads: 4.8 s (pod segments 0, 1 | 2)
# Three breaks: A (the pod, then one slate segment), B back to back with it (the pod), and after
# 20.8 s of content C (like A). Offsets from the first break's start. C is announced (12 s ahead)
# after B has played: hls.js 1.7.4 with append-in-place skipped an interstitial it had preloaded
# while a back-to-back pair was playing (its schedule jumped from the content between them to
# after it), which no break spacing of a real channel (a break every minute or so) comes near.
BREAKS = (BreakSpec(0.0, 6.4), BreakSpec(duration=4.8, back_to_back=True), BreakSpec(32.0, 6.4))
BREAK = 6.4  # the first break
RUN_END = 38.4  # seconds after the first break starts: the last one is over
TO_BREAK = 12.0  # seconds from the origin's start to the break (players join ~6 s behind live)
INTERVAL = 120.0  # one cycle of breaks in the test's lifetime
RENDITION = "360p"  # one rung keeps ffmpeg work (and ABR noise) down
PAGE = "/player/"

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
    page: str
    org: str
    channel: str
    browser: Browser
    ssai: Page
    sgai: Page
    break_starts: list[float]
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
def _page_app() -> web.Application:
    """The test page on its own server: another origin than the service and the media origin."""

    def file(path: Path, content_type: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

        return handler

    app = web.Application()
    app.router.add_get(PAGE, file(WWW / "index.html", "text/html; charset=utf-8"))
    app.router.add_get(PAGE + "player.js", file(WWW / "player.js", "text/javascript"))
    app.router.add_get(PAGE + "hls.min.js", file(HLS_JS, "text/javascript"))
    return app


def _record(viewer: web.Application, seen: list[Seen]) -> None:
    """Record every request the service's viewer app answers, so tests can assert what the player
    fetched from it."""

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
        _record(viewer_app, seen)
        viewer_server = TestServer(viewer_app, host="127.0.0.1")
        admin_server = TestServer(build_admin_app(svc), host="127.0.0.1")
        page_server = TestServer(_page_app(), host="127.0.0.1")
        for server in (viewer_server, admin_server, page_server):
            await server.start_server()
            servers.append(server)
        viewer = f"http://127.0.0.1:{viewer_server.port}"
        admin = f"http://127.0.0.1:{admin_server.port}"
        page = f"http://127.0.0.1:{page_server.port}{PAGE}"
        browser = await Browser.launch()

        # The origin's clock is the real one (the browser plays in real time); its epoch puts the
        # first break of the test TO_BREAK seconds from now. Breaks are signalled the SCTE-35
        # DATERANGE way, daterange_lead seconds before they start, as a live encoder would: an SGAI
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
            breaks=BREAKS,
            epoch=break_start - INTERVAL,
            pods={"pod-a": POD},
            slate_duration=SEGMENT,
        )
        origin_server = TestServer(build_origin_app(config), host="127.0.0.1")
        await origin_server.start_server()
        servers.append(origin_server)
        origin = f"http://127.0.0.1:{origin_server.port}"
        info = await seed(svc.store, origin, config, org_slug=unique_slug("play"), channel_slug="live1")
        await _prewarm(origin, [f"/ads/pod-a/{RENDITION}/{i}.ts" for i in range(3)] + [f"/ads/slate/{RENDITION}/0.ts"])
        tl = Timeline(config)
        starts = [tl.start_ms(tl.ad_break(len(BREAKS) + i).start) / 1000 for i in range(len(BREAKS))]
        assert starts[0] == break_start

        master = f"{viewer}/{info.org}/{info.channel}/master.m3u8"
        ssai = await browser.new_page(f"{page}?src={quote(master + '?mode=ssai', safe='')}")
        sgai = await browser.new_page(f"{page}?interstitials=1&src={quote(master + '?mode=sgai', safe='')}")
        # hls.js joins ~3 segments behind the live edge; it must meet content before the break.
        slack = break_start - time.time()
        assert slack > 2 * SEGMENT, f"setup took too long: the players joined {slack:.1f}s before the break"
        rig = Rig(viewer, origin, page, info.org, info.channel, browser, ssai, sgai, starts, seen)
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
    playlist and demux real H.264 from the last content segment before the first break, through
    its pod and slate and the back-to-back break's pod, into the content after them."""
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
    a_segments = round(BREAK / SEGMENT)
    b_segments = round(BREAKS[1].duration / SEGMENT)
    frames = round(SEGMENT * 30)
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "verbose", "-rw_timeout", "15000000", "-live_start_index", str(first_ad - 1),
        # Every video packet of the content segment and both breaks, and the first one after them.
        "-read_intervals", f"%+#{(1 + a_segments + b_segments) * frames + 1}", "-select_streams", "v",
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
    assert len(probed["packets"]) == (1 + a_segments + b_segments) * frames + 1, story

    opened = [line.split("'")[1] for line in log.splitlines() if "Opening '" in line and ".ts'" in line]
    kinds = ["content" if "/live/" in u else u.split("/ads/", 1)[-1] for u in opened]
    pod = [f"pod-a/{RENDITION}/{i}.ts" for i in range(3)]
    expected = ["content", *pod, *[f"slate/{RENDITION}/0.ts"] * (a_segments - 3), *pod, "content"]
    assert kinds[: len(expected)] == expected, f"segments ffprobe read: {opened}\n{story}"


def _breaks_played(frags: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(first, last) index of each run of ad fragments: back-to-back breaks are one run."""
    runs: list[tuple[int, int]] = []
    for i, f in enumerate(frags):
        if is_ad(f["url"]):
            if runs and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
    return runs


async def test_hlsjs_plays_back_to_back_and_later_ssai_breaks_across_every_discontinuity(rig: Rig) -> None:
    """The SSAI player plays content, break A (pod, slate), break B right after it (pod), content,
    break C and content again, in real time, changing timeline (hls.js ``cc``) at every
    discontinuity and never reporting a discontinuity sequence mismatch."""

    def back_to_content(data: dict[str, Any]) -> bool:
        frags = data.get("frags", [])
        runs = _breaks_played(frags)
        return len(runs) >= 2 and sum(1 for f in frags[runs[-1][1] :] if f["url"].startswith("/live/")) >= 2

    data = await wait_for(rig, rig.ssai, "SSAI player", "content after the last break", back_to_content, 90.0)
    story = explain("SSAI player", data, rig.ssai)
    frags = data["frags"]
    urls = [f["url"] for f in frags]
    cc = [f["cc"] for f in frags]
    runs = _breaks_played(frags)
    assert len(runs) == 2, f"A+B back to back, then C\n{story}"
    pod = [f"/ads/pod-a/{RENDITION}/{i}.ts" for i in range(3)]
    slate = f"/ads/slate/{RENDITION}/0.ts"
    (a, b), (c0, c1) = runs
    assert urls[a : b + 1] == [*pod, slate, *pod], f"A's pod and slate, then B's pod\n{story}"
    assert urls[c0 : c1 + 1] == [*pod, slate], f"C's pod and slate\n{story}"
    for first, last in runs:
        assert urls[first - 1].startswith("/live/") and urls[last + 1].startswith("/live/"), story
        assert cc[first] != cc[first - 1] and cc[last + 1] != cc[last], f"splice out and in change cc\n{story}"
    # Every joint is its own timeline: ad 1 -> ad 2 -> slate -> B's ad 1 -> ad 2 -> content.
    joints = [a, a + 2, a + 3, a + 4, a + 6, b + 1]
    assert len({cc[i] for i in joints}) == len(joints), f"a new cc at every joint of A and B\n{story}"
    assert all(cc[i] == cc[i - 1] for i in (a + 1, a + 5)), f"no cc change inside one ad\n{story}"
    hls_log = "\n".join(data.get("hlsLog", []))
    assert "discontinuity sequence mismatch" not in hls_log.lower(), story

    # Real time: the playhead kept moving through the splices (no long stall, no jump back).
    start_t = frags[a]["t"]
    samples = [s for s in data["samples"] if s["t"] >= start_t - 4]
    moved = samples[-1]["ct"] - samples[0]["ct"]
    elapsed = samples[-1]["t"] - samples[0]["t"]
    assert moved >= 0.8 * elapsed and moved >= RUN_END, f"played {moved:.1f}s of media in {elapsed:.1f}s\n{story}"
    assert all(b["ct"] >= a["ct"] for a, b in itertools.pairwise(samples)), f"no jump back\n{story}"
    assert not [e for e in data["errors"] if e["fatal"]], story
    print(story)  # shown with pytest -rP: what a passing run looked like


async def test_hlsjs_plays_every_sgai_interstitial_of_the_run_with_its_default_config(rig: Rig) -> None:
    """hls.js, default configuration, on a page from another origin: for each of the three breaks
    it reads the interstitial DATERANGE (the break's ID, its asset list on the service), fetches
    the asset list and the assets' playlists from the service, plays the pod and the slate, and
    resumes the live primary where the break ends."""

    def played(data: dict[str, Any]) -> list[str]:
        return [e["id"] for e in data.get("interstitialEvents", []) if e["name"] == "INTERSTITIAL_ENDED"]

    def resumed_after_all(data: dict[str, Any]) -> bool:
        ends = [e["t"] for e in data.get("interstitialEvents", []) if e["name"] == "INTERSTITIAL_ENDED"]
        if len(set(played(data))) < len(BREAKS):
            return False
        after = [s["ct"] for s in data.get("samples", []) if s["t"] > ends[-1] + 0.5 and not s["paused"]]
        return len(after) >= 2 and after[-1] - after[0] >= 1.5

    data = await wait_for(
        rig, rig.sgai, "SGAI player", "every interstitial played and the primary resumed", resumed_after_all, 90.0
    )
    story = explain("SGAI player", data, rig.sgai)

    events = {ev["id"]: ev for update in data["interstitialUpdates"] for ev in update["events"]}
    starts = sorted(events.values(), key=lambda ev: ev["startDate"])
    assert len(starts) >= len(BREAKS), f"an interstitial per break: {starts}\n{story}"
    for ev, at in zip(starts, rig.break_starts, strict=False):
        assert abs(_iso(ev["startDate"]) - at) < 0.01, f"{ev} does not start at {at}\n{story}"
        # As written in the DATERANGE: relative to the media playlist, so it resolves to the service.
        assert ev["assetListUrl"] == f"assets.json?break={ev['id']}", f"{ev}\n{story}"
    ids = [ev["id"] for ev in starts[: len(BREAKS)]]
    assert rig.break_id == ids[0]

    base = f"/{rig.org}/{rig.channel}"
    for ident, seconds in zip(ids, (b.duration for b in BREAKS), strict=True):
        steps = [(e["name"], e["index"]) for e in data["interstitialEvents"] if e["id"] == ident]
        assets = 2 if seconds > sum(POD) else 1  # the pod, and slate for what it does not fill
        expected = [("ASSET_LIST_LOADED", None), ("INTERSTITIAL_STARTED", None)]
        for index in range(assets):
            expected += [("INTERSTITIAL_ASSET_STARTED", index), ("INTERSTITIAL_ASSET_ENDED", index)]
        expected.append(("INTERSTITIAL_ENDED", None))
        assert [x for x in steps if x in expected] == expected, f"interstitial {ident} played in order\n{story}"
        assert not [x for x in steps if x[0] == "INTERSTITIAL_ASSET_ERROR"], f"{ident}\n{story}"
        at = {(e["name"], e["index"]): e["t"] for e in data["interstitialEvents"] if e["id"] == ident}
        ran = at[("INTERSTITIAL_ENDED", None)] - at[("INTERSTITIAL_STARTED", None)]
        assert seconds - 0.75 <= ran <= seconds + 2.5, f"{ident} ran {ran:.2f}s, not ~{seconds:g}s\n{story}"
        # The service answered the asset list (hls.js adds its own _HLS_* query parameters) and
        # the playlists it names, requested from the service's host though the page is elsewhere.
        lists = [x.status for x in rig.seen if x.path == f"{base}/assets.json" and x.query.get("break") == ident]
        assert lists and set(lists) == {200}, f"service answered {ident}'s asset list with {lists}\n{story}"
        for index in range(assets):
            got = [x.status for x in rig.seen if x.path == f"{base}/ad/{ident}/{index}.m3u8"]
            assert got and set(got) == {200}, f"service answered {ident}'s asset {index} with {got}\n{story}"

    # What the assets' own players buffered came from the origin: the pod's segments and the slate.
    urls = {f["url"] for f in data["assetFrags"]}
    assert {f"/ads/pod-a/{RENDITION}/{i}.ts" for i in range(3)} | {f"/ads/slate/{RENDITION}/0.ts"} <= urls, story
    assert not [e for e in data["errors"] if e["fatal"]], story
    print(story)  # shown with pytest -rP: what a passing run looked like


def _iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
