"""Golden playlists: round-trip fidelity and cue detection for every cue flavour.

Each input in ``golden/`` is realistic origin output: the MediaTailor/Elemental sample, real
ffmpeg 5.1 fMP4 output, and payloads from AWS documentation or threefive-verified encodings.
``<name>.canonical.m3u8`` is what the writer produces when the origin's formatting is dropped,
as for a segment the splicer built. Where it is missing, the input is already canonical.
"""

from __future__ import annotations

import m3u8
import pytest

from sidecar.hls import cues_of, parse_media, render_media
from tests.hls.helpers import GOLDEN, canonical, golden, inputs, iso

FILES = inputs()


def test_golden_set_is_complete() -> None:
    assert len(FILES) >= 10
    for name in FILES:
        assert name.endswith(".m3u8")


@pytest.mark.parametrize("name", FILES)
def test_pass_through_is_byte_exact(name: str) -> None:
    text = golden(name)
    assert render_media(parse_media(text)) == text


@pytest.mark.parametrize("name", FILES)
def test_canonical_render_matches_golden_and_reparses_equal(name: str) -> None:
    text = golden(name)
    pl = parse_media(text)
    expected_path = GOLDEN / name.replace(".m3u8", ".canonical.m3u8")
    expected = expected_path.read_text() if expected_path.exists() else text
    out = render_media(canonical(pl))
    assert out == expected
    again = parse_media(out)
    assert again == pl  # the model (not the formatting) survives canonicalisation
    assert render_media(again) == out  # canonical output is a fixed point


@pytest.mark.parametrize("name", FILES)
def test_cues_are_recomputable(name: str) -> None:
    pl = parse_media(golden(name))
    assert cues_of(pl) == pl.cues
    assert cues_of(canonical(pl)) == pl.cues


