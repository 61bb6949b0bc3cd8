"""Cue detection edge cases beyond the golden files: tag value forms, fallbacks, snapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sidecar.hls import parse_media, snap_to_boundary, to_base64, to_hex
from sidecar.hls.cues import breaks_in_window, cue_out_cont, cue_out_duration, pdt_key
from sidecar.hls.scte35 import Segmentation, encode_splice_insert, encode_time_signal

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def window(blocks: list[str], pdt: bool = True, trailer: str = "") -> str:
    """Four-second segments from MSN 100, one per entry of ``blocks`` (tag lines before it)."""
    head = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:100\n"
    if pdt:
        head += "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z\n"
    body = "".join(f"{b}#EXTINF:4.000,\ns{100 + i}.ts\n" for i, b in enumerate(blocks))
    return head + body + trailer


@pytest.mark.parametrize(
    ("value", "duration"),
    [("30", 30.0), ("30.000", 30.0), ("DURATION=30", 30.0), ("duration=29.97", 29.97),
     ("DURATION=30,ID=\"x\"", 30.0), ("", None), ("soon", None), ("DURATION=long", None), ("nan", None)],
)  # fmt: skip
def test_cue_out_duration_forms(value: str, duration: float | None) -> None:
    assert cue_out_duration(value) == duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("8.308/30", (8.308, 30.0, None)),
        ("ElapsedTime=4.453,Duration=47.000,SCTE35=/DAl+A==", (4.453, 47.0, "/DAl+A==")),
        ("elapsedtime=2,duration=10", (2.0, 10.0, None)),
        ("Duration=10", (None, 10.0, None)),
        ("", (None, None, None)),
    ],
)
def test_cue_out_cont_forms(value: str, expected: tuple[float | None, float | None, str | None]) -> None:
    assert cue_out_cont(value) == expected


def test_pdt_key_rounds_to_the_millisecond_in_utc() -> None:
    assert pdt_key(T0 + timedelta(microseconds=999_600)) == "pdt:2024-05-01T10:00:01.000Z"
    assert pdt_key(T0 - timedelta(microseconds=1)) == "pdt:2024-05-01T10:00:00.000Z"


def test_event_id_fallbacks_without_pdt() -> None:
    pl = parse_media(window(["", "#EXT-X-CUE-OUT-CONT:4/8\n", "#EXT-X-CUE-IN\n", "#EXT-X-CUE-OUT\n"], pdt=False))
    assert [(c.kind, c.msn, c.pdt, c.event_id) for c in pl.cues] == [
        ("cont", 101, None, None),  # nothing to derive a stable id from
        ("in", 102, None, "msn:102"),  # no open break id to inherit: its own splice point
        ("out", 103, None, "msn:103"),
    ]


def test_cue_in_without_an_open_break_uses_its_own_splice_point() -> None:
    pl = parse_media(window(["", "#EXT-X-CUE-IN\n"]))
    assert pl.cues[0].event_id == "pdt:2024-05-01T10:00:04.000Z"


def test_cue_out_takes_its_id_from_a_payload_in_the_same_block() -> None:
    out = to_base64(encode_splice_insert(77, out=True, duration=8.0))
    back = to_base64(encode_splice_insert(77, out=False))
    blocks = ["", f"#EXT-X-CUE-OUT\n#EXT-X-SPLICEPOINT-SCTE35:{out}\n", ""]
    blocks.append(f"#EXT-X-CUE-IN\n#EXT-OATCLS-SCTE35:{back}\n")
    pl = parse_media(window(blocks))
    assert [(c.kind, c.dialect, c.event_id, c.duration) for c in pl.cues] == [
        ("out", "cue-out", "splice:77", 8.0),  # bare CUE-OUT gets the payload's duration too
        ("out", "splicepoint", "splice:77", 8.0),
        ("in", "cue-out", "splice:77", None),
        ("in", "oatcls", "splice:77", None),
    ]


def test_back_to_back_cue_in_does_not_steal_the_next_breaks_payload() -> None:
    nxt = to_base64(encode_splice_insert(2, out=True, duration=4.0))
    pl = parse_media(window(["#EXT-X-CUE-OUT:4\n", f"#EXT-X-CUE-IN\n#EXT-OATCLS-SCTE35:{nxt}\n#EXT-X-CUE-OUT:4\n"]))
    assert [(c.kind, c.msn, c.event_id) for c in pl.cues] == [
        ("out", 100, "pdt:2024-05-01T10:00:00.000Z"),
        ("in", 101, "pdt:2024-05-01T10:00:00.000Z"),
        ("out", 101, "splice:2"),
        ("out", 101, "splice:2"),
    ]


def test_scte35_tag_without_cue_out_attribute_follows_the_payload() -> None:
    ts = to_base64(encode_time_signal(1.0, [Segmentation(5, 0x30, 90000 * 15)]))
    pl = parse_media(window([f'#EXT-X-SCTE35:CUE="{ts}",ID="ad-5"\n', '#EXT-X-SCTE35:CUE-IN=YES,ID="ad-5"\n']))
    assert [(c.kind, c.event_id, c.duration, c.segmentation_type) for c in pl.cues] == [
        ("out", "seg:5", 15.0, 0x30),
        ("in", "id:ad-5", None, None),
    ]


def test_daterange_fallbacks() -> None:
    bad = '#EXT-X-DATERANGE:ID="x1",START-DATE="2024-05-01T10:00:04.000Z",SCTE35-OUT=0xFC00\n'
    no_date = '#EXT-X-DATERANGE:ID="x2",SCTE35-CMD=' + to_hex(encode_splice_insert(3, out=True)) + "\n"
    interstitial = '#EXT-X-DATERANGE:ID="i",CLASS="com.apple.hls.interstitial",START-DATE="2024-05-01T10:00:00Z"\n'
    pl = parse_media(window([interstitial, bad, no_date]))
    assert [(c.kind, c.msn, c.event_id, c.valid, c.msn_exact) for c in pl.cues] == [
        ("out", 101, "id:x1", False, True),  # the attribute says OUT even if the payload is junk
        ("out", 102, "splice:3", True, True),  # no START-DATE: the tag's position is the splice point
    ]
    assert pl.cues[1].pdt == T0 + timedelta(seconds=8)


def test_daterange_without_playlist_pdt_cannot_be_placed() -> None:
    tag = '#EXT-X-DATERANGE:ID="x",START-DATE="2024-05-01T10:00:04Z",SCTE35-OUT=' + to_hex(
        encode_splice_insert(9, out=True, duration=30.0)
    )
    pl = parse_media(window(["", tag + "\n", ""], pdt=False))
    (cue,) = pl.cues
    assert (cue.msn, cue.msn_exact, cue.pdt) == (101, False, T0 + timedelta(seconds=4))


def test_snap_to_boundary() -> None:
    pl = parse_media(window(["", "", ""]))
    assert snap_to_boundary(pl, T0) == 100
    assert snap_to_boundary(pl, T0 + timedelta(seconds=5.9)) == 101
    assert snap_to_boundary(pl, T0 + timedelta(seconds=6.1)) == 102
    assert snap_to_boundary(pl, T0 + timedelta(seconds=12)) == 103  # the live edge boundary
    assert snap_to_boundary(pl, T0 + timedelta(seconds=14.5)) is None
    assert snap_to_boundary(pl, T0 - timedelta(seconds=2.5)) is None
    assert snap_to_boundary(pl, T0 + timedelta(seconds=4.3), tolerance=0.25) is None
    assert snap_to_boundary(pl, T0 + timedelta(seconds=4.2), tolerance=0.25) == 101
    six_digits = datetime.fromisoformat("2024-05-01T10:00:08.000000+00:00")
    assert snap_to_boundary(pl, six_digits) == 102


def test_payloads_in_playlists_never_print(capsys: pytest.CaptureFixture[str]) -> None:
    junk = ["#EXT-OATCLS-SCTE35:%%%\n", "#EXT-X-SPLICEPOINT-SCTE35:/DA=\n", '#EXT-X-SCTE35:CUE="AAAA"\n',
            "#EXT-X-CUE-OUT-CONT:ElapsedTime=1,Duration=2,SCTE35=/DAlAAAA\n",
            '#EXT-X-DATERANGE:ID="d",START-DATE="bad",SCTE35-IN=0x\n']  # fmt: skip
    pl = parse_media(window(junk))
    assert len(pl.cues) == 5
    assert not any(c.valid for c in pl.cues)
    assert [c.kind for c in pl.cues] == ["other", "other", "other", "cont", "in"]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# --- breaks under way: what a channel first played mid-break sees ------------------------------
def _window(tags: dict[int, list[str]], trailer: list[str] | None = None, first: int = 10, n: int = 6) -> str:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:6", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for msn in range(first, first + n):
        lines += tags.get(msn, [])
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{(TJ + timedelta(seconds=6 * msn)).isoformat()}",
            "#EXTINF:6.000,",
            f"{msn}.ts",
        ]
    return "\n".join(lines + (trailer or [])) + "\n"


TJ = datetime(2026, 1, 1, tzinfo=UTC)
_OUT7 = to_base64(encode_splice_insert(7, out=True, pts=1.0, duration=60.0))


@pytest.mark.parametrize(
    ("cont", "event"),
    [
        ("#EXT-X-CUE-OUT-CONT:ElapsedTime=12.000,Duration=60.000", "pdt:"),
        ("#EXT-X-CUE-OUT-CONT:12/60", "pdt:"),
        (f"#EXT-X-CUE-OUT-CONT:ElapsedTime=12,Duration=60,SCTE35={_OUT7}", "splice:7"),
    ],
)
def test_a_break_joined_after_its_cue_out_slid_out_is_recognised(cont: str, event: str) -> None:
    """Only continuation lines are left (Elemental long and short form, OATCLS continuation): the
    break started at the first CONT's PDT minus its elapsed time, lasts its Duration."""
    first_elapsed = 12
    tags = {msn: [cont.replace("12", str(first_elapsed + 6 * (msn - 10)), 1)] for msn in range(10, 16)}
    (signal,) = breaks_in_window(parse_media(_window(tags)))
    assert signal.start == TJ + timedelta(seconds=6 * 10 - 12) and signal.duration == 60.0
    assert not signal.out_seen and signal.end is None and signal.event_id.startswith(event)


