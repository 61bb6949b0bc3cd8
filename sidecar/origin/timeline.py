"""The live timeline: which segments exist at a given instant, their dates, PTS and breaks.

Pure arithmetic on integer 90 kHz ticks, with no state: segment ``n`` covers
``[epoch + n*d, epoch + (n+1)*d)`` and is published once that interval is over. Because nothing
is remembered, the media sequence can never go back, a segment's PROGRAM-DATE-TIME never changes
between reloads, and every process with the same config agrees on the live edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sidecar.origin.config import TICKS_PER_SECOND, OriginConfig, to_ticks

PTS_WRAP = 1 << 33
"""MPEG-TS timestamps are 33-bit counters of 90 kHz ticks (they wrap after ~26.5 h)."""

PTS_BASE_TICKS = 10 * TICKS_PER_SECOND
"""Offset added to every segment's timestamps. Starting at 0 would let ffmpeg shift the first
segment (AAC priming makes its first audio packet negative), breaking uniform spacing."""


def format_pdt(ms: int) -> str:
    """Unix milliseconds to ISO-8601 UTC with milliseconds and ``Z`` (strict RFC 3339)."""
    seconds, millis = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z"


def format_seconds(seconds: float) -> str:
    """Compact decimal for tag attributes: ``30``, ``7.5``, ``4.033`` (at most millisecond)."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class AdBreak:
    """Break ``index`` covers segments ``start`` (the splice-out) up to, excluding, ``end``."""

    index: int
    start: int
    end: int
    event_id: int

    def __contains__(self, msn: object) -> bool:
        return isinstance(msn, int) and self.start <= msn < self.end


class Timeline:
    """Segment/break arithmetic for one :class:`OriginConfig` (shared by all streams)."""

    def __init__(self, config: OriginConfig) -> None:
        self.config = config
        self.d = to_ticks(config.segment_duration)
        self.interval = to_ticks(config.break_interval)
        self.planned = to_ticks(config.break_duration)
        self.span = -(-self.planned // self.d)
        self.lead_segments = -(-to_ticks(config.daterange_lead) // self.d) + 1
        self.epoch_ms = round(config.epoch * 1000)

    # -- live edge -----------------------------------------------------------------------
    def last_published(self, now: float) -> int:
        """MSN of the newest complete segment at ``now`` (-1 before the first one completes)."""
        # A thousandth of a tick of slack: epoch + n*d computed in floats may land a hair short.
        elapsed = (now - self.config.epoch) * TICKS_PER_SECOND + 1e-3
        return max(-1, int(elapsed // self.d) - 1)

    def window(self, now: float) -> range:
        """MSNs in the live playlist at ``now``: the newest ``window`` published segments."""
        last = self.last_published(now)
        first = max(0, last - self.config.window + 1)
        return range(first, last + 1)

    # -- per-segment facts -------------------------------------------------------------------
    def start_ms(self, msn: int) -> int:
        """Unix milliseconds of the first sample of segment ``msn`` (its PROGRAM-DATE-TIME)."""
        return self.epoch_ms + (msn * self.d * 1000 + TICKS_PER_SECOND // 2) // TICKS_PER_SECOND

    def pdt(self, msn: int) -> str:
        return format_pdt(self.start_ms(msn))

    def pts(self, msn: int) -> int:
        """33-bit PTS (ticks) of the first frame of segment ``msn``, as the media carries it."""
        return (PTS_BASE_TICKS + msn * self.d) % PTS_WRAP

    # -- ad breaks ---------------------------------------------------------------------------
    def ad_break(self, index: int) -> AdBreak:
        """Break ``index`` starts at the first segment boundary at or after epoch + index*interval."""
        start = -(-(index * self.interval) // self.d)
        return AdBreak(index, start, start + self.span, event_id=index % 0xFFFF_FFFF + 1)

    def break_at(self, msn: int) -> AdBreak | None:
        """The break whose span contains ``msn``, if any."""
        if msn < 0:
            return None
        candidate = self.ad_break(msn * self.d // self.interval)
        return candidate if msn in candidate else None

    def breaks_touching(self, first: int, last: int, ahead: int = 0) -> list[AdBreak]:
        """Breaks overlapping segments ``first..last + ahead`` (or ending right after ``last``)."""
        lo = max(0, first * self.d // self.interval - 1)
        hi = (last + ahead + 1) * self.d // self.interval + 1
        found = (self.ad_break(k) for k in range(lo, hi + 1))
        return [b for b in found if b.end >= first and b.start <= last + ahead]
