"""Ad-break signalling in every flavour, observed through HTTP reloads across whole breaks.

Each test sweeps the clock one segment at a time from before a break is announced until it
has left the window, reloading the playlist as a player or the stitcher would.
"""

from __future__ import annotations

import re
from typing import Any

import m3u8
import pytest
from aiohttp.test_utils import TestClient

from sidecar.hls.scte35 import Scte35Info, decode_scte35
from sidecar.origin import OriginConfig
from sidecar.origin.config import CueFlavour
from sidecar.origin.timeline import Timeline

from .conftest import EPOCH, FakeClock, OriginFactory

CUE_PREFIXES = ("#EXT-X-CUE", "#EXT-OATCLS-SCTE35", "#EXT-X-DATERANGE")
URI_RE = re.compile(r"^[\w.-]+/(\d+)\.ts$")
ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')

CFG = OriginConfig(epoch=EPOCH)
TL = Timeline(CFG)


def decode(payload: str) -> Scte35Info:
    info = decode_scte35(payload)
    assert info is not None and info.valid, info
    return info


def split_tags(text: str) -> tuple[dict[int, list[str]], list[str]]:
    """Cue tags before each segment (by MSN) and after the last segment."""
    before: dict[int, list[str]] = {}
    pending: list[str] = []
    for line in text.splitlines():
        if line.startswith(CUE_PREFIXES):
            pending.append(line)
        elif m := URI_RE.match(line):
            before[int(m.group(1))] = pending
            pending = []
    return before, pending


def attrs(tag: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in ATTR_RE.findall(tag.split(":", 1)[1])}


async def sweep(client: TestClient[Any, Any], clock: FakeClock, lasts: range, path: str = "/live/s/800k.m3u8",
                plus: float = 0.5) -> list[tuple[int, float, str]]:
    """(newest MSN, clock, playlist text) for each newest MSN in ``lasts``."""
    seen = []
    for last in lasts:
        clock.at_segment_end(CFG, last, plus)
        resp = await client.get(path)
        assert resp.status == 200
        seen.append((last, clock.now, await resp.text()))
    return seen


@pytest.mark.parametrize("flavour", ["cue-out", "oatcls", "oatcls-timesignal"])
@pytest.mark.parametrize("k", [1, 2])
async def test_cue_tags_out_cont_in_across_a_break(
    origin: OriginFactory, clock: FakeClock, flavour: CueFlavour, k: int
) -> None:
    client = await origin(cue_flavour=flavour)
    b = TL.ad_break(k)
    assert (b.start, b.end) == (30 * k, 30 * k + 8)
    tags_of: dict[int, list[str]] = {}
    for last, _, text in await sweep(client, clock, range(b.start - 3, b.end + 8)):
        before, trailing = split_tags(text)
        for msn, tags in before.items():
            assert tags_of.setdefault(msn, tags) == tags, f"tags on MSN {msn} changed between reloads"
        # A break ending exactly at the live edge closes with a trailing CUE-IN.
        assert bool(trailing) == (last == b.end - 1)
        if trailing:
            assert trailing[-1] == "#EXT-X-CUE-IN"
    binary = None
    for msn in range(b.start - 3, b.end + 8):
        tags = tags_of[msn]
        if msn == b.start:
            if flavour == "cue-out":
                assert tags == ["#EXT-X-CUE-OUT:DURATION=30"]
            else:
                assert len(tags) == 2 and tags[1] == "#EXT-X-CUE-OUT:30"
                assert tags[0].startswith("#EXT-OATCLS-SCTE35:")
                binary = tags[0].split(":", 1)[1]
        elif b.start < msn < b.end:
            cont = f"#EXT-X-CUE-OUT-CONT:ElapsedTime={(msn - b.start) * 4},Duration=30"
            assert tags == [cont if binary is None else f"{cont},SCTE35={binary}"]
        elif msn == b.end:
            assert tags[-1] == "#EXT-X-CUE-IN"
            if flavour == "oatcls-timesignal":
                assert len(tags) == 2
                end = decode(tags[0].split(":", 1)[1])
                assert end.command_type == 0x06 and end.pts_time == pytest.approx(10 + b.end * 4)
                assert [(s.type_id, s.event_id, s.duration) for s in end.segmentations] == [
                    (0x35, b.event_id, None)
                ]
            else:
                assert tags == ["#EXT-X-CUE-IN"]
        else:
            assert tags == [], f"unexpected cue tags on MSN {msn}"
    if flavour == "oatcls":
        assert binary is not None
        cue = decode(binary)
        assert cue.command_type == 0x05
        assert (cue.splice_event_id, cue.out_of_network) == (k + 1, True)
        assert (cue.break_duration, cue.auto_return) == (30.0, True)
        assert cue.pts_time == pytest.approx(10 + b.start * 4)
    if flavour == "oatcls-timesignal":
        assert binary is not None
        cue = decode(binary)
        assert cue.command_type == 0x06 and cue.pts_time == pytest.approx(10 + b.start * 4)
        (seg,) = cue.segmentations
        assert (seg.type_id, seg.event_id, seg.duration) == (0x34, k + 1, 30.0)
        assert seg.upid_type == 0x0F and seg.upid == f"urn:sidecar:origin:break:{k}".encode()


