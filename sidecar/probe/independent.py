"""The probe's second opinion: the same playlist text read by ``m3u8``, not by our parser.

The probe exists to catch what viewers receive going wrong. If it judged playlists only through
``sidecar.hls.parse``, a bug in that parser (a duration misread, a discontinuity dropped, a PDT
shifted) would be invisible to the very check meant to catch it, because the stitcher is built on
the same parser. So the reload invariants (MSN, DSN, PDT, target duration) run on what ``m3u8``
reads, and every fact both parsers model must agree; ad markers, which ``m3u8`` models only for
some dialects, stay with our own cue detector (``check_markers``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import m3u8

from sidecar.hls.model import MediaPlaylist, Segment

#: PDTs are compared to the millisecond: the parsers round sub-microsecond digits differently.
PDT_TOLERANCE_SECONDS = 1e-3


class ParsersDisagree(ValueError):
    """The text means one thing to ``m3u8`` and another to ``sidecar.hls.parse``."""


def read_media(text: str) -> MediaPlaylist:
    """A media playlist as ``m3u8`` reads it, in our model (segments, header numbers only).

    Raises ``ValueError`` when ``m3u8`` cannot read it as a media playlist.
    """
    try:
        pl: Any = m3u8.loads(text)
    except Exception as exc:  # m3u8 raises bare exceptions of several kinds on malformed input
        raise ValueError(f"m3u8 cannot read it: {type(exc).__name__}: {exc}") from None
    if pl.is_variant:
        raise ValueError("m3u8 reads a master playlist where a media playlist was expected")
    if pl.target_duration is None:
        raise ValueError("m3u8 finds no EXT-X-TARGETDURATION")
    first = int(pl.media_sequence or 0)
    segments: list[Segment] = []
    pdt = None
    for i, s in enumerate(pl.segments):
        # m3u8's own explicit PDTs and durations; extrapolated by the rule of sidecar.hls.model:
        # never across a discontinuity (what follows one is another timeline), where m3u8's
        # current_program_date_time would carry the clock on and hide a missing PDT.
        if s.program_date_time is not None:
            pdt = s.program_date_time
        elif s.discontinuity or not segments or segments[-1].pdt is None:
            pdt = None
        else:
            pdt = segments[-1].pdt + timedelta(seconds=segments[-1].duration)
        segments.append(Segment(msn=first + i, uri=str(s.uri), duration=float(s.duration), pdt=pdt,
                                pdt_explicit=s.program_date_time is not None, discontinuity=bool(s.discontinuity)))
    return MediaPlaylist(
        target_duration=int(pl.target_duration),
        media_sequence=first,
        discontinuity_sequence=int(pl.discontinuity_sequence or 0),
        version=pl.version,
        segments=tuple(segments),
        endlist=bool(pl.is_endlist),
    )


def _same_pdt(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return bool(abs((a - b).total_seconds()) <= PDT_TOLERANCE_SECONDS)


def compare(ours: MediaPlaylist, theirs: MediaPlaylist) -> None:
    """Raise ``ParsersDisagree`` naming the first fact the two readings differ on."""
    for name in ("target_duration", "media_sequence", "discontinuity_sequence", "endlist"):
        if getattr(ours, name) != getattr(theirs, name):
            raise ParsersDisagree(f"{name}: ours {getattr(ours, name)!r}, m3u8 {getattr(theirs, name)!r}")
    if len(ours.segments) != len(theirs.segments):
        raise ParsersDisagree(f"segment count: ours {len(ours.segments)}, m3u8 {len(theirs.segments)}")
    for a, b in zip(ours.segments, theirs.segments, strict=True):
        if (a.uri, a.duration, a.discontinuity) != (b.uri, b.duration, b.discontinuity) or not _same_pdt(a.pdt, b.pdt):
            raise ParsersDisagree(
                f"MSN {a.msn}: ours {(a.uri, a.duration, a.pdt, a.discontinuity)}, "
                f"m3u8 {(b.uri, b.duration, b.pdt, b.discontinuity)}"
            )
