"""HLS invariants across reloads of one live media playlist, as a viewer experiences them.

Pure (no I/O, no clock), so the same rules judge the splicer in the property tests
(``tests/hls/test_splice.py``), the manifest endpoints in the end-to-end tests, and the live
service in ``sidecar probe``. A broken rule raises :class:`InvariantViolation`, whose ``reason``
is one of :data:`REASONS` (the probe's ``ssai_probe_manifest_failures_total{reason}`` label). It
subclasses ``AssertionError`` so a test that calls :func:`check_reload` fails like an ``assert``.

Rules of :func:`check_reload`, one reload after another:

* ``msn``: media sequence numbers are consecutive, never go back, nothing is skipped, and one
  MSN always names the same segment (URI and duration);
* ``dsn``: the discontinuity sequence rises exactly by the discontinuities that slid out, so
  every segment keeps its discontinuity count;
* ``pdt``: every segment has a PDT, stable per MSN, continuous inside a playlist except at a
  discontinuity, where it may only jump forward;
* ``target_duration``: it never changes, and covers every segment: each EXTINF rounded to the
  nearest integer is at most the target (RFC 8216 section 4.3.3.1; 6.006 s fits a target of 6).

:func:`check_markers` checks one playlist's ad markers (every dialect, via ``cues_of``): a
CUE-OUT is followed by a CUE-IN, or the window ends inside the break; CONT and IN only inside a
break (or before any OUT/IN, when the window starts inside a break); no second OUT while a break
is open; and a break whose duration is known has ended by the end of the window.

:func:`check_dateranges` (``daterange``): an ``EXT-X-DATERANGE`` ID never changes the value of an
attribute it carried before, on any reload (RFC 8216 section 4.3.2.7; later tags may only add
attributes, such as END-DATE or DURATION once known).

:func:`check_aligned` (``aligned``): two variants of one stream, reloaded at about the same time,
agree wherever they overlap: the same media sequence number has the same discontinuity count,
PDT and duration, so a player switching bitrate lands on the same timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sidecar.hls.attributes import parse_attributes
from sidecar.hls.cues import cues_of
from sidecar.hls.model import Cue, MediaPlaylist, rounded_duration

Reason = Literal["fetch", "parse", "msn", "dsn", "pdt", "markers", "target_duration", "daterange", "aligned"]
#: Every failure reason the probe reports, in the order a reload is checked.
REASONS: Final[tuple[Reason, ...]] = (
    "fetch",
    "parse",
    "msn",
    "dsn",
    "pdt",
    "markers",
    "target_duration",
    "daterange",
    "aligned",
)
EPSILON = 1e-6


class InvariantViolation(AssertionError):
    """An HLS rule broken by a reload; ``reason`` says which family of rule."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason
        self.message = message


# What one MSN must keep meaning on every reload: URI, duration, PDT, discontinuity count.
SegmentKey = tuple[str, float, datetime | None, int]


@dataclass
class History:
    """What a viewer remembers between reloads of one variant.

    ``by_msn`` grows with every new segment; a long-running checker calls :meth:`forget_before`
    (tests keep it whole to look at everything a viewer saw).
    """

    by_msn: dict[int, SegmentKey]
    last_msn_seq: int = -1
    last: MediaPlaylist | None = None
    target: int | None = None

    def forget_before(self, msn: int) -> None:
        """Drop segments that slid out before ``msn`` (a playlist that shows them again fails
        the media-sequence rule anyway), keeping the newest one for the skip rule."""
        newest = max(self.by_msn, default=None)
        for key in [k for k in self.by_msn if k < msn and k != newest]:
            del self.by_msn[key]


def _fail(reason: Reason, message: str, variant: object) -> InvariantViolation:
    where = f"variant {variant}: " if variant is not None else ""
    return InvariantViolation(reason, where + message)


def _changed_reason(before: SegmentKey, after: SegmentKey) -> Reason:
    if before[:2] != after[:2]:
        return "msn"
    if before[2] != after[2]:
        return "pdt"
    return "dsn"