def test_a_daterange_behind_the_window_and_its_return() -> None:
    out = '#EXT-X-DATERANGE:ID="x",START-DATE="2026-01-01T00:00:48.000Z",PLANNED-DURATION=30,SCTE35-OUT=0xFC30'
    back = (
        '#EXT-X-DATERANGE:ID="x",START-DATE="2026-01-01T00:00:48.000Z",'
        'END-DATE="2026-01-01T00:01:18.000Z",SCTE35-IN=0xFC30'
    )
    (signal,) = breaks_in_window(parse_media(_window({10: [out]})))
    assert signal.start == TJ + timedelta(seconds=48) and signal.duration == 30.0 and signal.end is None
    (signal,) = breaks_in_window(parse_media(_window({10: [out], 13: [back]})))
    assert signal.end == TJ + timedelta(seconds=78)


def test_cue_out_and_cue_in_in_the_window_give_one_break_with_its_end() -> None:
    text = _window({11: ["#EXT-X-CUE-OUT:12"], 12: ["#EXT-X-CUE-OUT-CONT:6/12"], 13: ["#EXT-X-CUE-IN"]})
    (signal,) = breaks_in_window(parse_media(text))
    assert signal.out_seen and signal.start == TJ + timedelta(seconds=66) and signal.end == TJ + timedelta(seconds=78)
