"""Named origin scenarios: the live-origin behaviours an ad inserter meets in the field.

Each scenario is an :class:`OriginConfig` (``sidecar origin --scenario NAME``, or
:func:`scenario_config` from tests). Shapes are given in segments, so one scenario runs at full
scale (6 s segments: 30 s breaks every 60 s in a 36 s window) or scaled down for tests (1 s
segments: 5 s breaks every 10 s in a 6 s window) without changing what it exercises.

Dialects: ``elemental`` (CUE-OUT/CONT/IN), ``daterange`` (DATERANGE SCTE35-OUT/IN as
splice_insert), ``daterange-timesignal`` (as time_signal with segmentation descriptors),
``oatcls`` (EXT-OATCLS-SCTE35 with EXT-X-ASSET), ``oatcls-timesignal``.

Shapes (Elemental cues unless the scenario says otherwise):

* ``long-break``: 120 s breaks (20 segments).
* ``back-to-back``: two breaks per cycle, the second's CUE-OUT on the segment of the first's CUE-IN.
* ``early-return``: CUE-OUT:30, then CUE-IN 18 s into the break.
* ``jitter``: segments of 6.006/5.96/6.006 s (29.97 fps encoders; target duration 6).
* ``join-mid-break``: a 120 s break is 48 s under way when the origin starts, so a channel played
  right away sees only CUE-OUT-CONT lines (the CUE-OUT has slid out of the window).
* ``flaky``: 503 on every 5th request of each playlist, every 7th cut mid-line.
* ``discontinuities``: an encoder discontinuity every 7th segment, inside breaks and in content.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sidecar.origin.config import BreakSpec, CueFlavour, OriginConfig

FULL_SCALE_SEGMENT = 6.0
WINDOW = 6  # segments: a 36 s window at full scale
BREAK = 5  # segments: 30 s
INTERVAL = 10  # segments: 60 s
LEAD = 2  # segments of DATERANGE look-ahead: 12 s


@dataclass(frozen=True)
class Scenario:
    """A named origin behaviour. ``fields`` gives the config fields for a segment duration."""

    name: str
    summary: str
    fields: Callable[[float], dict[str, Any]]
    join_after: float | None = None  # segments into a break the origin starts (join-mid-break)


def _dialect(flavour: CueFlavour) -> Callable[[float], dict[str, Any]]:
    return lambda seg: {"cue_flavour": flavour}


def _shape(**extra: Any) -> Callable[[float], dict[str, Any]]:
    """Elemental cues plus ``extra``; callables in it get the segment duration."""

    def fields(seg: float) -> dict[str, Any]:
        out: dict[str, Any] = {"cue_flavour": "cue-out"}
        for key, value in extra.items():
            out[key] = value(seg) if callable(value) else value
        return out

    return fields


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("elemental", "EXT-X-CUE-OUT / CUE-OUT-CONT / CUE-IN (Elemental)", _dialect("cue-out")),
        Scenario("daterange", "EXT-X-DATERANGE SCTE35-OUT/IN, splice_insert", _dialect("daterange")),
        Scenario(
            "daterange-timesignal",
            "EXT-X-DATERANGE SCTE35-OUT/IN, time_signal with segmentation descriptors",
            _dialect("daterange-timesignal"),
        ),
        Scenario("oatcls", "EXT-OATCLS-SCTE35 + EXT-X-ASSET + CUE-OUT/CONT/IN", _dialect("oatcls-asset")),
        Scenario("oatcls-timesignal", "EXT-OATCLS-SCTE35 time_signal 0x34/0x35", _dialect("oatcls-timesignal")),
        Scenario(
            "long-break",
            "120 s breaks: the slate loops long after the pod",
            _shape(break_duration=lambda seg: 20 * seg, break_interval=lambda seg: 30 * seg),
        ),
        Scenario(
            "back-to-back",
            "two breaks per cycle: CUE-IN and the next CUE-OUT on the same segment",
            _shape(
                breaks=lambda seg: (BreakSpec(0.0, BREAK * seg), BreakSpec(duration=BREAK * seg, back_to_back=True)),
                break_interval=lambda seg: 14 * seg,
            ),
        ),
        Scenario(
            "early-return",
            "CUE-OUT:30 then CUE-IN 18 s into the break",
            _shape(breaks=lambda seg: (BreakSpec(0.0, BREAK * seg, returns_after=3 * seg),)),
        ),
        Scenario(
            "jitter",
            "segments of 6.006 / 5.96 / 6.006 s (target duration 6)",
            _shape(segment_pattern=lambda seg: (seg + 0.006, seg - 0.04, seg + 0.006)),
        ),
        Scenario(
            "join-mid-break",
            "a 120 s break already 48 s under way at start: only CUE-OUT-CONT visible",
            _shape(break_duration=lambda seg: 20 * seg, break_interval=lambda seg: 40 * seg),
            join_after=8,
        ),
        Scenario(
            "flaky",
            "503 on every 5th playlist request, every 7th cut mid-line",
            _shape(fail_every=5, truncate_every=7),
        ),
        Scenario(
            "discontinuities",
            "an encoder discontinuity every 7th segment, in content and inside breaks",
            _shape(discontinuity_every=7, discontinuity_phase=3),
        ),
    )
}


def scenario_config(
    name: str,
    *,
    segment: float = FULL_SCALE_SEGMENT,
    first_break_in: float | None = None,
    now: float | None = None,
    **overrides: Any,
) -> OriginConfig:
    """The origin config of scenario ``name`` with ``segment``-second segments.

    ``first_break_in``: seconds from ``now`` until a break starts (its CUE-OUT), by moving the
    epoch; None keeps breaks on wall-clock multiples of the cycle, except for ``join-mid-break``,
    which always starts inside a break. ``overrides`` are further :class:`OriginConfig` fields.
    Raises KeyError for an unknown name and ValueError for an invalid result.
    """
    scenario = SCENARIOS[name]
    fields: dict[str, Any] = {
        "segment_duration": segment,
        "window": WINDOW,
        "break_duration": BREAK * segment,
        "break_interval": INTERVAL * segment,
        "daterange_lead": LEAD * segment,
        "slate_duration": segment,
        "pods": {"pod-a": (2 * segment, 2 * segment)},
    }
    fields.update(scenario.fields(segment))
    if first_break_in is None and scenario.join_after is not None:
        first_break_in = -scenario.join_after * segment
    if first_break_in is not None:
        clock = time.time() if now is None else now
        # Break 0 of cycle 1 starts first_break_in from now (cycle 0 is long past or under way).
        offset = fields["breaks"][0].offset if fields.get("breaks") else 0.0
        fields["epoch"] = round(clock + first_break_in - fields["break_interval"] - offset, 3)
    fields.update(overrides)
    return OriginConfig(**fields)
