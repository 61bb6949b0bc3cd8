"""``MediaPlaylist`` to text, and master playlist URI rewriting. Pure and fast.

``render_media`` writes, in this order: ``#EXTM3U``, ``#EXT-X-VERSION`` (when set),
``#EXT-X-TARGETDURATION``, ``#EXT-X-MEDIA-SEQUENCE`` (always, even 0),
``#EXT-X-DISCONTINUITY-SEQUENCE`` (when nonzero or when the origin wrote it, ``dsn_explicit``),
``header_tags``, then each segment (``#EXT-X-DISCONTINUITY``, its verbatim tags,
``#EXT-X-PROGRAM-DATE-TIME`` when ``pdt_explicit``, ``#EXTINF:<duration>,<title>``, URI), then
``trailer_tags`` and ``#EXT-X-ENDLIST`` when ``endlist``. Lines end with ``\\n``.

Canonical forms, used for anything the splicer created or changed:

* PDT: ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC. Six fraction digits are written only when the value
  has sub-millisecond precision, so no value is ever rounded.
* EXTINF duration: three decimals (``6.006``, ``10.000``) when they represent the value
  exactly, otherwise the shortest exact decimal form (``3.066667``).

Pass-through: a parsed segment or header carries a ``source`` (see model.py). While the values
it describes are unchanged, the origin's own line order and text are reproduced byte for byte:
ffmpeg's PDT after EXTINF, ``+0000`` zones, six-digit fractions, ``6.000000`` durations, and
INDEPENDENT-SEGMENTS before TARGETDURATION. A changed value is written in canonical form, in
the same position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from sidecar.hls.model import MasterPlaylist, MediaPlaylist, Segment


def format_pdt(dt: datetime) -> str:
    """Canonical PDT text. A naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    elif dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    spec = "microseconds" if dt.microsecond % 1000 else "milliseconds"
    return dt.isoformat(timespec=spec)[:-6] + "Z"


def format_duration(d: float) -> str:
    """Canonical EXTINF duration: ``%.3f`` when exact, else the shortest exact decimal."""
    s = f"{d:.3f}"
    if float(s) == d:
        return s
    s = repr(float(d))
    if "e" in s or "E" in s:  # HLS has no exponent notation: spell the same shortest digits out
        s = format(Decimal(s), "f")
    return s


def _extinf(seg: Segment) -> str:
    return f"#EXTINF:{format_duration(seg.duration)},{seg.title}"


def _header(pl: MediaPlaylist, out: list[str]) -> None:
    write_dsn = pl.dsn_explicit or pl.discontinuity_sequence != 0
    src = pl.source
    if src is not None and src.header_tags is pl.header_tags:
        owned = [m for m, _ in src.layout if m != "t"]
        want = 2 + (pl.version is not None) + write_dsn
        if (
            len(owned) == want
            and len(set(owned)) == want
            and "T" in owned
            and "M" in owned
            and ("V" in owned) == (pl.version is not None)
            and ("D" in owned) == write_dsn
        ):
            tags = iter(pl.header_tags)
            for mark, line in src.layout:
                if mark == "t":
                    out.append(next(tags))
                elif mark == "T":
                    same = pl.target_duration == src.target_duration
                    out.append(line if same else f"#EXT-X-TARGETDURATION:{pl.target_duration}")
                elif mark == "M":
                    same = pl.media_sequence == src.media_sequence
                    out.append(line if same else f"#EXT-X-MEDIA-SEQUENCE:{pl.media_sequence}")
                elif mark == "D":
                    same = pl.discontinuity_sequence == src.discontinuity_sequence
                    out.append(line if same else f"#EXT-X-DISCONTINUITY-SEQUENCE:{pl.discontinuity_sequence}")
                else:
                    out.append(line if pl.version == src.version else f"#EXT-X-VERSION:{pl.version}")
            return
    if pl.version is not None:
        out.append(f"#EXT-X-VERSION:{pl.version}")
    out.append(f"#EXT-X-TARGETDURATION:{pl.target_duration}")
    out.append(f"#EXT-X-MEDIA-SEQUENCE:{pl.media_sequence}")
    if write_dsn:
        out.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{pl.discontinuity_sequence}")
    out.extend(pl.header_tags)


