"""Text to ``MediaPlaylist`` / ``MasterPlaylist``: lossless, strict where it matters, fast.

Why not ``m3u8.loads``: it loses tags (a trailing ``CUE-IN``, ``CUE=`` on DATERANGE, unknown
tags, a DATERANGE after the last segment), leaks cue state between segments, rewrites PDT zones,
and costs about 14 us per segment. This parser interprets only what the service needs and keeps
every other line verbatim, in order:

* Header: EXTM3U, VERSION, TARGETDURATION, MEDIA-SEQUENCE and DISCONTINUITY-SEQUENCE become
  fields. The playlist-level tags in ``PLAYLIST_TAGS`` (PLAYLIST-TYPE, INDEPENDENT-SEGMENTS, START,
  SERVER-CONTROL, ...) go to ``header_tags`` wherever they appear. Unknown tags and comments that
  come before the first segment-level line also go to ``header_tags``.
* Segments: EXTINF, EXT-X-PROGRAM-DATE-TIME and EXT-X-DISCONTINUITY become fields. Every other
  line before the URI (KEY, MAP, BYTERANGE, DATERANGE, cue tags, unknown ``#EXT`` tags, and
  ``#`` comments, which are kept) goes to ``Segment.tags``.
* Trailer: lines after the last URI (a live-edge CUE-IN, a future DATERANGE, LL-HLS hints) go to
  ``trailer_tags``. EXT-X-ENDLIST sets ``endlist``.
* One ambiguity is resolved by position: an unknown tag or comment before the first
  segment-level line (EXTINF, PDT, DISCONTINUITY, KEY, MAP, DATERANGE, cue tags ...) is a header
  tag. A playlist whose first segment's tags start with an unknown tag therefore reads back with
  that tag in ``header_tags``, where it is rendered in the same place.
* Normalised away: blank lines, surrounding whitespace, CR/LF style and a UTF-8 BOM. Everything
  else round-trips byte for byte through ``write.render_media`` (see ``SegmentSource`` and
  ``HeaderSource`` in model.py).

PDTs are parsed with ``datetime.fromisoformat``, which accepts ``Z``, ``+00:00``, ``+0000``,
any number of fraction digits (beyond 6 they are truncated), and a space instead of ``T``. They
are then converted to UTC. A PDT without a zone is taken as UTC rather than rejected. PDTs are
never compared as text.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sidecar.hls.attributes import parse_attributes, parse_pdt
from sidecar.hls.cues import detect_cues
from sidecar.hls.model import (
    HeaderSource,
    MasterPlaylist,
    MediaPlaylist,
    Segment,
    SegmentSource,
    Variant,
)

MAX_CHARS = 16 * 1024 * 1024
MAX_LINES = 400_000

# Playlist-level tags (RFC 8216 sections 4.3.3 and 4.3.5, and the LL-HLS and bis additions).
# They are kept in ``header_tags`` wherever the origin put them.
PLAYLIST_TAGS = frozenset(
    {
        "#EXT-X-PLAYLIST-TYPE",
        "#EXT-X-I-FRAMES-ONLY",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START",
        "#EXT-X-ALLOW-CACHE",
        "#EXT-X-SERVER-CONTROL",
        "#EXT-X-PART-INF",
        "#EXT-X-DEFINE",
    }
)
# Tags that belong to the next segment and therefore end the header region. Unknown tags that
# come before them stay in the header; unknown tags after them belong to a segment.
SEGMENT_TAGS = frozenset(
    {
        "#EXTINF",
        "#EXT-X-PROGRAM-DATE-TIME",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-KEY",
        "#EXT-X-MAP",
        "#EXT-X-BYTERANGE",
        "#EXT-X-DATERANGE",
        "#EXT-X-GAP",
        "#EXT-X-BITRATE",
        "#EXT-X-PART",
        "#EXT-X-PRELOAD-HINT",
        "#EXT-X-SKIP",
        "#EXT-X-CUE-OUT",
        "#EXT-X-CUE-OUT-CONT",
        "#EXT-X-CUE-IN",
        "#EXT-X-CUE-SPAN",
        "#EXT-X-CUE",
        "#EXT-OATCLS-SCTE35",
        "#EXT-X-SCTE35",
        "#EXT-X-SPLICEPOINT-SCTE35",
        "#EXT-X-ASSET",
        "#EXT-X-PLACEMENT-OPPORTUNITY",
    }
)
MASTER_TAGS = frozenset({"#EXT-X-STREAM-INF", "#EXT-X-I-FRAME-STREAM-INF", "#EXT-X-MEDIA", "#EXT-X-SESSION-DATA"})


# Lines that belong to the segment whose URI follows: a playlist that ends with one of them was cut
# in the middle of a segment block.
_BLOCK_TAGS = frozenset(
    {
        "#EXTINF",
        "#EXT-X-PROGRAM-DATE-TIME",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-KEY",
        "#EXT-X-MAP",
        "#EXT-X-BYTERANGE",
        "#EXT-X-GAP",
        "#EXT-X-BITRATE",
    }
)


def cut_to_complete(text: str) -> tuple[str, bool]:
    """A live media playlist cut back to its last complete segment, and whether it had to be.

    Origins whose writer is interrupted (or a proxy that drops the connection at a chunk
    boundary with a matching length) serve a 200 that ends mid-line: a segment URI without its
    extension (``.../800k/12``, a 404), an ``EXT-X-DATERANGE`` with an unterminated attribute.
    RFC 8216 ends every line with a line feed, so a last line without one is incomplete and is
    dropped; so are the tags of a segment whose URI never arrived (EXTINF, PDT, DISCONTINUITY,
    KEY ...). Tags that stand after the last segment on their own (a live-edge CUE-IN, a
    DATERANGE announced ahead, ENDLIST) are kept. Everything before is untouched, so the result
    is exactly a shorter window of the same playlist. A complete playlist is returned as is.
    """
    if not text:
        return text, False
    cut = False
    if not text.endswith("\n"):
        head, _, last = text.rpartition("\n")
        if last.strip() == "#EXT-X-ENDLIST":
            return text + "\n", False
        text, cut = (head + "\n" if head else ""), True
    lines = text.splitlines(keepends=True)
    end = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i].strip()
        if line and not line.startswith("#"):
            break  # the last complete segment's URI
        if line.partition(":")[0] in _BLOCK_TAGS:
            end = i  # a partial segment block starts at or before here
    if end < len(lines):
        return "".join(lines[:end]), True
    return text, cut


class PlaylistError(ValueError):
    """A playlist the service cannot use. ``reason`` is short and machine-readable (metric label).

    Reasons: ``not-hls``, ``too-large``, ``media-expected``, ``master-expected``,
    ``no-target-duration``, ``bad-header``, ``bad-extinf``, ``bad-pdt``, ``no-segments``,
    ``no-variants``, ``bad-stream-inf``.
    """

    def __init__(self, reason: str, detail: str = "", line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{reason}: {detail}{where}" if detail else f"{reason}{where}")
        self.reason = reason
        self.detail = detail
        self.line = line


def _split_lines(text: str, max_chars: int, max_lines: int) -> list[str]:
    if len(text) > max_chars:
        raise PlaylistError("too-large", f"{len(text)} characters > {max_chars}")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if len(lines) > max_lines:
        raise PlaylistError("too-large", f"{len(lines)} lines > {max_lines}")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first == len(lines) or lines[first].strip() != "#EXTM3U":
        raise PlaylistError("not-hls", "first line is not #EXTM3U", first + 1)
    return lines[first + 1 :]


def _int_value(tag: str, value: str, lineno: int) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise PlaylistError("bad-header", f"{tag}:{value}", lineno) from None
    if n < 0:
        raise PlaylistError("bad-header", f"{tag}:{value}", lineno)
    return n


def _target_duration(value: str, lineno: int) -> int:
    """RFC 8216 wants a decimal-integer. Some origins write ``6.000``: it is rounded up."""
    try:
        f = float(value.strip())
    except ValueError:
        raise PlaylistError("no-target-duration", f"EXT-X-TARGETDURATION:{value}", lineno) from None
    if not math.isfinite(f) or f <= 0:
        raise PlaylistError("no-target-duration", f"EXT-X-TARGETDURATION:{value}", lineno)
    return math.ceil(f)


def _extinf(value: str, lineno: int) -> tuple[float, str]:
    dur_text, _, title = value.partition(",")
    try:
        duration = float(dur_text)
    except ValueError:
        raise PlaylistError("bad-extinf", f"EXTINF:{value}", lineno) from None
    if not math.isfinite(duration) or duration < 0:
        raise PlaylistError("bad-extinf", f"EXTINF:{value}", lineno)
    return duration, title


# ---------------------------------------------------------------------------------------------
# Media playlists
# ---------------------------------------------------------------------------------------------


class _Block:
    """The lines collected for the segment being read, until its URI arrives."""

    __slots__ = ("disc", "duration", "extinf_line", "layout", "lines", "pdt", "pdt_line", "tags", "title")

    def __init__(self) -> None:
        self.layout: list[str] = []
        self.tags: list[str] = []
        self.lines: list[str] = []  # every line in order, for a block that ends up in the trailer
        self.disc = False
        self.pdt: datetime | None = None
        self.pdt_line = ""
        self.extinf_line = ""
        self.duration = -1.0
        self.title = ""

    def empty(self) -> bool:
        return not self.lines


def parse_media(text: str, *, max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES) -> MediaPlaylist:
    """Parse a media playlist. Raises ``PlaylistError``; never returns a partial result."""
    lines = _split_lines(text, max_chars, max_lines)

    version: int | None = None
    target: int | None = None
    media_sequence = 0
    dsn = 0
    dsn_explicit = False
    endlist = False
    header_tags: list[str] = []
    header_layout: list[tuple[str, str]] = []
    header_ok = True
    in_header = True
    blocks: list[tuple[_Block, str]] = []
    block = _Block()

    for idx, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if line[0] != "#":
            if block.extinf_line == "":
                raise PlaylistError("bad-extinf", "URI without EXTINF", idx + 2)
            blocks.append((block, line))
            block = _Block()
            in_header = False
            continue
        tag, _, value = line.partition(":")
        if tag == "#EXTINF":
            if block.extinf_line:
                raise PlaylistError("bad-extinf", "two EXTINF for one segment", idx + 2)
            block.duration, block.title = _extinf(value, idx + 2)
            block.extinf_line = line
            block.layout.append("I")
            block.lines.append(line)
            in_header = False
        elif tag == "#EXT-X-PROGRAM-DATE-TIME" and not block.pdt_line:
            try:
                block.pdt = parse_pdt(value)
            except ValueError:
                raise PlaylistError("bad-pdt", line, idx + 2) from None
            block.pdt_line = line
            block.layout.append("P")
            block.lines.append(line)
            in_header = False
        elif tag == "#EXT-X-DISCONTINUITY" and not value and not block.disc:
            block.disc = True
            block.layout.append("D")
            block.lines.append(line)
            in_header = False
        elif tag == "#EXT-X-ENDLIST":
            endlist = True
        elif tag == "#EXT-X-TARGETDURATION":
            target = _target_duration(value, idx + 2)
            header_layout.append(("T", line))
            header_ok = header_ok and in_header
        elif tag == "#EXT-X-MEDIA-SEQUENCE":
            media_sequence = _int_value(tag, value, idx + 2)
            header_layout.append(("M", line))
            header_ok = header_ok and in_header
        elif tag == "#EXT-X-DISCONTINUITY-SEQUENCE":
            dsn = _int_value(tag, value, idx + 2)
            dsn_explicit = True
            header_layout.append(("D", line))
            header_ok = header_ok and in_header
        elif tag == "#EXT-X-VERSION":
            version = _int_value(tag, value, idx + 2)
            header_layout.append(("V", line))
            header_ok = header_ok and in_header
        elif tag in MASTER_TAGS:
            raise PlaylistError("media-expected", f"{tag} in a media playlist", idx + 2)
        elif tag in PLAYLIST_TAGS or (in_header and tag not in SEGMENT_TAGS):
            header_tags.append(line)
            header_layout.append(("t", ""))
            header_ok = header_ok and in_header
        else:
            block.tags.append(line)
            block.layout.append("t")
            block.lines.append(line)
            in_header = False

    if block.extinf_line:
        raise PlaylistError("bad-extinf", "EXTINF without URI at the end")
    if target is None:
        raise PlaylistError("no-target-duration")
    if not blocks:
        raise PlaylistError("no-segments")

    segments: list[Segment] = []
    prev: Segment | None = None
    for i, (b, uri) in enumerate(blocks):
        if b.pdt is not None:
            pdt: datetime | None = b.pdt
        elif b.disc or prev is None or prev.pdt is None:
            pdt = None
        else:
            pdt = prev.pdt + timedelta(seconds=prev.duration)
        tags = tuple(b.tags)
        seg = Segment(
            msn=media_sequence + i,
            uri=uri,
            duration=b.duration,
            title=b.title,
            pdt=pdt,
            pdt_explicit=b.pdt is not None,
            discontinuity=b.disc,
            tags=tags,
            source=SegmentSource("".join(b.layout), tags, b.extinf_line, b.duration, b.title, b.pdt_line, b.pdt),
        )
        segments.append(seg)
        prev = seg

    header = tuple(header_tags)
    trailer = tuple(block.lines)
    seg_tuple = tuple(segments)
    return MediaPlaylist(
        target_duration=target,
        media_sequence=media_sequence,
        discontinuity_sequence=dsn,
        version=version,
        segments=seg_tuple,
        header_tags=header,
        trailer_tags=trailer,
        cues=detect_cues(seg_tuple, trailer, media_sequence + len(seg_tuple), target),
        endlist=endlist,
        dsn_explicit=dsn_explicit,
        source=(
            HeaderSource(tuple(header_layout), header, version, target, media_sequence, dsn) if header_ok else None
        ),
    )


# ---------------------------------------------------------------------------------------------
# Master playlists
# ---------------------------------------------------------------------------------------------


def parse_master(text: str, *, max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES) -> MasterPlaylist:
    """Parse a master (multivariant) playlist. ``lines`` keeps it verbatim for ``rewrite_master``."""
    body = _split_lines(text, max_chars, max_lines)
    variants: list[Variant] = []
    pending: tuple[dict[str, str], int] | None = None
    for idx, raw in enumerate(body):
        line = raw.strip()
        if not line:
            continue
        if line[0] != "#":
            if pending is None:
                raise PlaylistError("bad-stream-inf", "URI without EXT-X-STREAM-INF", idx + 2)
            attrs, _ = pending
            try:
                bandwidth = int(attrs["BANDWIDTH"])
            except (KeyError, ValueError):
                raise PlaylistError("bad-stream-inf", "BANDWIDTH missing or not an integer", idx + 2) from None
            variants.append(Variant(uri=line, bandwidth=bandwidth, attributes=attrs))
            pending = None
            continue
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-STREAM-INF":
            pending = (parse_attributes(value), idx + 2)
        elif tag in ("#EXTINF", "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE"):
            raise PlaylistError("master-expected", f"{tag} in a master playlist", idx + 2)
    if pending is not None:
        raise PlaylistError("bad-stream-inf", "EXT-X-STREAM-INF without URI", pending[1])
    if not variants:
        raise PlaylistError("no-variants")
    if text.startswith("\ufeff"):
        text = text[1:]
    return MasterPlaylist(variants=tuple(variants), lines=tuple(text.splitlines()))
