"""The writer: canonical forms, edits on parsed playlists, and master URI rewriting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sidecar.hls import (
    MediaPlaylist,
    Segment,
    format_duration,
    format_pdt,
    parse_master,
    parse_media,
    render_media,
    rewrite_master,
)
from tests.hls.helpers import golden


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC), "2024-05-01T10:00:00.000Z"),
        (datetime(2024, 5, 1, 10, 0, 0, 240000, tzinfo=UTC), "2024-05-01T10:00:00.240Z"),
        (datetime(2024, 5, 1, 10, 0, 0, 240001, tzinfo=UTC), "2024-05-01T10:00:00.240001Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T10:00:00.005Z"),
        (datetime(2024, 5, 1, 10, 0, 0), "2024-05-01T10:00:00.000Z"),  # naive: UTC
    ],
)
def test_format_pdt(dt: datetime, text: str) -> None:
    assert format_pdt(dt) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (6.006, "6.006"),
        (10.0, "10.000"),
        (4, "4.000"),
        (0.5, "0.500"),
        (3.066667, "3.066667"),
        (2.0000001, "2.0000001"),
        (1e-07, "0.0000001"),
        (1.2345678901234e-05, "0.000012345678901234"),
        (12345678.25, "12345678.250"),
    ],
)
def test_format_duration_is_exact(value: float, text: str) -> None:
    assert format_duration(value) == text
    assert float(text) == value


def _seg(msn: int, **kw: object) -> Segment:
    return Segment(msn=msn, uri=f"s{msn}.ts", duration=4.0, **kw)  # type: ignore[arg-type]


def test_canonical_layout_of_a_built_playlist() -> None:
    t0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    pl = MediaPlaylist(
        target_duration=4,
        media_sequence=7,
        discontinuity_sequence=2,
        version=6,
        segments=(
            _seg(7, pdt=t0, pdt_explicit=True),
            _seg(8, pdt=t0 + timedelta(seconds=4)),  # not explicit: no PDT line
            _seg(9, pdt=t0 + timedelta(seconds=8), pdt_explicit=True, discontinuity=True,
                 tags=("#EXT-X-KEY:METHOD=NONE",), title="ad"),
        ),
        header_tags=("#EXT-X-INDEPENDENT-SEGMENTS",),
        trailer_tags=("#EXT-X-CUE-IN",),
        endlist=True,
    )
    assert render_media(pl) == (
        "#EXTM3U\n"
        "#EXT-X-VERSION:6\n"
        "#EXT-X-TARGETDURATION:4\n"
        "#EXT-X-MEDIA-SEQUENCE:7\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:2\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:00.000Z\n"
        "#EXTINF:4.000,\n"
        "s7.ts\n"
        "#EXTINF:4.000,\n"
        "s8.ts\n"
        "#EXT-X-DISCONTINUITY\n"
        "#EXT-X-KEY:METHOD=NONE\n"
        "#EXT-X-PROGRAM-DATE-TIME:2024-05-01T10:00:08.000Z\n"
        "#EXTINF:4.000,ad\n"
        "s9.ts\n"
        "#EXT-X-CUE-IN\n"
        "#EXT-X-ENDLIST\n"
    )


def test_discontinuity_sequence_written_when_nonzero_or_explicit() -> None:
    base = MediaPlaylist(target_duration=4, media_sequence=0, segments=(_seg(0),))
    assert "DISCONTINUITY-SEQUENCE" not in render_media(base)
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:0\n" in render_media(replace(base, dsn_explicit=True))
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:3\n" in render_media(replace(base, discontinuity_sequence=3))
    assert "VERSION" not in render_media(base)
    assert "#EXT-X-MEDIA-SEQUENCE:0\n" in render_media(base)


FFMPEG = golden("ffmpeg_fmp4_map.m3u8")


def test_edited_uri_keeps_the_origin_layout() -> None:
    pl = parse_media(FFMPEG)
    edited = replace(pl, segments=tuple(replace(s, uri="https://o.example/" + s.uri) for s in pl.segments))
    out = render_media(edited)
    assert out == FFMPEG.replace("\nseg_", "\nhttps://o.example/seg_")


def test_edited_pdt_is_written_canonically_in_place() -> None:
    pl = parse_media(FFMPEG)
    first = pl.segments[0]
    assert first.pdt is not None
    moved = replace(first, pdt=first.pdt + timedelta(milliseconds=1))
    out = render_media(replace(pl, segments=(moved, *pl.segments[1:])))
    assert "#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-11-25T14:00:33.524Z\nseg_002.m4s\n" in out
    # untouched segments keep the origin's text
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-11-25T14:00:35.523+0000\n" in out


def test_edited_duration_is_written_canonically_in_place() -> None:
    pl = parse_media(FFMPEG)
    shorter = replace(pl.segments[1], duration=1.5)
    out = render_media(replace(pl, segments=(pl.segments[0], shorter, *pl.segments[2:])))
    assert "\n#EXTINF:1.500,\n#EXT-X-PROGRAM-DATE-TIME:2026-11-25T14:00:35.523+0000\nseg_003.m4s\n" in out


def test_edited_tags_or_flags_fall_back_to_canonical_order() -> None:
    pl = parse_media(FFMPEG)
    s0 = pl.segments[0]
    more = replace(s0, tags=(*s0.tags, "#EXT-X-CUE-OUT:30"))
    out = render_media(replace(pl, segments=(more,)))
    assert out.endswith(
        '#EXT-X-MAP:URI="init.mp4"\n#EXT-X-CUE-OUT:30\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-25T14:00:33.523Z\n#EXTINF:2.000,\nseg_002.m4s\n"
    )
    disc = replace(s0, discontinuity=True)
    out = render_media(replace(pl, segments=(disc,)))
    assert '#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="init.mp4"\n' in out
    hidden = replace(s0, pdt_explicit=False)
    assert "PROGRAM-DATE-TIME" not in render_media(replace(pl, segments=(hidden,)))


def test_renumbered_header_keeps_the_origin_order() -> None:
    text = (
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:4\n#EXT-X-VERSION:6\n"
        "#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:4.000,\na.ts\n"
    )
    pl = parse_media(text)
    assert render_media(pl) == text
    out = render_media(replace(pl, media_sequence=11, target_duration=8))
    assert out.startswith(
        "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:8\n#EXT-X-VERSION:6\n#EXT-X-MEDIA-SEQUENCE:11\n"
    )
    # a DSN the origin did not have changes the set of header lines: canonical order
    out = render_media(replace(pl, discontinuity_sequence=1))
    assert out.startswith(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:10\n"
        "#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    )


def test_endlist_is_last() -> None:
    pl = parse_media(golden("unknown_tags.m3u8"))
    out = render_media(pl)
    assert out.endswith("#EXT-X-BAR-AFTER-LAST\n#EXT-X-ENDLIST\n")
    assert "#EXT-X-ENDLIST" not in render_media(replace(pl, endlist=False))


# -- Master rewriting --------------------------------------------------------------------------

MASTER = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
# origin build 17

#EXT-X-CONTENT-STEERING:SERVER-URI="/steer.json",PATHWAY-ID="CDN-A"
#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://key-1",KEYFORMAT="com.apple.streamingkeydelivery"
#EXT-X-SESSION-DATA:DATA-ID="com.example.lyrics",URI="lyrics.json"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",NAME="English",DEFAULT=YES,URI="audio/en.m3u8"
#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1"
#EXT-X-STREAM-INF:BANDWIDTH=3440800,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aac"
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aac"
360p/index.m3u8?token=a,b
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="720p/iframes.m3u8",CODECS="avc1.64001f"
#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=16000,RESOLUTION=320x180,URI="thumbs.m3u8"
#EXT-X-FUTURE-THING:URI="future.bin",X=1
"""