# (kind, dialect, msn, pdt, duration, event_id, segmentation_type) per golden file.
Row = tuple[str, str, int, str | None, float | None, str | None, int | None]
EXPECTED_CUES: dict[str, list[Row]] = {
    "elemental_cue_out_cont_in.m3u8": [
        ("out", "oatcls", 8779960, "2019-08-21T19:37:09.384Z", 20.0, "splice:4026531846", None),
        ("out", "cue-out", 8779960, "2019-08-21T19:37:09.384Z", 20.02, "splice:4026531846", None),
        ("cont", "cue-out", 8779961, "2019-08-21T19:37:10.018Z", 21.0, "splice:4026531846", None),
        ("cont", "cue-out", 8779962, "2019-08-21T19:37:16.024Z", 21.0, "splice:4026531846", None),
        ("cont", "cue-out", 8779963, "2019-08-21T19:37:22.030Z", 21.0, "splice:4026531846", None),
        ("cont", "cue-out", 8779964, "2019-08-21T19:37:28.036Z", 21.0, "splice:4026531846", None),
        ("in", "cue-out", 8779965, "2019-08-21T19:37:29.404Z", None, "splice:4026531846", None),
    ],
    "elemental_live_edge.m3u8": [
        ("out", "cue-out", 498, "2024-05-01T11:59:48.000Z", 24.0, "pdt:2024-05-01T11:59:48.000Z", None),
        ("cont", "cue-out", 499, "2024-05-01T11:59:54.000Z", 24.0, "pdt:2024-05-01T11:59:48.000Z", None),
        ("cont", "cue-out", 500, "2024-05-01T12:00:00.000Z", 24.0, "pdt:2024-05-01T11:59:48.000Z", None),
        ("cont", "cue-out", 501, "2024-05-01T12:00:06.000Z", 24.0, "pdt:2024-05-01T11:59:48.000Z", None),
        # the trailing CUE-IN at the live edge: msn = last_msn + 1, pdt = end of the last segment
        ("in", "cue-out", 502, "2024-05-01T12:00:12.000Z", None, "pdt:2024-05-01T11:59:48.000Z", None),
    ],
    "elemental_live_edge_later.m3u8": [
        ("cont", "cue-out", 500, "2024-05-01T12:00:00.000Z", 24.0, "pdt:2024-05-01T11:59:48.000Z", None),
        ("cont", "cue-out", 501, "2024-05-01T12:00:06.000Z", 24.0, "pdt:2024-05-01T11:59:48.000Z", None),
        ("in", "cue-out", 502, "2024-05-01T12:00:12.000Z", None, "pdt:2024-05-01T11:59:48.000Z", None),
    ],
    "back_to_back_breaks.m3u8": [
        ("out", "cue-out", 21, "2024-05-01T08:00:04.000Z", 8.0, "pdt:2024-05-01T08:00:04.000Z", None),
        ("cont", "cue-out", 22, "2024-05-01T08:00:08.000Z", 8.0, "pdt:2024-05-01T08:00:04.000Z", None),
        ("in", "cue-out", 23, "2024-05-01T08:00:12.000Z", None, "pdt:2024-05-01T08:00:04.000Z", None),
        ("out", "cue-out", 23, "2024-05-01T08:00:12.000Z", 4.0, "pdt:2024-05-01T08:00:12.000Z", None),
        ("in", "cue-out", 24, "2024-05-01T08:00:16.000Z", None, "pdt:2024-05-01T08:00:12.000Z", None),
        ("out", "cue-out", 25, "2024-05-01T08:00:20.000Z", None, "pdt:2024-05-01T08:00:20.000Z", None),
    ],
    "daterange_scte35.m3u8": [
        # tag before 3001, START-DATE at the 3002 boundary: the splice point is 3002
        ("out", "daterange", 3002, "2024-05-01T21:54:08.079Z", 28.0, "splice:999", None),
        ("in", "daterange", 3009, "2024-05-01T21:54:36.079Z", 28.0, "splice:999", None),
        # one time_signal with 0x35 (end of the previous opportunity) and 0x34 (start of the next)
        ("in", "daterange", 3010, "2024-05-01T21:54:40.079Z", None, "seg:1281", 0x35),
        ("out", "daterange", 3010, "2024-05-01T21:54:40.079Z", 45.0, "seg:1282", 0x34),
        # after the last segment with a START-DATE 46 s past the live edge
        ("out", "daterange", 3011, "2024-05-01T21:55:30.079Z", 60.0, "splice:1000", None),
    ],
    "oatcls_splice_insert.m3u8": [
        ("out", "oatcls", 1, None, 47.0, "splice:4026684891", None),
        ("other", "oatcls", 2, None, None, None, None),
        ("other", "oatcls", 3, None, None, None, None),
        ("in", "oatcls", 5, None, None, "splice:4026684891", None),
    ],
    "time_signal_segmentation.m3u8": [
        ("other", "splicepoint", 71, "2024-05-01T10:00:00.000Z", 3600.0, "seg:119", 0x10),
        ("out", "splicepoint", 72, "2024-05-01T10:00:06.000Z", 212.16, "seg:2729", 0x34),
        ("in", "splicepoint", 74, "2024-05-01T10:00:18.000Z", None, "seg:2728", 0x35),
        ("out", "scte35-tag", 75, "2024-05-01T10:00:24.000Z", 12.0, "seg:18961", 0x22),
        ("cont", "scte35-tag", 76, "2024-05-01T10:00:30.000Z", 12.0, "seg:18961", 0x22),
        ("in", "scte35-tag", 77, "2024-05-01T10:00:36.000Z", None, "seg:18961", 0x23),
    ],
    "ffmpeg_fmp4_map.m3u8": [],
    "key_byterange.m3u8": [],
    "unknown_tags.m3u8": [],  # EXT-X-CUE-SPAN is kept verbatim but is not a cue
}


def test_every_golden_file_has_cue_expectations() -> None:
    assert sorted(EXPECTED_CUES) == FILES


@pytest.mark.parametrize("name", sorted(EXPECTED_CUES))
def test_cue_detection(name: str) -> None:
    pl = parse_media(golden(name))
    got = [(c.kind, c.dialect, c.msn, iso(c.pdt), c.duration, c.event_id, c.segmentation_type) for c in pl.cues]
    assert got == EXPECTED_CUES[name]


def test_cont_elapsed_and_validity() -> None:
    pl = parse_media(golden("elemental_cue_out_cont_in.m3u8"))
    assert [c.elapsed for c in pl.cues if c.kind == "cont"] == [0.634, 6.640, 12.646, 18.652]
    assert all(c.valid for c in pl.cues)
    oatcls = pl.cues[0]
    assert oatcls.scte35 is not None and oatcls.scte35.command == "splice_insert"
    assert oatcls.scte35.auto_return is True
    # the CONT lines carry the same splice_insert again (Elemental "SCTE-35 enhanced")
    assert all(c.scte35 is not None and c.scte35.splice_event_id == 4026531846 for c in pl.cues[2:6])


