"""The named scenarios of ``sidecar origin``: each one serves the behaviour it is named after.

Read through the HTTP surface (and, for the CLI, a real ``sidecar origin --scenario`` process),
with the service's own parser as the reader.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from sidecar.hls.cues import breaks_in_window
from sidecar.hls.model import rounded_duration
from sidecar.hls.parse import cut_to_complete, parse_master, parse_media
from sidecar.origin import OriginConfig, build_origin_app
from sidecar.origin.config import BreakSpec
from sidecar.origin.failures import truncate_mid_line
from sidecar.origin.scenarios import SCENARIOS, scenario_config
from sidecar.origin.timeline import Timeline
from tests.conftest import free_port, sidecar_cmd

from .conftest import EPOCH, FakeClock


async def serve(config: OriginConfig) -> TestClient[Any, Any]:
    client = TestClient(TestServer(build_origin_app(config), host="127.0.0.1"))
    await client.start_server()
    return client


def playlists(config: OriginConfig, clock: FakeClock, times: list[float]) -> list[str]:
    """The 800k playlist at each of ``times`` (pure: the timeline decides everything)."""
    from sidecar.origin.playlists import live_media_playlist

    tl = Timeline(config)
    out = []
    for t in times:
        clock.now = t
        out.append(live_media_playlist(tl, config.cue_flavour, "800k", t))
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("segment", [1.0, 6.0])
def test_every_scenario_is_a_valid_config_at_every_scale(name: str, segment: float) -> None:
    config = scenario_config(name, segment=segment, first_break_in=5.0, now=EPOCH)
    tl = Timeline(config)
    breaks = tl.breaks_touching(0, tl.last_published(EPOCH + 600))
    assert breaks, "the scenario has breaks"
    assert all(b.end > b.start for b in breaks)
    # A break starts first_break_in from now (cycle 1; join-mid-break starts inside one).
    starts = [tl.start_ms(b.start) / 1000 for b in breaks]
    if SCENARIOS[name].join_after is None:  # on the first boundary at or after it
        assert any(0 <= s - (EPOCH + 5.0) < segment for s in starts), starts


def test_join_mid_break_starts_after_the_cue_out_slid_out() -> None:
    config = scenario_config("join-mid-break", segment=1.0, now=EPOCH)
    text = playlists(config, FakeClock(EPOCH), [EPOCH])[0]
    assert "#EXT-X-CUE-OUT:" not in text and text.count("#EXT-X-CUE-OUT-CONT:") == config.window
    (signal,) = breaks_in_window(parse_media(text))
    assert not signal.out_seen and signal.duration == 20.0
    assert abs(signal.start.timestamp() - (EPOCH - 8.0)) < 0.01, "ElapsedTime points back at the splice-out"


def test_back_to_back_puts_cue_in_and_the_next_cue_out_on_one_segment() -> None:
    config = scenario_config("back-to-back", segment=1.0, now=EPOCH, first_break_in=0.0)
    text = playlists(config, FakeClock(EPOCH), [EPOCH + 9.5])[0]
    lines = text.splitlines()
    i = lines.index("#EXT-X-CUE-IN")
    assert lines[i + 1] == "#EXT-X-CUE-OUT:DURATION=5", "the second break splices out where the first returns"
    assert len(breaks_in_window(parse_media(text))) == 2


def test_early_return_signals_thirty_and_returns_after_eighteen() -> None:
    config = scenario_config("early-return", segment=6.0, now=EPOCH, first_break_in=0.0)
    text = playlists(config, FakeClock(EPOCH), [EPOCH + 30.5])[0]
    (signal,) = breaks_in_window(parse_media(text))
    assert signal.duration == 30.0
    assert signal.end is not None and (signal.end - signal.start).total_seconds() == 18.0


def test_jitter_durations_fit_a_target_of_six_by_rfc_rounding() -> None:
    config = scenario_config("jitter", segment=6.0, now=EPOCH)
    pl = parse_media(playlists(config, FakeClock(EPOCH), [EPOCH + 100])[0])
    assert {s.duration for s in pl.segments} == {6.006, 5.96}
    assert pl.target_duration == 6 and all(rounded_duration(s.duration) <= 6 for s in pl.segments)
    # PDTs follow the jittered durations exactly.
    for a, b in zip(pl.segments, pl.segments[1:], strict=False):
        assert a.pdt is not None and b.pdt is not None
        assert abs((b.pdt - a.pdt).total_seconds() - a.duration) < 1e-6


def test_discontinuities_are_counted_by_the_discontinuity_sequence() -> None:
    config = scenario_config("discontinuities", segment=1.0, now=EPOCH)
    texts = playlists(config, FakeClock(EPOCH), [EPOCH + t for t in range(40, 80)])
    prev = None
    seen_inside = seen_outside = False
    tl = Timeline(config)
    for text in texts:
        pl = parse_media(text)
        for seg in pl.segments:
            if seg.discontinuity:
                assert seg.msn % 7 == 3
                if tl.break_at(seg.msn) is not None:
                    seen_inside = True
                else:
                    seen_outside = True
        if prev is not None:
            dropped = [s for s in prev.segments if s.msn < pl.media_sequence]
            assert pl.discontinuity_sequence - prev.discontinuity_sequence == sum(s.discontinuity for s in dropped)
        prev = pl
    assert seen_inside and seen_outside, "discontinuities both inside breaks and in content"


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("oatcls", ("#EXT-OATCLS-SCTE35:", "#EXT-X-ASSET:CAID=0x", "#EXT-X-CUE-OUT-CONT:CAID=0x")),
        ("daterange-timesignal", ("SCTE35-OUT=0xFC30",)),
    ],
)
def test_dialect_scenarios_write_their_tags_and_are_recognised(name: str, tags: tuple[str, ...]) -> None:
    config = scenario_config(name, segment=1.0, now=EPOCH, first_break_in=-2.0)
    text = playlists(config, FakeClock(EPOCH), [EPOCH + 0.5])[0]
    for tag in tags:
        assert tag in text, tag
    (signal,) = breaks_in_window(parse_media(text))
    assert signal.event_id.startswith(("splice:", "seg:")) and signal.duration == 5.0


async def test_flaky_fails_every_fifth_and_cuts_every_seventh_request_of_each_playlist(clock: FakeClock) -> None:
    config = scenario_config("flaky", segment=2.0, now=EPOCH, clock=clock)
    clock.now = EPOCH + 100
    client = await serve(config)
    try:
        statuses, cut = [], []
        for _ in range(35):
            resp = await client.get("/live/s/800k.m3u8")
            statuses.append(resp.status)
            text = await resp.text()
            cut.append(resp.status == 200 and not text.endswith("\n"))
            if cut[-1]:
                repaired, was_cut = cut_to_complete(text)
                assert was_cut and repaired.endswith("\n"), "cut back to complete lines"
                assert all(line.endswith(".ts") for line in repaired.splitlines() if not line.startswith("#"))
        assert [i + 1 for i, s in enumerate(statuses) if s == 503] == [5, 10, 15, 20, 25, 30, 35]
        assert [i + 1 for i, c in enumerate(cut) if c] == [7, 14, 21, 28], "35 is a 503"
        # Counted per playlist: the other rendition and the master have their own counts.
        assert (await client.get("/live/s/1600k.m3u8")).status == 200
        for _ in range(4):
            assert (await client.get("/live/s/master.m3u8")).status == 200
        assert (await client.get("/live/s/master.m3u8")).status == 503
    finally:
        await client.close()


def test_truncation_cuts_inside_a_line_each_way() -> None:
    config = scenario_config("daterange", segment=1.0, now=EPOCH, first_break_in=1.0)
    text = playlists(config, FakeClock(EPOCH), [EPOCH])[0]
    cuts = [truncate_mid_line(text, k) for k in range(3)]
    assert all(text.startswith(c) and not c.endswith("\n") for c in cuts)
    assert cuts[0].rsplit("\n", 1)[-1].startswith("800k/") and not cuts[0].endswith(".ts"), "a cut URI"
    assert cuts[1].rsplit("\n", 1)[-1].startswith("#EXT-X-DATERANGE:"), "a cut attribute list"
    for c in cuts:
        repaired, was_cut = cut_to_complete(c)
        assert (was_cut and repaired.endswith(".ts\n")) or repaired.endswith("\n")
        assert all(line.endswith(".ts") for line in repaired.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"breaks": (BreakSpec(0.0, 30.0, returns_after=40.0),)}, "returns_after"),
        ({"breaks": (BreakSpec(duration=30.0, back_to_back=True),)}, "first break"),
        ({"breaks": (BreakSpec(0.0, 30.0), BreakSpec(20.0, 30.0))}, "overlap"),
        ({"breaks": (BreakSpec(0.0, 60.0), BreakSpec(duration=60.0, back_to_back=True))}, "two content segments"),
        ({"segment_pattern": (6.0005,)}, "whole milliseconds"),
        ({"discontinuity_every": 5, "discontinuity_phase": 5}, "discontinuity_phase"),
        ({"fail_every": -1}, "fail_every"),
    ],
)
def test_invalid_scenario_fields_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OriginConfig(**fields)


async def test_cli_serves_a_scenario() -> None:
    """``sidecar origin --scenario`` as an operator runs it: a real process, a real socket."""
    port = free_port()
    proc = subprocess.Popen(
        sidecar_cmd("origin", "--port", str(port), "--scenario", "back-to-back", "--segment-duration", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/live/sports1/master.m3u8") as resp:
                        master = parse_master(await resp.text())
                    break
                except aiohttp.ClientError:
                    assert proc.poll() is None and time.monotonic() < deadline, "sidecar origin did not start"
                    await asyncio.sleep(0.1)
            async with http.get(f"http://127.0.0.1:{port}/live/sports1/{master.variants[0].uri}") as resp:
                pl = parse_media(await resp.text())
        assert pl.target_duration == 1 and len(pl.segments) == 6
    finally:
        proc.terminate()
        proc.wait(timeout=10)
