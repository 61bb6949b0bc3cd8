"""The probe's second parser (m3u8) agrees with ours on every playlist we have, and a difference
between them is a failed check, not a silent pass."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from sidecar.hls.parse import parse_media
from sidecar.probe.independent import ParsersDisagree, compare, read_media
from sidecar.probe.validity import CheckFailed, VariantState

TESTS = Path(__file__).resolve().parent.parent
PLAYLISTS = sorted(p for d in ("hls/golden", "web/golden") for p in (TESTS / d).glob("*.m3u8")
                   if "#EXT-X-STREAM-INF" not in p.read_text() and "EPOCH+" not in p.read_text())

LIVE = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:7
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-DISCONTINUITY-SEQUENCE:2
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:6.006,
a.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:07.000Z
#EXTINF:5.96,
b.ts
#EXTINF:6.006,
c.ts
"""


def test_there_are_playlists_to_compare() -> None:
    assert len(PLAYLISTS) >= 10


@pytest.mark.parametrize("path", PLAYLISTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_both_parsers_read_every_golden_playlist_alike(path: Path) -> None:
    text = path.read_text()
    compare(parse_media(text), read_media(text))


def test_m3u8_reads_segments_numbers_and_extrapolated_pdts() -> None:
    pl = read_media(LIVE)
    assert (pl.media_sequence, pl.discontinuity_sequence, pl.target_duration) == (10, 2, 7)
    assert [(s.msn, s.uri, s.duration, s.discontinuity) for s in pl.segments] == [
        (10, "a.ts", 6.006, False), (11, "b.ts", 5.96, True), (12, "c.ts", 6.006, False)]
    assert pl.segments[2].pdt == pl.segments[1].pdt + timedelta(seconds=5.96)
    assert not pl.segments[2].pdt_explicit


@pytest.mark.parametrize("field", ["duration", "discontinuity", "uri", "pdt"])
def test_a_fact_read_differently_is_named(field: str) -> None:
    ours = parse_media(LIVE)
    seg = ours.segments[1]
    changed = {"duration": 6.0, "discontinuity": False, "uri": "x.ts", "pdt": seg.pdt + timedelta(seconds=1)}[field]
    wrong = dataclasses.replace(ours, segments=(ours.segments[0], dataclasses.replace(seg, **{field: changed}),
                                                ours.segments[2]))
    with pytest.raises(ParsersDisagree, match="MSN 11"):
        compare(wrong, read_media(LIVE))


def test_a_header_read_differently_is_named() -> None:
    ours = dataclasses.replace(parse_media(LIVE), discontinuity_sequence=3)
    with pytest.raises(ParsersDisagree, match="discontinuity_sequence"):
        compare(ours, read_media(LIVE))


def test_text_m3u8_cannot_read_as_a_media_playlist_fails_the_check_as_parse() -> None:
    state = VariantState("http://x/v.m3u8")
    state.judge(LIVE, 0.0)
    with pytest.raises(CheckFailed) as failed:
        state.judge(LIVE.replace("#EXT-X-TARGETDURATION:7\n", ""), 1.0)
    assert failed.value.reason == "parse"