async def test_m3u8_reads_the_cue_out_break(origin: OriginFactory, clock: FakeClock) -> None:
    client = await origin(cue_flavour="oatcls", window=12)
    clock.at_segment_end(CFG, 39)  # window 28..39 holds the whole of break 1 (30..37)
    playlist = m3u8.loads(await (await client.get("/live/s/1600k.m3u8")).text())
    by_msn = {playlist.media_sequence + i: s for i, s in enumerate(playlist.segments)}
    assert [n for n, s in by_msn.items() if s.cue_out_start] == [30]
    assert [n for n, s in by_msn.items() if s.cue_in] == [38]
    assert by_msn[30].scte35_duration == "30"
    assert decode(by_msn[30].oatcls_scte35).splice_event_id == 2
    assert all(by_msn[n].cue_out for n in range(31, 38))


async def test_daterange_out_is_announced_ahead_and_closed_by_in(origin: OriginFactory, clock: FakeClock) -> None:
    client = await origin(cue_flavour="daterange")
    b = TL.ad_break(1)
    first_seen: float | None = None
    values: dict[str, str] = {}
    out_tag = in_tag = None
    # plus=0: reload at the very instant each segment is published (the least lead possible).
    for last, now, text in await sweep(client, clock, range(b.start - 10, b.end + 10), plus=0.0):
        before, trailing = split_tags(text)
        assert trailing == []
        window = sorted(before)
        tags = [t for msn in window for t in before[msn]]
        outs = [t for t in tags if "SCTE35-OUT" in t]
        ins = [t for t in tags if "SCTE35-IN" in t]
        # OUT is visible from its announcement until the break has left the window.
        announced = now + 12 >= EPOCH + b.start * 4
        assert len(outs) == int(announced and window[0] <= b.end), (last, tags)
        assert len(ins) == int(window[0] <= b.end <= last)
        if ins:
            assert before[b.end][-1] == ins[0], "SCTE35-IN goes before the first segment after the break"
            in_tag = ins[0]
        if outs and first_seen is None:
            first_seen = now
            out_tag = outs[0]
            start = EPOCH + b.start * 4
            assert start - now >= 12, "DATERANGE must lead its START-DATE by at least 12 s"
            assert start >= EPOCH + (last + 1) * 4, "START-DATE must still be ahead of the live edge"
        for tag in outs + ins:  # same ID never carries different values for one attribute
            for key, value in attrs(tag).items():
                assert values.setdefault(key, value) == value, key
        playlist = m3u8.loads(text)
        assert sum(len(s.dateranges) for s in playlist.segments) == len(outs) + len(ins)
    assert first_seen is not None and out_tag is not None and in_tag is not None
    out, inn = attrs(out_tag), attrs(in_tag)
    assert out["ID"] == inn["ID"] == f"splice-{b.event_id}"
    assert out["START-DATE"] == inn["START-DATE"] == TL.pdt(b.start) == "2023-11-14T22:15:20.000Z"
    assert out["PLANNED-DURATION"] == "30"
    assert inn["END-DATE"] == TL.pdt(b.end) and inn["DURATION"] == "32"
    assert out["SCTE35-OUT"].startswith("0x") and inn["SCTE35-IN"].startswith("0x")
    cue_out, cue_in = decode(out["SCTE35-OUT"]), decode(inn["SCTE35-IN"])
    assert (cue_out.command_type, cue_out.splice_event_id, cue_out.out_of_network) == (0x05, b.event_id, True)
    assert (cue_out.break_duration, cue_out.auto_return) == (30.0, True)
    assert cue_out.pts_time == pytest.approx(10 + b.start * 4)
    assert (cue_in.command_type, cue_in.splice_event_id, cue_in.out_of_network) == (0x05, b.event_id, False)
    assert cue_in.break_duration is None and cue_in.pts_time == pytest.approx(10 + b.end * 4)


async def test_none_flavour_has_no_cues(origin: OriginFactory, clock: FakeClock) -> None:
    client = await origin(cue_flavour="none")
    for _, _, text in await sweep(client, clock, range(20, 45)):
        assert not any(line.startswith(CUE_PREFIXES) for line in text.splitlines())


async def test_streams_can_use_different_flavours(origin: OriginFactory, clock: FakeClock) -> None:
    client = await origin(cue_flavour="cue-out", stream_cues={"dr": "daterange", "ts": "oatcls-timesignal"})
    clock.at_segment_end(CFG, 32)
    texts = {s: await (await client.get(f"/live/{s}/800k.m3u8")).text() for s in ("plain", "dr", "ts")}
    assert "#EXT-X-CUE-OUT:DURATION=30" in texts["plain"] and "DATERANGE" not in texts["plain"]
    assert "SCTE35-OUT=0x" in texts["dr"] and "CUE-OUT" not in texts["dr"]
    assert "#EXT-OATCLS-SCTE35:" in texts["ts"]
    assert decode(re.findall(r"#EXT-OATCLS-SCTE35:(\S+)", texts["ts"])[0]).command_type == 0x06
