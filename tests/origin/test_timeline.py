"""Live-window invariants, checked over many clock values and configurations.

These are the properties a stitcher relies on (RFC 8216 section 6.2.1): the media sequence never
goes back, an MSN always names the same segment with the same PROGRAM-DATE-TIME, only complete
segments are listed, and equal configs agree on all of it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

import m3u8
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.origin.config import OriginConfig
from sidecar.origin.playlists import live_media_playlist
from sidecar.origin.timeline import Timeline, format_pdt

from .conftest import EPOCH, FakeClock

PDT_RE = re.compile(r"^#EXT-X-PROGRAM-DATE-TIME:(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$", re.M)

configs = st.builds(
    lambda d, window, epoch_ms: OriginConfig(
        segment_duration=d, window=window, epoch=epoch_ms / 1000, cue_flavour="cue-out"
    ),
    d=st.sampled_from([2.0, 3.0, 4.0, 5.0, 6.0]),
    window=st.integers(3, 12),
    epoch_ms=st.integers(0, 2_000_000_000_000),
)


@settings(max_examples=60, deadline=None)
@given(cfg=configs, offsets=st.lists(st.floats(0, 20_000, allow_nan=False), min_size=2, max_size=12))
def test_window_is_monotonic_contiguous_and_dated_by_the_clock(
    cfg: OriginConfig, offsets: list[float]
) -> None:
    tl = Timeline(cfg)
    d = cfg.segment_duration
    pdt_by_msn: dict[int, str] = {}
    previous_sequence = -1
    for offset in sorted(offsets):
        now = cfg.epoch + offset
        text = live_media_playlist(tl, "cue-out", "800k", now)
        playlist = m3u8.loads(text)
        assert playlist.target_duration == round(d)
        assert playlist.media_sequence >= previous_sequence, "MSN went back"
        previous_sequence = playlist.media_sequence
        complete = int(offset // d)  # segments fully in the past
        assert len(playlist.segments) == min(cfg.window, complete)
        pdts = PDT_RE.findall(text)
        assert len(pdts) == len(playlist.segments), "PDT must be on every segment"
        for i, (segment, pdt) in enumerate(zip(playlist.segments, pdts, strict=True)):
            msn = playlist.media_sequence + i
            assert segment.uri == f"800k/{msn}.ts"
            assert segment.duration == d
            start = segment.program_date_time.timestamp()
            assert abs(start - (cfg.epoch + msn * d)) < 0.0015
            assert start + d <= now + 0.0015, "an incomplete segment was published"
            assert pdt_by_msn.setdefault(msn, pdt) == pdt, "PDT of a segment changed"
        if playlist.segments:
            newest = playlist.media_sequence + len(playlist.segments) - 1
            assert cfg.epoch + (newest + 2) * d > now - 0.0015, "a complete segment is missing"


@settings(max_examples=40, deadline=None)
@given(cfg=configs, offset=st.floats(0, 1e6, allow_nan=False))
def test_equal_configs_serve_identical_playlists(cfg: OriginConfig, offset: float) -> None:
    now = cfg.epoch + offset
    a = OriginConfig(segment_duration=cfg.segment_duration, window=cfg.window, epoch=cfg.epoch,
                     clock=FakeClock(now))
    b = OriginConfig(segment_duration=cfg.segment_duration, window=cfg.window, epoch=cfg.epoch,
                     clock=FakeClock(now))
    for flavour in ("cue-out", "daterange", "oatcls", "oatcls-timesignal"):
        assert live_media_playlist(Timeline(a), flavour, "800k", a.clock()) == live_media_playlist(
            Timeline(b), flavour, "800k", b.clock()
        )


@settings(max_examples=80, deadline=None)
@given(
    d=st.sampled_from([2.0, 3.0, 4.0, 6.0]),
    interval=st.sampled_from([60.0, 90.0, 120.0, 125.0, 300.0]),
    duration=st.sampled_from([10.0, 15.0, 30.0, 45.0]),
    k=st.integers(0, 10_000_000),
)
def test_breaks_start_on_the_first_boundary_at_or_after_their_nominal_time(
    d: float, interval: float, duration: float, k: int
) -> None:
    tl = Timeline(OriginConfig(segment_duration=d, break_interval=interval, break_duration=duration))
    b = tl.ad_break(k)
    assert b.start * d >= k * interval > (b.start - 1) * d
    # It returns on the boundary nearest its end, as an encoder splices in on the nearest IDR
    # (the later one on a tie).
    assert b.end - b.start == math.floor(duration / d + 0.5), "a break covers round(duration / d) segments"
    assert tl.break_at(b.start - 1) is None
    assert tl.break_at(b.end) is None
    assert all(tl.break_at(n) == b for n in range(b.start, b.end))
    assert tl.ad_break(k + 1).start > b.end, "breaks must be separated by content"


def test_pdt_format_is_utc_with_milliseconds_and_z() -> None:
    assert format_pdt(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert format_pdt(0) == "1970-01-01T00:00:00.000Z"
    tl = Timeline(OriginConfig(epoch=EPOCH, segment_duration=4.0))
    assert tl.pdt(3) == "2023-11-14T22:13:32.000Z"
    assert datetime.fromisoformat(tl.pdt(3).replace("Z", "+00:00")).timestamp() == EPOCH + 12


def test_nothing_is_published_before_the_first_segment_completes() -> None:
    cfg = OriginConfig(epoch=EPOCH)
    text = live_media_playlist(Timeline(cfg), "cue-out", "800k", EPOCH + 3.9)
    playlist = m3u8.loads(text)
    assert playlist.segments == []
    assert playlist.media_sequence == 0
    assert "#EXTINF" not in text