def check_reload(h: History, pl: MediaPlaylist, variant: object = None) -> None:
    """Check ``pl`` against everything ``h`` remembers, then remember it (see the module doc).

    ``variant`` only names the playlist in messages (a bandwidth, a URL).
    """
    segs = pl.segments
    if [s.msn for s in segs] != list(range(pl.media_sequence, pl.media_sequence + len(segs))):
        raise _fail("msn", "media sequence numbers are not consecutive", variant)
    if pl.media_sequence < h.last_msn_seq:
        raise _fail("msn", f"media sequence went back: {h.last_msn_seq} -> {pl.media_sequence}", variant)
    if h.target is None:
        h.target = pl.target_duration
    if pl.target_duration != h.target:
        raise _fail("target_duration", f"target duration changed: {h.target} -> {pl.target_duration}", variant)
    for s in segs:
        if rounded_duration(s.duration) > pl.target_duration:
            raise _fail(
                "target_duration",
                f"MSN {s.msn} lasts {s.duration:g} s, which rounds above the target {pl.target_duration} s",
                variant,
            )
    # DSN accounting: the segments this reload dropped from the head carried exactly the
    # discontinuities by which DSN rose.
    dsn_now = pl.discontinuity_sequence
    for i, s in enumerate(segs):
        if s.discontinuity:
            dsn_now += 1
        key: SegmentKey = (s.uri, s.duration, s.pdt, dsn_now)
        known = h.by_msn.get(s.msn)
        if known is not None:
            if known != key:
                raise _fail(_changed_reason(known, key), f"MSN {s.msn} changed meaning: {known} -> {key}", variant)
        else:
            newest = max(h.by_msn, default=None)
            if newest is not None and s.msn != newest + 1:
                raise _fail("msn", f"skipped a segment: MSN {newest} then {s.msn}", variant)
            h.by_msn[s.msn] = key
        if i:
            prev = segs[i - 1]
            if s.pdt is None or prev.pdt is None:
                raise _fail("pdt", f"MSN {s.msn if s.pdt is None else prev.msn} has no PDT", variant)
            gap = (s.pdt - prev.pdt).total_seconds() - prev.duration
            if s.discontinuity:
                if gap < -EPSILON:
                    raise _fail("pdt", f"PDT went back across the discontinuity at MSN {s.msn}", variant)
            elif abs(gap) >= EPSILON:
                raise _fail("pdt", f"PDT not continuous at MSN {s.msn} ({gap:+.3f} s)", variant)
    if h.last is not None and h.last.segments and segs:
        dropped = [s for s in h.last.segments if s.msn < pl.media_sequence]
        rise = pl.discontinuity_sequence - h.last.discontinuity_sequence
        expected = sum(1 for s in dropped if s.discontinuity)
        if rise != expected:
            raise _fail("dsn", f"DSN rose by {rise}, but {expected} discontinuities slid out", variant)
    h.last_msn_seq = pl.media_sequence
    h.last = pl


@dataclass
class _Break:
    event_id: str | None
    start: datetime | None
    duration: float | None

    def end(self) -> datetime | None:
        if self.start is None or self.duration is None:
            return None
        return self.start + timedelta(seconds=self.duration)


def _dedupe(cues: tuple[Cue, ...]) -> list[Cue]:
    """One cue per (event, kind, splice point): dialects that repeat a signal (OATCLS with
    CUE-OUT) give several cues with the same ``event_id``. Ordered by splice point."""
    seen: set[tuple[str | None, str, int]] = set()
    out: list[Cue] = []
    for cue in cues:
        if cue.kind == "other":
            continue
        key = (cue.event_id, cue.kind, cue.msn)
        if key not in seen:
            seen.add(key)
            out.append(cue)
    return sorted(out, key=lambda c: c.msn)  # stable: same-MSN cues keep playlist order