def test_break_identity_is_stable_when_the_cue_out_scrolls_off() -> None:
    first = parse_media(golden("elemental_live_edge.m3u8"))
    later = parse_media(golden("elemental_live_edge_later.m3u8"))
    assert {c.event_id for c in first.cues} == {c.event_id for c in later.cues} == {"pdt:2024-05-01T11:59:48.000Z"}
    # the CUE-IN was a trailing tag, then it preceded s502: same splice point either way
    assert first.cues[-1].msn == later.cues[-1].msn == 502
    assert first.cues[-1].pdt == later.cues[-1].pdt


def test_daterange_splice_points_are_exact_only_inside_the_window() -> None:
    pl = parse_media(golden("daterange_scte35.m3u8"))
    assert [c.msn_exact for c in pl.cues] == [True, True, True, True, False]
    future = pl.cues[-1]
    assert future.msn == pl.last_msn + 1
    assert future.pdt is not None and future.pdt > pl.segments[-1].pdt  # type: ignore[operator]


def test_interstitial_dateranges_are_not_cues_but_are_kept() -> None:
    text = golden("daterange_scte35.m3u8")
    pl = parse_media(text)
    assert all("com.apple.hls.interstitial" not in c.raw for c in pl.cues)
    assert any('CUE="PRE,ONCE"' in t for t in pl.segments[4].tags)
    assert pl.trailer_tags[-1].endswith('X-RESTRICT="SKIP,JUMP",CUE="ONCE"')


def test_invalid_payloads_are_counted_not_fatal() -> None:
    pl = parse_media(golden("oatcls_splice_insert.m3u8"))
    bad = [c for c in pl.cues if not c.valid]
    assert [c.scte35.error for c in bad if c.scte35] == ["bad-encoding", "bad-length"]
    assert all(c.kind == "other" for c in bad)
    assert all(c.pdt is None for c in pl.cues)  # this playlist has no PDT at all


def test_renditions_yield_the_same_cues() -> None:
    text = golden("elemental_cue_out_cont_in.m3u8")
    other = text.replace("index_1_", "index_2_").replace("6.006,", "6.007,")
    a, b = parse_media(text), parse_media(other)
    assert [(c.kind, c.msn, c.event_id) for c in a.cues] == [(c.kind, c.msn, c.event_id) for c in b.cues]


# -- What m3u8.dumps() loses, and render_media keeps -------------------------------------------


def _m3u8_roundtrip(text: str) -> str:
    return str(m3u8.loads(text).dumps())


def test_trailing_cue_in_at_the_live_edge_is_kept() -> None:
    text = golden("elemental_live_edge.m3u8")
    assert text.rstrip().endswith("#EXT-X-CUE-IN")
    assert render_media(parse_media(text)).rstrip().endswith("#EXT-X-CUE-IN")
    assert not _m3u8_roundtrip(text).rstrip().endswith("#EXT-X-CUE-IN")


def test_back_to_back_cue_in_is_kept() -> None:
    text = golden("back_to_back_breaks.m3u8")
    assert render_media(parse_media(text)).count("#EXT-X-CUE-IN") == text.count("#EXT-X-CUE-IN") == 2
    assert _m3u8_roundtrip(text).count("#EXT-X-CUE-IN") < 2


def test_cue_attribute_and_attribute_order_on_daterange_are_kept() -> None:
    text = golden("daterange_scte35.m3u8")
    line = next(x for x in text.splitlines() if 'ID="pre1"' in x)
    assert line in render_media(parse_media(text)).splitlines()
    assert line not in _m3u8_roundtrip(text).splitlines()
    assert 'CUE="PRE,ONCE"' not in _m3u8_roundtrip(text)


def test_unknown_tags_are_kept() -> None:
    text = golden("unknown_tags.m3u8")
    out = render_media(parse_media(text))
    for tag in ("#EXT-X-ORIGIN-BUILD:", "#EXT-X-FOO:", "#EXT-X-BAR-AFTER-LAST", "# generated by origin-x"):
        assert tag in out
    assert "#EXT-X-FOO:" not in _m3u8_roundtrip(text)


def test_z_in_pdt_is_kept() -> None:
    text = golden("time_signal_segmentation.m3u8")
    assert "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z" in render_media(parse_media(text))
    assert "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z" not in _m3u8_roundtrip(text)
