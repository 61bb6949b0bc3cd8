"""Parser behaviour: errors with reasons, PDT semantics, where lines go, master playlists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sidecar.hls import PlaylistError, parse_attributes, parse_master, parse_media, parse_pdt, render_media
from sidecar.hls.parse import cut_to_complete

HEAD = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:10\n"
MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2665726,AVERAGE-BANDWIDTH=2526299,RESOLUTION=960x540,FRAME-RATE=29.970,CODECS="avc1.640029,mp4a.40.2",SUBTITLES="subtitles"
index_1.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=995315,AVERAGE-BANDWIDTH=951107,RESOLUTION=640x360,FRAME-RATE=29.970,CODECS="avc1.4D401E,mp4a.40.2",SUBTITLES="subtitles"
index_3.m3u8
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subtitles",NAME="caption_1",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,LANGUAGE="eng",URI="index_4_0.m3u8"
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not-hls"),
        ("<html>502 Bad Gateway</html>", "not-hls"),
        ("\n\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n", "not-hls"),
        ("#EXTM3U\n#EXTINF:4,\na.ts\n", "no-target-duration"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:four\n#EXTINF:4,\na.ts\n", "no-target-duration"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:0\n#EXTINF:4,\na.ts\n", "no-target-duration"),
        (HEAD + "#EXTINF:abc,\na.ts\n", "bad-extinf"),
        (HEAD + "#EXTINF:-1,\na.ts\n", "bad-extinf"),
        (HEAD + "#EXTINF:nan,\na.ts\n", "bad-extinf"),
        (HEAD + "#EXTINF:inf,\na.ts\n", "bad-extinf"),
        (HEAD + "a.ts\n", "bad-extinf"),
        (HEAD + "#EXTINF:4,\n#EXTINF:4,\na.ts\n", "bad-extinf"),
        (HEAD + "#EXTINF:4,\na.ts\n#EXTINF:4,\n", "bad-extinf"),
        (HEAD + "#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:4,\na.ts\n", "bad-pdt"),
        (HEAD + "#EXT-X-PROGRAM-DATE-TIME:2024-05-01\n#EXTINF:4,\na.ts\n", "bad-pdt"),
        (HEAD + "#EXT-X-PROGRAM-DATE-TIME:2024-13-01T00:00:00Z\n#EXTINF:4,\na.ts\n", "bad-pdt"),
        (HEAD, "no-segments"),
        (HEAD + "#EXT-X-ENDLIST\n", "no-segments"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:-1\n#EXTINF:4,\na.ts\n", "bad-header"),
        ("#EXTM3U\n#EXT-X-VERSION:x\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n", "bad-header"),
        (MASTER, "media-expected"),
    ],
)
def test_media_garbage_raises_with_reason(text: str, reason: str) -> None:
    with pytest.raises(PlaylistError) as err:
        parse_media(text)
    assert err.value.reason == reason
    assert isinstance(err.value, ValueError)
    assert reason in str(err.value)


def test_error_carries_the_line_number() -> None:
    with pytest.raises(PlaylistError) as err:
        parse_media(HEAD + "#EXTINF:4,\na.ts\n#EXTINF:x,\nb.ts\n")
    assert err.value.line == 6


def test_size_guards() -> None:
    body = HEAD + "#EXTINF:4,\na.ts\n" * 20
    with pytest.raises(PlaylistError) as err:
        parse_media(body, max_chars=100)
    assert err.value.reason == "too-large"
    with pytest.raises(PlaylistError) as err:
        parse_media(body, max_lines=10)
    assert err.value.reason == "too-large"
    assert len(parse_media(body).segments) == 20
    with pytest.raises(PlaylistError) as err:
        parse_master(MASTER, max_lines=3)
    assert err.value.reason == "too-large"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (HEAD + "#EXTINF:4,\na.ts\n", "master-expected"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n", "bad-stream-inf"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=high\nv.m3u8\n", "bad-stream-inf"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "bad-stream-inf"),
        ("#EXTM3U\nv.m3u8\n", "bad-stream-inf"),
        ("#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n", "no-variants"),
        ("garbage", "not-hls"),
    ],
)
def test_master_garbage_raises_with_reason(text: str, reason: str) -> None:
    with pytest.raises(PlaylistError) as err:
        parse_master(text)
    assert err.value.reason == reason


def test_master_variants() -> None:
    m = parse_master(MASTER)
    assert [v.uri for v in m.variants] == ["index_1.m3u8", "index_3.m3u8"]
    assert [v.bandwidth for v in m.variants] == [2665726, 995315]
    assert m.variants[0].attributes["CODECS"] == "avc1.640029,mp4a.40.2"
    assert list(m.variants[0].attributes)[:3] == ["BANDWIDTH", "AVERAGE-BANDWIDTH", "RESOLUTION"]
    assert "\n".join(m.lines) + "\n" == MASTER


# -- PDT ---------------------------------------------------------------------------------------


def test_pdt_explicit_extrapolated_and_unknown() -> None:
    pl = parse_media(
        HEAD
        + "#EXTINF:4.000,\nbefore.ts\n"  # before the first PDT: unknown
        + "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z\n#EXTINF:4.004,\np0.ts\n"
        + "#EXTINF:3.996,\np1.ts\n"  # extrapolated
        + "#EXTINF:4.000,\np2.ts\n"
        + "#EXT-X-DISCONTINUITY\n#EXTINF:4.000,\nd0.ts\n"  # discontinuity without PDT: unknown
        + "#EXTINF:4.000,\nd1.ts\n"  # still unknown
        + "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:05:00.000Z\n#EXTINF:4.000,\ne0.ts\n"
        + "#EXTINF:4.000,\ne1.ts\n"
    )
    t0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    got = [(s.uri, s.pdt, s.pdt_explicit) for s in pl.segments]
    assert got == [
        ("before.ts", None, False),
        ("p0.ts", t0, True),
        ("p1.ts", t0 + timedelta(seconds=4.004), False),
        ("p2.ts", t0 + timedelta(seconds=8), False),
        ("d0.ts", None, False),
        ("d1.ts", None, False),
        ("e0.ts", t0 + timedelta(minutes=5), True),
        ("e1.ts", t0 + timedelta(minutes=5, seconds=4), False),
    ]
    assert [s.msn for s in pl.segments] == list(range(10, 18))
    assert pl.last_msn == 17


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:00:00.240Z",
        "2024-05-01T10:00:00.240000Z",
        "2024-05-01T10:00:00.240+00:00",
        "2024-05-01T10:00:00.240000+00:00",
        "2024-05-01T10:00:00.240+0000",  # ffmpeg
        "2024-05-01T12:00:00.240+02:00",
        "2024-05-01T05:00:00.240-05:00",
        "2024-05-01T10:00:00.240z",
        "2024-05-01T10:00:00.240",  # no zone: taken as UTC
        "2024-05-01T10:00:00.240000999Z",  # nanoseconds are truncated
        "2024-05-01 10:00:00.24Z",
    ],
)
def test_pdt_spellings_are_the_same_instant(text: str) -> None:
    expected = datetime(2024, 5, 1, 10, 0, 0, 240000, tzinfo=UTC)
    got = parse_pdt(text)
    assert got == expected
    assert got.tzinfo is UTC


def test_pdts_are_compared_as_datetimes_not_strings() -> None:
    three = parse_media(HEAD + "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:54.240Z\n#EXTINF:4,\na.ts\n")
    six = parse_media(HEAD + "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:54.240000Z\n#EXTINF:4,\na.ts\n")
    assert three.segments[0].pdt == six.segments[0].pdt
    assert three == six  # formatting is not part of the model


# -- Where lines go --------------------------------------------------------------------------


def test_header_segment_and_trailer_placement() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n"
        "#EXT-X-X-HEADER-THING:1\n"  # unknown, before any segment-level tag: header
        "# a comment in the header\n"
        "#EXT-X-KEY:METHOD=NONE\n"  # segment-level: belongs to the first segment
        "#EXT-X-MAP:URI=\"init.mp4\"\n"
        "#EXT-X-X-SEGMENT-THING:2\n"  # unknown after a segment-level tag: segment
        "#EXTINF:4.000,\na.m4s\n"
        "#EXT-X-PLAYLIST-TYPE:EVENT\n"  # a playlist tag in the middle: hoisted to the header
        "#EXTINF:4.000,\nb.m4s\n"
        "#EXT-X-DISCONTINUITY\n#EXT-X-CUE-IN\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"c.0.m4s\"\n"
        "#EXT-X-ENDLIST\n"
    )
    pl = parse_media(text)
    assert pl.version == 7
    assert pl.header_tags == ("#EXT-X-X-HEADER-THING:1", "# a comment in the header", "#EXT-X-PLAYLIST-TYPE:EVENT")
    assert pl.segments[0].tags == ('#EXT-X-KEY:METHOD=NONE', '#EXT-X-MAP:URI="init.mp4"', "#EXT-X-X-SEGMENT-THING:2")
    assert pl.segments[1].tags == ()
    # an unfinished block at the end (DISCONTINUITY included) is trailer, verbatim and in order
    assert pl.trailer_tags == ("#EXT-X-DISCONTINUITY", "#EXT-X-CUE-IN", '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="c.0.m4s"')
    assert pl.endlist is True
    # the hoisted tag makes the header non-verbatim: it is written in canonical order
    out = render_media(pl)
    assert out.startswith(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-X-HEADER-THING:1\n"
    )
    assert out.endswith("#EXT-X-CUE-IN\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"c.0.m4s\"\n#EXT-X-ENDLIST\n")
    assert parse_media(out) == pl


def test_normalised_whitespace_bom_and_crlf() -> None:
    text = "\ufeff#EXTM3U \r\n\r\n#EXT-X-TARGETDURATION:4\r\n  #EXT-X-MEDIA-SEQUENCE:3\r\n#EXTINF:4.000,\r\n a.ts \r\n"
    pl = parse_media(text)
    assert pl.segments[0].uri == "a.ts"
    assert render_media(pl) == "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:4.000,\na.ts\n"


def test_header_values() -> None:
    pl = parse_media("#EXTM3U\n#EXT-X-TARGETDURATION:6.006\n#EXTINF:6.006,\na.ts\n")
    assert pl.target_duration == 7  # non-integer target rounded up, never down
    assert pl.media_sequence == 0 and pl.discontinuity_sequence == 0
    assert pl.version is None and pl.dsn_explicit is False
    late_dsn = parse_media(HEAD + "#EXTINF:4,\na.ts\n#EXT-X-DISCONTINUITY-SEQUENCE:5\n#EXTINF:4,\nb.ts\n")
    assert late_dsn.discontinuity_sequence == 5 and late_dsn.dsn_explicit


def test_title_and_extinf_forms() -> None:
    pl = parse_media(HEAD + "#EXTINF:4,title, with comma\na.ts\n#EXTINF:5\nb.ts\n#EXTINF:0.5,\nc.ts\n")
    assert [(s.duration, s.title) for s in pl.segments] == [(4.0, "title, with comma"), (5.0, ""), (0.5, "")]


def test_parse_attributes() -> None:
    attrs = parse_attributes(
        'ID="splice-1",START-DATE="2024-05-01T10:00:00Z",X-LIST="a,b=c",DURATION=30.5,'
        "SCTE35-OUT=0xFC30,RESOLUTION=1280x720,EMPTY=\"\""
    )
    assert attrs == {
        "ID": "splice-1",
        "START-DATE": "2024-05-01T10:00:00Z",
        "X-LIST": "a,b=c",
        "DURATION": "30.5",
        "SCTE35-OUT": "0xFC30",
        "RESOLUTION": "1280x720",
        "EMPTY": "",
    }
    assert next(iter(attrs)) == "ID"
    assert parse_attributes("") == {}


# --- truncated origin playlists -----------------------------------------------------------------
_LIVE = (
    "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.000,\na/10.ts\n"
    '#EXT-X-DATERANGE:ID="d",START-DATE="2026-01-01T00:00:04.000Z",PLANNED-DURATION=8,SCTE35-OUT=0xFC30\n'
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n#EXTINF:2.000,\na/11.ts\n"
    "#EXT-X-CUE-IN\n"
)


def test_a_complete_playlist_is_not_cut() -> None:
    assert cut_to_complete(_LIVE) == (_LIVE, False)


@pytest.mark.parametrize("end", range(len(_LIVE) - 60, len(_LIVE)))
def test_a_playlist_cut_anywhere_is_served_up_to_its_last_complete_segment(end: int) -> None:
    """Cut at every position of its last lines: never a cut URI, never an unterminated attribute,
    never the timing tags (EXTINF, PDT) of a segment whose URI did not arrive; complete tags that
    can stand after the last segment (a live-edge CUE-IN, a DATERANGE announced ahead) are kept."""
    text, cut = cut_to_complete(_LIVE[:end])
    # A cut right after a segment's line end is indistinguishable from a complete playlist.
    assert text.endswith("\n") and _LIVE.startswith(text) and (cut or text == _LIVE[:end])
    pl = parse_media(text)
    assert [s.uri for s in pl.segments] in (["a/10.ts"], ["a/10.ts", "a/11.ts"])
    assert all(t in _LIVE.splitlines() for t in pl.trailer_tags), "only whole lines"
    assert not [t for t in pl.trailer_tags if t.startswith(("#EXTINF", "#EXT-X-PROGRAM-DATE-TIME"))]


def test_a_cut_endlist_and_a_cut_first_segment() -> None:
    vod = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na.ts\n#EXT-X-ENDLIST"
    assert cut_to_complete(vod) == (vod + "\n", False), "a last line without newline that is whole"
    text, cut = cut_to_complete("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\na")
    assert cut and text == "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
    with pytest.raises(PlaylistError, match="no-segments"):
        parse_media(text)
