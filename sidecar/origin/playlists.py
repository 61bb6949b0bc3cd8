"""Playlist text: master, live media and VOD pod playlists (pure functions, no I/O).

Written by hand rather than with ``m3u8.dumps`` because the origin must emit exactly the
dialects real encoders do (``m3u8`` drops trailing CUE-IN, reorders DATERANGE attributes and
rewrites ``Z`` as ``+00:00``), and the point of a synthetic origin is to be faithful.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.origin import encoding
from sidecar.origin.config import FRAME_RATE, TICKS_PER_SECOND, CueFlavour, Rendition
from sidecar.origin.cues import layout_cues
from sidecar.origin.pods import PodSegment
from sidecar.origin.timeline import Timeline

VERSION = 3  # floating-point EXTINF


def _extinf(ticks: int) -> str:
    return f"#EXTINF:{ticks / TICKS_PER_SECOND:.3f},"


def _target_duration(max_ticks: int) -> int:
    """EXT-X-TARGETDURATION: every EXTINF *rounded to the nearest integer* must be <= it (RFC 8216
    section 4.3.3.1). The smallest valid value, as real encoders write it: 6.006 s segments
    (29.97 fps) get 6, which is exactly what a stitcher that rounds up gets wrong."""
    return max(1, (2 * max_ticks + TICKS_PER_SECOND) // (2 * TICKS_PER_SECOND))


def master_playlist(renditions: Iterable[Rendition]) -> str:
    """Multivariant playlist with relative variant URIs (``{rendition}.m3u8``)."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={r.bandwidth},"
            f"AVERAGE-BANDWIDTH={encoding.average_bandwidth(r)},"
            f'RESOLUTION={r.resolution},CODECS="{encoding.codecs(r)}",'
            f"FRAME-RATE={FRAME_RATE:.3f}"
        )
        lines.append(f"{r.name}.m3u8")
    return "\n".join(lines) + "\n"


def live_media_playlist(tl: Timeline, flavour: CueFlavour, rendition: str, now: float) -> str:
    """The sliding-window variant playlist at ``now``; identical for every rendition but URIs."""
    window = tl.window(now)
    cues = layout_cues(tl, flavour, window)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{_target_duration(tl.d)}",
        f"#EXT-X-MEDIA-SEQUENCE:{window.start}",
    ]
    if tl.config.discontinuity_every:
        lines.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{tl.discontinuities_before(window.start)}")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    for msn in window:
        if tl.discontinuity(msn):
            lines.append("#EXT-X-DISCONTINUITY")
        lines.extend(cues.before.get(msn, ()))
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{tl.pdt(msn)}")
        lines.append(_extinf(tl.duration_ticks(msn)))
        lines.append(f"{rendition}/{msn}.ts")
    lines.extend(cues.trailing)
    return "\n".join(lines) + "\n"


def vod_media_playlist(segments: list[PodSegment], rendition: str) -> str:
    """A pod or the slate as a complete VOD playlist (PLAYLIST-TYPE:VOD, ENDLIST)."""
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{_target_duration(max(s.duration_ticks for s in segments))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for segment in segments:
        if segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(_extinf(segment.duration_ticks))
        lines.append(f"{rendition}/{segment.index}.ts")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