def test_rewrite_master_maps_every_uri_and_keeps_every_other_byte() -> None:
    seen: list[tuple[str, str]] = []

    def mapper(kind: str, uri: str) -> str:
        seen.append((kind, uri))
        return f"/s/{kind}/{uri}"

    out = rewrite_master(parse_master(MASTER), mapper)
    assert seen == [
        ("session-key", "skd://key-1"),
        ("session-data", "lyrics.json"),
        ("media", "audio/en.m3u8"),
        ("variant", "720p/index.m3u8"),
        ("variant", "360p/index.m3u8?token=a,b"),
        ("iframe", "720p/iframes.m3u8"),
        ("image", "thumbs.m3u8"),
        ("future-thing", "future.bin"),
    ]
    expected = MASTER
    for kind, uri in seen:
        if kind == "variant":
            expected = expected.replace(f"\n{uri}\n", f"\n/s/{kind}/{uri}\n")
        else:
            expected = expected.replace(f'URI="{uri}"', f'URI="/s/{kind}/{uri}"')
    assert out == expected
    assert 'SERVER-URI="/steer.json"' in out  # not a URI attribute of its own


def test_identity_rewrite_is_byte_exact() -> None:
    assert rewrite_master(parse_master(MASTER), lambda _k, u: u) == MASTER


def test_rewrite_master_rejects_unwritable_uris() -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        rewrite_master(parse_master(MASTER), lambda _k, u: u + '"')
    with pytest.raises(ValueError, match="cannot be written"):
        rewrite_master(parse_master(MASTER), lambda k, u: u + ("\n#EXT-X-EVIL" if k == "variant" else ""))
