"""Ad-signal detection: every cue dialect in a media playlist becomes a normalised ``Cue``.

Dialects (each becomes one ``CueDialect``):

* ``cue-out``: ``#EXT-X-CUE-OUT`` (``:30``, ``:DURATION=30`` or bare), ``#EXT-X-CUE-OUT-CONT``
  (``ElapsedTime=..,Duration=..[,SCTE35=..]`` or the ``8.308/30`` short form), ``#EXT-X-CUE-IN``.
  These are Adobe/Elemental conventions that RFC 8216 does not define.
* ``oatcls``: ``#EXT-OATCLS-SCTE35:<base64>``, a whole ``splice_info_section``.
* ``splicepoint``: ``#EXT-X-SPLICEPOINT-SCTE35:<base64>`` (MediaTailor; usually time_signal with
  0x34/0x35).
* ``scte35-tag``: ``#EXT-X-SCTE35:CUE="<base64>",CUE-OUT=YES|CONT,CUE-IN=YES,...`` (the HLS
  carriage defined by SCTE 35 2022).
* ``daterange``: ``#EXT-X-DATERANGE`` with ``SCTE35-OUT``/``SCTE35-IN``/``SCTE35-CMD`` (RFC 8216
  section 4.3.2.7.1). A DATERANGE without any SCTE35 attribute (for example an interstitial) is
  not a cue.

Not detected, but kept verbatim: ``#EXT-X-CUE-SPAN``, ``#EXT-X-CUE`` (Adobe's older form) and
``#EXT-X-PLACEMENT-OPPORTUNITY``.

Pure: no I/O and no clock. Payload decoding is memoised in ``scte35.decode_scte35``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sidecar.hls.attributes import parse_attributes, parse_pdt
from sidecar.hls.model import Cue, CueDialect, CueKind, MediaPlaylist, Segment
from sidecar.hls.scte35 import Scte35Info, Signal, decode_scte35, signals

CUE_TAG_PREFIXES = (
    "#EXT-X-CUE-OUT",
    "#EXT-X-CUE-IN",
    "#EXT-OATCLS-SCTE35:",
    "#EXT-X-DATERANGE:",
    "#EXT-X-SCTE35:",
    "#EXT-X-SPLICEPOINT-SCTE35:",
)


def pdt_key(when: datetime) -> str:
    """``pdt:<UTC time rounded to the millisecond>``: an event id derived from a splice point."""
    rounded = when.astimezone(UTC) + timedelta(microseconds=500)
    return "pdt:" + rounded.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().strip('"'))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _attrs_ci(text: str) -> dict[str, str]:
    """Attribute lists of the non-RFC cue tags, with upper-cased keys (origins vary in case)."""
    return {k.upper(): v for k, v in parse_attributes(text).items()}


_attrs = parse_attributes


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_pdt(text)
    except ValueError:
        return None


def cue_out_duration(value: str) -> float | None:
    """``30``, ``30.000`` or ``DURATION=30`` (any key case). Bare or unreadable: None."""
    value = value.strip()
    if not value:
        return None
    if "=" not in value:
        return _float(value.split(",", 1)[0])
    return _float(_attrs_ci(value).get("DURATION"))


def cue_out_cont(value: str) -> tuple[float | None, float | None, str | None]:
    """``(elapsed, duration, scte35 payload)`` of a ``CUE-OUT-CONT`` value, in either form."""
    value = value.strip()
    if "=" not in value and "/" in value:
        elapsed, _, duration = value.partition("/")
        return _float(elapsed), _float(duration), None
    attrs = _attrs_ci(value)
    return _float(attrs.get("ELAPSEDTIME")), _float(attrs.get("DURATION")), attrs.get("SCTE35")


def _pick(sigs: Sequence[Signal], kind: CueKind) -> Signal | None:
    for s in sigs:
        if s.kind == kind:
            return s
    return None


class _Timeline:
    """Segment boundaries as (PDT, MSN), for mapping a DATERANGE time onto the window."""

    def __init__(self, segments: Sequence[Segment], target_duration: float) -> None:
        self.times: list[datetime] = []
        self.msns: list[int] = []
        for seg in segments:
            if seg.pdt is not None:
                self.times.append(seg.pdt)
                self.msns.append(seg.msn)
        if segments and segments[-1].pdt is not None:
            last = segments[-1]
            assert last.pdt is not None
            self.times.append(last.pdt + timedelta(seconds=last.duration))
            self.msns.append(last.msn + 1)
        self.tolerance = timedelta(seconds=target_duration / 2)

    def snap(self, when: datetime, tolerance: timedelta | None = None) -> int | None:
        if not self.times:
            return None
        tol = self.tolerance if tolerance is None else tolerance
        i = bisect.bisect_left(self.times, when)
        best: int | None = None
        best_gap = tol
        for j in (i - 1, i):
            if 0 <= j < len(self.times):
                gap = abs(self.times[j] - when)
                if gap <= best_gap:
                    best, best_gap = self.msns[j], gap
        return best


def snap_to_boundary(pl: MediaPlaylist, when: datetime, tolerance: float | None = None) -> int | None:
    """The MSN of the segment boundary nearest ``when``, or None if none is within ``tolerance``.

    The boundary after the last segment counts (its MSN is ``last_msn + 1``). The default
    tolerance is half the target duration, which maps any time inside the window to a boundary.
    Times are compared as datetimes, never as text.
    """
    tl = _Timeline(pl.segments, pl.target_duration)
    return tl.snap(when, None if tolerance is None else timedelta(seconds=tolerance))


class _Detector:
    def __init__(self, segments: Sequence[Segment], target_duration: float) -> None:
        self.segments = segments
        self.target_duration = target_duration
        self._timeline: _Timeline | None = None
        self.out: list[Cue] = []
        self.open_id: str | None = None

    @property
    def timeline(self) -> _Timeline:
        if self._timeline is None:
            self._timeline = _Timeline(self.segments, self.target_duration)
        return self._timeline

    @staticmethod
    def derived(pdt: datetime | None, msn: int) -> str:
        return pdt_key(pdt) if pdt is not None else f"msn:{msn}"

    def block(self, msn: int, pdt: datetime | None, lines: Sequence[str]) -> None:
        candidates = [t for t in lines if t.startswith(CUE_TAG_PREFIXES)]
        if not candidates:
            return
        companions: list[Signal] = []
        for line in candidates:
            tag, _, value = line.partition(":")
            if tag in ("#EXT-OATCLS-SCTE35", "#EXT-X-SPLICEPOINT-SCTE35"):
                info = decode_scte35(value)
                if info is not None and info.valid:
                    companions.extend(signals(info))
            elif tag == "#EXT-X-SCTE35":
                info = decode_scte35(_attrs_ci(value).get("CUE", ""))
                if info is not None and info.valid:
                    companions.extend(signals(info))
        for line in candidates:
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-CUE-OUT":
                self.cue_out(msn, pdt, value, line, companions)
            elif tag == "#EXT-X-CUE-OUT-CONT":
                self.cue_cont(msn, pdt, value, line)
            elif tag == "#EXT-X-CUE-IN":
                self.cue_in(msn, pdt, line, companions)
            elif tag == "#EXT-OATCLS-SCTE35":
                self.payload_tag(msn, pdt, value, line, "oatcls")
            elif tag == "#EXT-X-SPLICEPOINT-SCTE35":
                self.payload_tag(msn, pdt, value, line, "splicepoint")
            elif tag == "#EXT-X-SCTE35":
                self.scte35_tag(msn, pdt, value, line)
            elif tag == "#EXT-X-DATERANGE":
                self.daterange(msn, pdt, value, line)

    # -- Elemental / Adobe ---------------------------------------------------------------------

    def cue_out(self, msn: int, pdt: datetime | None, value: str, line: str, comp: list[Signal]) -> None:
        sig = _pick(comp, "out")
        event_id = sig.event_id if sig and sig.event_id else self.derived(pdt, msn)
        duration = cue_out_duration(value)
        if duration is None and sig is not None:
            duration = sig.duration
        self.open_id = event_id
        seg_type = sig.segmentation_type if sig else None
        self.out.append(Cue("out", "cue-out", msn, pdt, duration, event_id, seg_type, None, line))

    def cue_cont(self, msn: int, pdt: datetime | None, value: str, line: str) -> None:
        elapsed, duration, payload = cue_out_cont(value)
        info = decode_scte35(payload) if payload else None
        sig = _pick(signals(info), "out") if info is not None else None
        if sig is not None and sig.event_id:
            event_id: str | None = sig.event_id
        elif self.open_id is not None:
            event_id = self.open_id
        elif pdt is not None and elapsed is not None:
            event_id = pdt_key(pdt - timedelta(seconds=elapsed))
        else:
            event_id = None
        self.open_id = event_id
        seg_type = sig.segmentation_type if sig else None
        self.out.append(Cue("cont", "cue-out", msn, pdt, duration, event_id, seg_type, elapsed, line, info))

    def cue_in(self, msn: int, pdt: datetime | None, line: str, comp: list[Signal]) -> None:
        sig = _pick(comp, "in")
        if sig is not None and sig.event_id:
            event_id = sig.event_id
        else:
            event_id = self.open_id or self.derived(pdt, msn)
        self.open_id = None
        seg_type = sig.segmentation_type if sig else None
        self.out.append(Cue("in", "cue-out", msn, pdt, None, event_id, seg_type, None, line))

    # -- Binary payload tags -------------------------------------------------------------------

    def payload_tag(self, msn: int, pdt: datetime | None, value: str, line: str, dialect: CueDialect) -> None:
        info = decode_scte35(value) or Scte35Info(valid=False, error="empty")
        for sig in signals(info):
            event_id = sig.event_id
            if sig.kind in ("out", "in") and event_id is None:
                event_id = self.derived(pdt, msn)
            self._track(sig.kind, event_id)
            self.out.append(
                Cue(
                    sig.kind,
                    dialect,
                    msn,
                    pdt,
                    sig.duration,
                    event_id,
                    sig.segmentation_type,
                    None,
                    line,
                    info,
                )
            )

    def _track(self, kind: CueKind, event_id: str | None) -> None:
        if kind == "out":
            self.open_id = event_id
        elif kind == "in":
            self.open_id = None

    def scte35_tag(self, msn: int, pdt: datetime | None, value: str, line: str) -> None:
        attrs = _attrs_ci(value)
        payload = attrs.get("CUE", "")
        info = decode_scte35(payload) if payload else None
        sigs = signals(info) if info is not None else ()
        cue_out = attrs.get("CUE-OUT", "").upper()
        kind: CueKind | None = None
        if cue_out == "YES":
            kind = "out"
        elif cue_out == "CONT":
            kind = "cont"
        elif attrs.get("CUE-IN", "").upper() == "YES":
            kind = "in"
        ident = attrs.get("ID")
        duration = _float(attrs.get("DURATION"))
        elapsed = _float(attrs.get("ELAPSED"))
        if kind is None:
            # No CUE-OUT/CUE-IN attribute: the payload decides, one cue per signal.
            for each in sigs or (Signal("other"),):
                eid = each.event_id or (f"id:{ident}" if ident else None)
                if each.kind in ("out", "in") and eid is None:
                    eid = self.derived(pdt, msn)
                self._track(each.kind, eid)
                dur = duration if duration is not None else each.duration
                self.out.append(
                    Cue(each.kind, "scte35-tag", msn, pdt, dur, eid, each.segmentation_type, elapsed, line, info)
                )
            return
        sig = _pick(sigs, "in" if kind == "in" else "out")
        event_id: str
        if sig is not None and sig.event_id:
            event_id = sig.event_id
        elif ident:
            event_id = f"id:{ident}"
        elif kind != "out" and self.open_id is not None:
            event_id = self.open_id
        elif kind == "cont" and pdt is not None and elapsed is not None:
            event_id = pdt_key(pdt - timedelta(seconds=elapsed))
        else:
            event_id = self.derived(pdt, msn)
        if duration is None and sig is not None:
            duration = sig.duration
        self.open_id = None if kind == "in" else event_id
        seg_type = sig.segmentation_type if sig else None
        self.out.append(Cue(kind, "scte35-tag", msn, pdt, duration, event_id, seg_type, elapsed, line, info))

    # -- DATERANGE -----------------------------------------------------------------------------

    def daterange(self, msn: int, pdt: datetime | None, value: str, line: str) -> None:
        attrs = _attrs(value)
        if not any(k in attrs for k in ("SCTE35-OUT", "SCTE35-IN", "SCTE35-CMD")):
            return
        ident = attrs.get("ID")
        start = _parse_date(attrs.get("START-DATE"))
        end = _parse_date(attrs.get("END-DATE"))
        duration = _float(attrs.get("DURATION"))
        planned = _float(attrs.get("PLANNED-DURATION"))
        if end is None and start is not None and duration is not None:
            end = start + timedelta(seconds=duration)
        edges: tuple[tuple[str, CueKind | None], ...] = (
            ("SCTE35-OUT", "out"),
            ("SCTE35-IN", "in"),
            ("SCTE35-CMD", None),
        )
        for attr, fixed in edges:
            payload = attrs.get(attr)
            if payload is None:
                continue
            info = decode_scte35(payload) or Scte35Info(valid=False, error="empty")
            sigs = signals(info)
            chosen: list[tuple[CueKind, Signal]]
            if fixed is not None:
                chosen = [(fixed, _pick(sigs, fixed) or sigs[0])]
            else:
                chosen = [(s.kind, s) for s in sigs]
            for kind, sig in chosen:
                when = (end or start) if kind == "in" else start
                if when is None:
                    when_msn, exact, when = msn, True, pdt
                else:
                    snapped = self.timeline.snap(when)
                    when_msn, exact = (snapped, True) if snapped is not None else (msn, False)
                if sig.event_id and sig.kind != "other":
                    event_id: str | None = sig.event_id
                elif ident:
                    event_id = f"id:{ident}"
                else:
                    event_id = sig.event_id or (self.derived(when, when_msn) if kind != "other" else None)
                dur = duration if duration is not None else planned
                if dur is None:
                    dur = sig.duration
                self.out.append(
                    Cue(
                        kind,
                        "daterange",
                        when_msn,
                        when,
                        dur,
                        event_id,
                        sig.segmentation_type,
                        None,
                        line,
                        info,
                        msn_exact=exact,
                    )
                )


def detect_cues(
    segments: Sequence[Segment],
    trailer_tags: Sequence[str],
    trailer_msn: int,
    target_duration: float,
) -> tuple[Cue, ...]:
    """All cues of a window, in playlist order. Tags after the last segment get ``trailer_msn``
    (``last_msn + 1``) and the PDT at the end of the last segment."""
    det = _Detector(segments, target_duration)
    for seg in segments:
        if seg.tags:
            det.block(seg.msn, seg.pdt, seg.tags)
    if trailer_tags:
        end_pdt: datetime | None = None
        if segments and segments[-1].pdt is not None:
            last = segments[-1]
            assert last.pdt is not None
            end_pdt = last.pdt + timedelta(seconds=last.duration)
        det.block(trailer_msn, end_pdt, trailer_tags)
    return tuple(det.out)


def cues_of(pl: MediaPlaylist) -> tuple[Cue, ...]:
    """Re-run detection on a playlist, for example one the splicer has edited."""
    return detect_cues(pl.segments, pl.trailer_tags, pl.last_msn + 1, pl.target_duration)


@dataclass(frozen=True, slots=True)
class BreakSignal:
    """A break as one window shows it, whether or not its splice-out is still in the window.

    ``start`` is the splice-out in media time: the OUT cue's PDT, or for a break joined after its
    CUE-OUT slid out, a continuation cue's PDT minus its elapsed time (``CUE-OUT-CONT``
    ``ElapsedTime``, ``EXT-X-SCTE35`` ``ELAPSED``). ``duration`` is the signalled duration when
    any of its cues gives one. ``end`` is the return to content when the window shows it (CUE-IN,
    ``SCTE35-IN``). ``out_seen``: an OUT cue of it is in the window (a DATERANGE OUT stays in
    the window as long as the break does, so a channel joined mid-break sees it with a START-DATE
    before the window instead).
    """

    event_id: str
    start: datetime
    duration: float | None
    end: datetime | None
    out_seen: bool


def breaks_in_window(pl: MediaPlaylist) -> list[BreakSignal]:
    """Every ad break the window's cues describe, in order of their splice-out (pure).

    This is what recognises a break already under way when a channel is first played: only
    ``CUE-OUT-CONT`` lines (with ``ElapsedTime`` and ``Duration``), an OATCLS continuation or a
    DATERANGE whose START-DATE is behind the window are left of it.
    """
    found: dict[str, BreakSignal] = {}
    order: list[str] = []
    for cue in pl.cues:
        if cue.event_id is None or cue.kind == "other":
            continue
        known = found.get(cue.event_id)
        if cue.kind == "out" and cue.pdt is not None:
            duration = cue.duration if cue.duration is not None else (known.duration if known else None)
            end = known.end if known else None
            found[cue.event_id] = BreakSignal(cue.event_id, cue.pdt, duration, end, True)
        elif cue.kind == "cont" and known is None and cue.pdt is not None and cue.elapsed is not None:
            start = cue.pdt - timedelta(seconds=cue.elapsed)
            found[cue.event_id] = BreakSignal(cue.event_id, start, cue.duration, None, False)
        elif cue.kind == "cont" and known is not None and known.duration is None and cue.duration is not None:
            found[cue.event_id] = BreakSignal(known.event_id, known.start, cue.duration, known.end, known.out_seen)
        elif cue.kind == "in" and known is not None and cue.pdt is not None:
            found[cue.event_id] = BreakSignal(known.event_id, known.start, known.duration, cue.pdt, known.out_seen)
        if cue.event_id in found and cue.event_id not in order:
            order.append(cue.event_id)
    return sorted((found[e] for e in order), key=lambda b: b.start)
