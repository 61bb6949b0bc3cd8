"""Structured view of HLS playlists, shared by the parser, the splicer and the writer.

Pure data, no I/O. A media playlist is parsed once per origin update into a ``MediaPlaylist``;
every rendition and mode is then rendered from it by the writer. Anything we do not interpret
is kept verbatim (``tags`` on a segment, ``header_tags`` / ``trailer_tags`` on the playlist) so
that pass-through is lossless: the ``m3u8`` package's ``dumps()`` is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sidecar.hls.scte35 import Scte35Info

# "other" marks a signal that is not an ad-break edge: program start/end and the rest of the
# non-break segmentation types, cancellations, splice_null, and payloads that do not decode. Such
# cues are kept so they can be counted; the splicer must ignore them.
CueKind = Literal["out", "in", "cont", "other"]
# "splicepoint" is #EXT-X-SPLICEPOINT-SCTE35 (MediaTailor); "scte35-tag" is #EXT-X-SCTE35 (SCTE 35
# 2022 HLS carriage).
CueDialect = Literal["cue-out", "daterange", "oatcls", "scte35-tag", "splicepoint"]


def rounded_duration(seconds: float) -> int:
    """An EXTINF duration rounded to the nearest integer, halves up: what must not exceed
    EXT-X-TARGETDURATION (RFC 8216 section 4.3.3.1). 6.006 s rounds to 6, so it fits a target of
    6; rounding up instead would demand 7 and make the target change when such segments appear."""
    return math.floor(seconds + 0.5)


@dataclass(frozen=True, slots=True)
class Cue:
    """One ad signal found in a playlist, normalised across tag dialects.

    ``msn`` is the media sequence number of the segment the tag precedes: the splice point.
    A tag after the last segment (normal for ``EXT-X-CUE-IN`` at the live edge) gets
    ``msn = last_msn + 1``. ``pdt`` is the splice point in media time: the DATERANGE
    ``START-DATE`` when given, else the PDT of segment ``msn`` (None when the playlist has no PDT).

    DATERANGE cues: ``pdt`` (``START-DATE``, or ``END-DATE`` / ``START-DATE + DURATION`` for
    ``SCTE35-IN``) is the authority, and ``msn`` is the segment boundary nearest to it when the
    window covers it (``msn_exact``). Otherwise, normally for a ``START-DATE`` ahead of the live
    edge, ``msn`` is the tag's position and ``msn_exact`` is False.

    ``event_id`` is stable across reloads and renditions. It is the first of these that exists:
    ``splice:<splice_event_id>`` or ``seg:<segmentation_event_id>`` from a SCTE-35 payload (the
    tag's own, or for ``CUE-OUT``/``CUE-IN`` one in the same segment block); ``id:<ID>`` for
    DATERANGE and EXT-X-SCTE35; for ``CUE-OUT-CONT``/``CUE-IN``, the id of the break opened
    earlier in the playlist; ``pdt:<splice-point PDT in UTC, ms>`` (for ``CONT``, its PDT minus
    ``ElapsedTime``); ``msn:<msn>`` as a last resort. Several tags that signal the same splice
    point (``EXT-OATCLS-SCTE35`` with ``EXT-X-CUE-OUT``, say) give one cue each with the same
    ``event_id``: consumers dedupe on ``(event_id, kind)``.

    ``scte35`` is the decoded payload when the tag itself carried one, valid or not.
    ``segmentation_type`` is the time_signal descriptor's type id (None for splice_insert).
    """

    kind: CueKind
    dialect: CueDialect
    msn: int
    pdt: datetime | None
    duration: float | None = None
    event_id: str | None = None
    segmentation_type: int | None = None
    elapsed: float | None = None
    raw: str = ""
    scte35: Scte35Info | None = None
    msn_exact: bool = True

    @property
    def valid(self) -> bool:
        """False when the tag carried a SCTE-35 payload that did not decode (a metrics label)."""
        return self.scte35 is None or self.scte35.valid


@dataclass(frozen=True, slots=True)
class SegmentSource:
    """How the origin wrote one segment block, so that pass-through output is byte for byte.

    ``layout`` lists the block's lines in order, without the URI that always ends it: ``D`` for
    EXT-X-DISCONTINUITY, ``P`` for EXT-X-PROGRAM-DATE-TIME, ``I`` for EXTINF, and ``t`` for the
    next entry of ``tags``. ffmpeg's "EXTINF then PDT" gives ``"IP"``, and the RFC's "EXTINF then
    BYTERANGE" gives ``"It"``. The writer follows the layout only while ``segment.tags is
    source.tags`` and the DISCONTINUITY and PDT flags still agree. It reuses the original EXTINF
    and PDT lines only while their values are unchanged, and otherwise writes the canonical form
    in the same position. A splicer that edits a segment therefore never gets stale text.
    """

    layout: str
    tags: tuple[str, ...]
    extinf_line: str
    duration: float
    title: str
    pdt_line: str = ""
    pdt: datetime | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """One media segment. ``pdt`` is always a timezone-aware UTC datetime, or None.

    ``pdt_explicit`` says the origin tagged this segment with EXT-X-PROGRAM-DATE-TIME. Otherwise
    ``pdt`` is extrapolated from the previous segment (its PDT plus its duration). It is None
    before the first PDT, and after a discontinuity that has no PDT of its own, until the next
    explicit one.
    """

    msn: int
    uri: str
    duration: float
    title: str = ""
    pdt: datetime | None = None
    pdt_explicit: bool = False
    discontinuity: bool = False
    # Every other tag line that preceded this segment's URI, verbatim, in order (EXT-X-KEY,
    # EXT-X-MAP, EXT-X-BYTERANGE, cue tags, DATERANGE, unknown tags, comments ...).
    tags: tuple[str, ...] = ()
    # Formatting of the origin's text; not part of equality (see SegmentSource).
    source: SegmentSource | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class HeaderSource:
    """Order and text of the origin's header lines, for byte-exact pass-through.

    ``layout`` holds one entry per header line after ``#EXTM3U``: ``("V"|"T"|"M"|"D", line)`` for
    VERSION, TARGETDURATION, MEDIA-SEQUENCE and DISCONTINUITY-SEQUENCE, or ``("t", "")`` for the
    next entry of ``header_tags``. The writer keeps this order while ``header_tags`` is the same
    tuple and the same set of owned tags is written. It reuses an owned line only while its value
    is unchanged, so a splicer that renumbers MEDIA-SEQUENCE keeps the origin's header order.
    """

    layout: tuple[tuple[str, str], ...]
    header_tags: tuple[str, ...]
    version: int | None
    target_duration: int
    media_sequence: int
    discontinuity_sequence: int


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    target_duration: int
    media_sequence: int
    discontinuity_sequence: int = 0
    version: int | None = None
    segments: tuple[Segment, ...] = ()
    # Header tags other than the ones the writer owns (EXTM3U, VERSION, TARGETDURATION,
    # MEDIA-SEQUENCE, DISCONTINUITY-SEQUENCE), verbatim and in order.
    header_tags: tuple[str, ...] = ()
    # Tags after the last segment (live-edge CUE-IN, DATERANGE, LL-HLS hints ...), verbatim.
    # EXT-X-ENDLIST is not among them: it is ``endlist`` and is always written last.
    trailer_tags: tuple[str, ...] = ()
    cues: tuple[Cue, ...] = ()
    endlist: bool = False
    # The origin wrote EXT-X-DISCONTINUITY-SEQUENCE (even as 0). The writer writes the tag when
    # this is set or the value is nonzero. Presentation only, so not part of equality: a playlist
    # with DSN 0 means the same with or without the tag.
    dsn_explicit: bool = field(default=False, compare=False)
    source: HeaderSource | None = field(default=None, compare=False, repr=False)

    @property
    def last_msn(self) -> int:
        return self.media_sequence + len(self.segments) - 1


@dataclass(frozen=True, slots=True)
class Variant:
    """One ``EXT-X-STREAM-INF`` entry of a master playlist."""

    uri: str
    bandwidth: int
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    variants: tuple[Variant, ...]
    lines: tuple[str, ...]  # the whole playlist, verbatim, for lossless rewriting