def check_markers(pl: MediaPlaylist, variant: object = None) -> None:
    """Ad markers of one playlist are balanced (see the module doc); raises ``markers``."""
    open_break: _Break | None = None
    seen_edge = False  # an OUT or IN was seen: from here on, "inside a break" is known exactly
    tolerance = timedelta(seconds=pl.target_duration + 0.5)  # breaks end on segment boundaries
    for cue in _dedupe(cues_of(pl)):
        if cue.kind == "out":
            if open_break is not None and cue.event_id != open_break.event_id:
                end = open_break.end()
                # A DATERANGE break with a DURATION ends without an IN tag.
                if end is None or cue.pdt is None or cue.pdt + tolerance < end:
                    raise _fail(
                        "markers", f"CUE-OUT at MSN {cue.msn} while break {open_break.event_id} is open", variant
                    )
            open_break = _Break(cue.event_id, cue.pdt, cue.duration)
            seen_edge = True
        elif cue.kind == "cont":
            if open_break is None:
                if seen_edge:
                    raise _fail("markers", f"CUE-OUT-CONT at MSN {cue.msn} outside a break", variant)
                start = cue.pdt - timedelta(seconds=cue.elapsed) if cue.pdt and cue.elapsed is not None else None
                open_break = _Break(cue.event_id, start, cue.duration)
            elif cue.duration is not None:
                # The splicer may report the span it replaced (a little more than the signal).
                open_break.duration = max(open_break.duration or 0.0, cue.duration)
        elif cue.kind == "in":
            if open_break is None and seen_edge:
                raise _fail("markers", f"CUE-IN at MSN {cue.msn} without a CUE-OUT", variant)
            open_break = None
            seen_edge = True
    if open_break is not None and pl.segments:
        last = pl.segments[-1]
        end = open_break.end()
        if end is not None and last.pdt is not None:
            window_end = last.pdt + timedelta(seconds=last.duration)
            if window_end > end + tolerance:
                raise _fail(
                    "markers",
                    f"break {open_break.event_id} should have ended by {end.isoformat()} but has no CUE-IN "
                    f"by the end of the window ({window_end.isoformat()})",
                    variant,
                )


#: What a player remembers of each DATERANGE ID: the union of the attributes it has seen.
DateRanges = dict[str, dict[str, str]]


def check_dateranges(seen: DateRanges, pl: MediaPlaylist, variant: object = None) -> None:
    """Every DATERANGE of ``pl`` against what earlier reloads showed for its ID; then remember."""
    tags = [t for s in pl.segments for t in s.tags if t.startswith("#EXT-X-DATERANGE:")]
    tags += [t for t in pl.trailer_tags if t.startswith("#EXT-X-DATERANGE:")]
    for tag in tags:
        attrs = parse_attributes(tag.partition(":")[2])
        ident = attrs.get("ID")
        if ident is None:
            raise _fail("daterange", f"DATERANGE without ID: {tag}", variant)
        known = seen.setdefault(ident, {})
        for name, value in attrs.items():
            before = known.get(name)
            if before is not None and before != value:
                raise _fail("daterange", f"DATERANGE {ident} changed {name}: {before!r} -> {value!r}", variant)
            known[name] = value


def check_aligned(a: MediaPlaylist, b: MediaPlaylist, names: tuple[object, object] = ("a", "b")) -> None:
    """Where two variants' windows overlap, one MSN means the same point of the timeline."""

    def timeline(pl: MediaPlaylist) -> dict[int, tuple[int, datetime | None, float]]:
        out, dsn = {}, pl.discontinuity_sequence
        for s in pl.segments:
            dsn += s.discontinuity
            out[s.msn] = (dsn, s.pdt, round(s.duration, 3))
        return out

    ta, tb = timeline(a), timeline(b)
    for msn in sorted(ta.keys() & tb.keys()):
        if ta[msn] != tb[msn]:
            raise _fail(
                "aligned",
                f"MSN {msn} is (discontinuity, PDT, duration) {ta[msn]} in {names[0]} but {tb[msn]} in {names[1]}",
                None,
            )
