"""The live timeline: which segments exist at a given instant, their dates, PTS and breaks.

Pure arithmetic on integer 90 kHz ticks, with no state. Segment durations repeat a pattern
(``segment_ticks``: one duration for a steady encoder, several for a jittered one), so segment
``n`` starts at ``(n // L) * cycle + prefix[n % L]`` ticks after the epoch and is published once
it is over. Breaks repeat every ``break_interval`` of media time (``break_specs`` per cycle).
Because nothing is remembered, the media sequence can never go back, a segment's
PROGRAM-DATE-TIME never changes between reloads, and every process with the same config agrees on
the live edge.
"""

from __future__ import annotations

import bisect
import itertools
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
    """Break ``index`` covers segments ``start`` (the splice-out) up to, excluding, ``end`` (the
    segment the origin returns to content on: its CUE-IN, the boundary nearest the signalled end).

    ``planned_ticks`` is the signalled duration; ``early`` says the return comes before it.
    """

    index: int
    start: int
    end: int
    event_id: int
    planned_ticks: int = 0
    early: bool = False

    def __contains__(self, msn: object) -> bool:
        return isinstance(msn, int) and self.start <= msn < self.end


class Timeline:
    """Segment/break arithmetic for one :class:`OriginConfig` (shared by all streams)."""

    def __init__(self, config: OriginConfig) -> None:
        self.config = config
        self.pattern = config.segment_ticks
        self.prefix = [0, *itertools.accumulate(self.pattern)]
        self.cycle = self.prefix[-1]
        self.d = max(self.pattern)  # the longest segment: what target durations are made of
        self.interval = to_ticks(config.break_interval)
        self.specs = config.break_specs
        self.planned = to_ticks(config.break_duration)
        nominal = self.cycle // len(self.pattern)
        self.lead_segments = -(-to_ticks(config.daterange_lead) // nominal) + 1
        self.epoch_ms = round(config.epoch * 1000)

    # -- segment boundaries -------------------------------------------------------------------
    def start_ticks(self, msn: int) -> int:
        """Ticks from the epoch to the start of segment ``msn``."""
        q, r = divmod(msn, len(self.pattern))
        return q * self.cycle + self.prefix[r]

    def duration_ticks(self, msn: int) -> int:
        return self.pattern[msn % len(self.pattern)]

    def msn_at_or_after(self, ticks: int) -> int:
        """The segment that starts at the first boundary at or after ``ticks``."""
        q, r = divmod(ticks, self.cycle)
        return q * len(self.pattern) + bisect.bisect_left(self.prefix, r)

    def msn_nearest(self, ticks: int) -> int:
        """The segment that starts at the boundary nearest ``ticks`` (the later one on a tie): where
        an encoder returns from a break, on the IDR closest to the signalled time."""
        after = self.msn_at_or_after(ticks)
        before = after - 1
        if before >= 0 and ticks - self.start_ticks(before) < self.start_ticks(after) - ticks:
            return before
        return after

    # -- live edge -----------------------------------------------------------------------
    def last_published(self, now: float) -> int:
        """MSN of the newest complete segment at ``now`` (-1 before the first one completes)."""
        # A thousandth of a tick of slack: epoch + n*d computed in floats may land a hair short.
        elapsed = (now - self.config.epoch) * TICKS_PER_SECOND + 1e-3
        if elapsed < 0:
            return -1
        q, r = divmod(int(elapsed), self.cycle)
        return q * len(self.pattern) + bisect.bisect_right(self.prefix, r) - 2

    def window(self, now: float) -> range:
        """MSNs in the live playlist at ``now``: the newest ``window`` published segments."""
        last = self.last_published(now)
        first = max(0, last - self.config.window + 1)
        return range(first, last + 1)

    # -- per-segment facts -------------------------------------------------------------------
    def start_ms(self, msn: int) -> int:
        """Unix milliseconds of the first sample of segment ``msn`` (its PROGRAM-DATE-TIME)."""
        return self.epoch_ms + (self.start_ticks(msn) * 1000 + TICKS_PER_SECOND // 2) // TICKS_PER_SECOND

    def pdt(self, msn: int) -> str:
        return format_pdt(self.start_ms(msn))

    def discontinuity(self, msn: int) -> bool:
        """The origin writes ``EXT-X-DISCONTINUITY`` before segment ``msn``."""
        every = self.config.discontinuity_every
        return bool(every) and msn > 0 and msn % every == self.config.discontinuity_phase

    def discontinuities_before(self, msn: int) -> int:
        """Discontinuities in front of segments ``1 .. msn - 1``: the DSN of a window at ``msn``."""
        every, phase = self.config.discontinuity_every, self.config.discontinuity_phase
        if not every or msn <= 1:
            return 0
        # Multiples k*every + phase in [1, msn - 1].
        first = phase if phase >= 1 else every
        return 0 if first > msn - 1 else (msn - 1 - first) // every + 1

    def last_discontinuity(self, msn: int) -> int:
        """The segment at or before ``msn`` where timestamps last restarted (0 at the start)."""
        every, phase = self.config.discontinuity_every, self.config.discontinuity_phase
        if not every:
            return 0
        candidate = msn - (msn - phase) % every
        return candidate if candidate > 0 else 0

    def pts(self, msn: int) -> int:
        """33-bit PTS (ticks) of the first frame of segment ``msn``, as the media carries it."""
        restart = self.start_ticks(self.last_discontinuity(msn))
        return (PTS_BASE_TICKS + self.start_ticks(msn) - restart) % PTS_WRAP

    # -- ad breaks ---------------------------------------------------------------------------
    def ad_break(self, index: int) -> AdBreak:
        """Break ``index``: spec ``index % len(specs)`` of cycle ``index // len(specs)``."""
        cycle, which = divmod(index, len(self.specs))
        start = -1
        end = -1
        for j in range(which + 1):  # a back-to-back break starts where its predecessor returns
            spec = self.specs[j]
            if not spec.back_to_back:
                start = self.msn_at_or_after(cycle * self.interval + to_ticks(spec.offset))
            else:
                start = end
            end = self.msn_nearest(self.start_ticks(start) + to_ticks(spec.actual))
        spec = self.specs[which]
        return AdBreak(
            index,
            start,
            max(end, start + 1),
            event_id=index % 0xFFFF_FFFF + 1,
            planned_ticks=to_ticks(spec.duration),
            early=spec.returns_after is not None,
        )

    def _cycle_of(self, msn: int) -> int:
        return self.start_ticks(max(msn, 0)) // self.interval

    def break_at(self, msn: int) -> AdBreak | None:
        """The break whose span contains ``msn``, if any."""
        if msn < 0:
            return None
        for found in self.breaks_touching(msn, msn):
            if msn in found:
                return found
        return None

    def breaks_touching(self, first: int, last: int, ahead: int = 0) -> list[AdBreak]:
        """Breaks overlapping segments ``first..last + ahead`` (or ending right after ``last``)."""
        per = len(self.specs)
        lo = max(0, self._cycle_of(first) - 1)
        hi = self._cycle_of(last + ahead) + 1
        found = (self.ad_break(k) for k in range(lo * per, (hi + 1) * per))
        return [b for b in found if b.end >= first and b.start <= last + ahead]

    def seconds(self, first: int, last: int) -> float:
        """Media seconds from the start of segment ``first`` to the start of segment ``last``."""
        return (self.start_ticks(last) - self.start_ticks(first)) / TICKS_PER_SECOND