def _segment(seg: Segment, out: list[str]) -> None:
    src = seg.source
    if (
        src is not None
        and src.tags is seg.tags
        and ("D" in src.layout) == seg.discontinuity
        and ("P" in src.layout) == (seg.pdt_explicit and seg.pdt is not None)
    ):
        i = 0
        for mark in src.layout:
            if mark == "t":
                out.append(seg.tags[i])
                i += 1
            elif mark == "I":
                same = seg.duration == src.duration and seg.title == src.title
                out.append(src.extinf_line if same else _extinf(seg))
            elif mark == "P":
                assert seg.pdt is not None
                same = seg.pdt == src.pdt
                out.append(src.pdt_line if same else "#EXT-X-PROGRAM-DATE-TIME:" + format_pdt(seg.pdt))
            else:
                out.append("#EXT-X-DISCONTINUITY")
        out.append(seg.uri)
        return
    if seg.discontinuity:
        out.append("#EXT-X-DISCONTINUITY")
    out.extend(seg.tags)
    if seg.pdt_explicit and seg.pdt is not None:
        out.append("#EXT-X-PROGRAM-DATE-TIME:" + format_pdt(seg.pdt))
    out.append(_extinf(seg))
    out.append(seg.uri)


def render_media(pl: MediaPlaylist) -> str:
    """The playlist as text. ``parse_media(render_media(pl)) == pl`` for any parsed ``pl``."""
    out = ["#EXTM3U"]
    _header(pl, out)
    for seg in pl.segments:
        _segment(seg, out)
    out.extend(pl.trailer_tags)
    if pl.endlist:
        out.append("#EXT-X-ENDLIST")
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Master playlists
# ---------------------------------------------------------------------------------------------

# URI="..." as a whole attribute (after ':' or ','), so SERVER-URI and X-ASSET-URI are not touched.
_URI_ATTR = re.compile(r'(?<=[:,])URI="([^"]*)"')

URI_KINDS = {
    "#EXT-X-MEDIA": "media",
    "#EXT-X-I-FRAME-STREAM-INF": "iframe",
    "#EXT-X-IMAGE-STREAM-INF": "image",
    "#EXT-X-SESSION-KEY": "session-key",
    "#EXT-X-SESSION-DATA": "session-data",
}


def _uri_kind(tag: str) -> str:
    kind = URI_KINDS.get(tag)
    if kind is not None:
        return kind
    name = tag[1:].lower()
    return name[6:] if name.startswith("ext-x-") else name


def _checked(uri: str) -> str:
    if '"' in uri or "\n" in uri or "\r" in uri:
        raise ValueError(f"map_uri returned a URI that cannot be written into a playlist: {uri!r}")
    return uri


def rewrite_master(master: MasterPlaylist, map_uri: Callable[[str, str], str]) -> str:
    """The master playlist with every URI passed through ``map_uri(kind, uri)``.

    ``kind`` is ``"variant"`` for the URI line after ``EXT-X-STREAM-INF``. For a ``URI="..."``
    attribute it names the tag: ``media``, ``iframe``, ``image``, ``session-key``,
    ``session-data``, or for any other tag its name without ``#EXT-X-``, in lower case. Every other
    byte of every line is kept, including attribute order, unknown tags, comments and blank lines.
    """
    out: list[str] = []
    expect_variant = False
    for line in master.lines:
        s = line.strip()
        if not s:
            out.append(line)
            continue
        if s[0] != "#":
            if expect_variant:
                out.append(_checked(map_uri("variant", s)))
                expect_variant = False
            else:
                out.append(line)
            continue
        tag = s.partition(":")[0]
        if tag == "#EXT-X-STREAM-INF":
            expect_variant = True
        if 'URI="' in s:
            kind = _uri_kind(tag)
            line = _URI_ATTR.sub(
                lambda m, k=kind: 'URI="' + _checked(map_uri(k, m.group(1))) + '"',  # type: ignore[misc]
                line,
            )
        out.append(line)
    out.append("")
    return "\n".join(out)
