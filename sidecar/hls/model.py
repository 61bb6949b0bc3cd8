"""Structured view of HLS playlists, shared by the parser, the splicer and the writer.

Pure data, no I/O. A media playlist is parsed once per origin update into a ``MediaPlaylist``;
every rendition and mode is then rendered from it by the writer. Anything we do not interpret
is kept verbatim (``tags`` on a segment, ``header_tags`` / ``trailer_tags`` on the playlist) so
that pass-through is lossless: the ``m3u8`` package's ``dumps()`` is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

CueKind = Literal["out", "in", "cont"]
CueDialect = Literal["cue-out", "daterange", "oatcls", "scte35-tag"]


@dataclass(frozen=True, slots=True)
class Cue:
    """One ad signal found in a playlist, normalised across tag dialects.

    ``msn`` is the media sequence number of the segment the tag precedes: the splice point.
    A tag after the last segment (normal for ``EXT-X-CUE-IN`` at the live edge) gets
    ``msn = last_msn + 1``. ``pdt`` is the splice point in media time: the DATERANGE
    ``START-DATE`` when given, else the PDT of segment ``msn`` (None when the playlist has no PDT).
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


@dataclass(frozen=True, slots=True)
class Segment:
    msn: int
    uri: str
    duration: float
    title: str = ""
    pdt: datetime | None = None
    pdt_explicit: bool = False
    discontinuity: bool = False
    # Every other tag line that preceded this segment's URI, verbatim, in order (EXT-X-KEY,
    # EXT-X-MAP, EXT-X-BYTERANGE, cue tags, DATERANGE, unknown tags ...).
    tags: tuple[str, ...] = ()


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
    # Tags after the last segment (live-edge CUE-IN, DATERANGE, ENDLIST ...), verbatim.
    trailer_tags: tuple[str, ...] = ()
    cues: tuple[Cue, ...] = ()
    endlist: bool = False

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
