"""A channel's durable ad-break state and the pure transitions that change it.

State is one JSON document per channel, versioned as a whole. Transitions are pure functions
(state, inputs, now) -> new state or None (no change), so the actor can re-run them on a fresh
copy after losing a compare-and-set race, and tests can check them without I/O.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

Source = Literal["scte35", "manual", "schedule"]
HISTORY_LIMIT = 50


class BreakActive(Exception):
    """A start was asked for while another break is running."""

    def __init__(self, current: AdBreak) -> None:
        super().__init__(f"break {current.id} is active until {current.ends_at:.3f}")
        self.current = current


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class PlanItemState(_Model):
    """One segment of the break's ad timeline (see sidecar.hls.splice.PlanItem)."""

    duration: float
    uris: tuple[tuple[int, str], ...]
    discontinuity: bool = False
    kind: str = "ad"


class AssetState(_Model):
    """One creative of the break, for SGAI asset lists: its renditions and duration."""

    duration: float
    variants: tuple[tuple[int, str], ...]
    ad_id: str | None = None
    kind: str = "ad"
    cut: bool = False  # a pod cut short to fit the break: not played from its own playlists


class AdTrackingState(_Model):
    """One ad of the break and where its tracking beacons belong on the break's timeline."""

    index: int
    offset: float  # seconds from the break's first replaced segment
    duration: float
    source: str = "pod"  # vast | pod
    ad_id: str | None = None
    impressions: tuple[str, ...] = ()
    events: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (start|firstQuartile|..., urls)
    error_urls: tuple[str, ...] = ()


class AdBreak(_Model):
    id: str
    source: Source
    event_id: str
    pod_id: str | None = None
    started_at: float = Field(description="Wall clock (Unix s) when the break was accepted")
    ends_at: float = Field(description="Wall clock (Unix s) when it ends unless stopped earlier")
    duration_seconds: float
    # The duration the break was announced with; ``duration_seconds`` may shrink later (early CUE-IN,
    # stop). None on breaks stored before it existed (their duration_seconds stands in).
    planned_seconds: float | None = None
    # Media-time anchor: the PDT (Unix s) of the splice point. Every variant and every viewer
    # splices here, whenever their request comes.
    start_pdt: float | None = None
    stopped_at: float | None = None
    # The ad timeline decided once for the break (same for every variant, reload and process).
    items: tuple[PlanItemState, ...] = ()
    assets: tuple[AssetState, ...] = ()
    ads: tuple[AdTrackingState, ...] = ()
    fill_source: str | None = None  # vast | pod | slate | none
    fill_reason: str | None = None
    # Observed from the origin window once, then fixed (see sidecar.hls.splice.Observation).
    first_msn: int | None = None
    first_pdt: float | None = None
    replaced: int | None = None
    replaced_seconds: float | None = None
    shown: int | None = None
    inserted_discontinuities: int | None = None
    resume_discontinuity: bool = True
    absorbed: tuple[int, ...] = ()

    @property
    def final(self) -> bool:
        return self.replaced is not None and self.first_msn is not None and self.shown is not None

    def active(self, now: float) -> bool:
        return self.stopped_at is None and now < self.ends_at


class ChannelState(_Model):
    current: AdBreak | None = None
    history: tuple[AdBreak, ...] = ()
    # Offsets contributed by breaks folded out of ``history`` (long before any live window).
    base_msn: int = 0
    base_dsn: int = 0

    def breaks(self) -> tuple[AdBreak, ...]:
        return (*self.history, self.current) if self.current is not None else self.history

    def active_break(self, now: float) -> AdBreak | None:
        return self.current if self.current is not None and self.current.active(now) else None

    def knows_event(self, event_id: str) -> bool:
        if self.current is not None and self.current.event_id == event_id:
            return True
        return any(b.event_id == event_id for b in self.history)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Any) -> ChannelState:
        return cls.model_validate(data or {})


def _retire(state: ChannelState, ended: AdBreak | None) -> ChannelState:
    """Move the ended break into history; fold the oldest into the base offsets."""
    history = state.history if ended is None else (*state.history, ended)
    base_msn, base_dsn = state.base_msn, state.base_dsn
    while len(history) > HISTORY_LIMIT:
        old, history = history[0], history[1:]
        if old.final:
            base_msn += (old.shown or 0) - (old.replaced or 0)
            base_dsn += (old.inserted_discontinuities or 0) - len(old.absorbed)
    return ChannelState(current=None, history=history, base_msn=base_msn, base_dsn=base_dsn)


def media_length(brk: AdBreak) -> float:
    """How much media time a break covers: what it replaced once known, else its duration."""
    if brk.replaced_seconds is not None:
        return max(brk.replaced_seconds, 0.0)
    return brk.duration_seconds


def start_break(
    state: ChannelState,
    *,
    now: float,
    duration: float,
    source: Source,
    event_id: str | None = None,
    pod_id: str | None = None,
    start_pdt: float | None = None,
    items: tuple[PlanItemState, ...] = (),
    assets: tuple[AssetState, ...] = (),
    ads: tuple[AdTrackingState, ...] = (),
    fill_source: str | None = None,
    fill_reason: str | None = None,
    break_id: str | None = None,
) -> ChannelState | None:
    """Start a break. Idempotent per event id: a cue seen again (every reload shows it) changes
    nothing, and neither restarts nor extends the break. Returns None when nothing changes."""
    if event_id is not None and state.knows_event(event_id):
        return None
    if start_pdt is not None:
        # Breaks never overlap in media time, whatever the wall clock says: a break may start
        # where another ends (back-to-back breaks), not inside it. Media time runs behind the
        # wall clock, so a break the wall clock calls over can still be playing.
        for other in state.breaks():
            if other.start_pdt is None or (other.stopped_at is not None and other.duration_seconds <= 0):
                continue
            if (
                other.start_pdt - 0.25 < start_pdt + duration
                and start_pdt < other.start_pdt + media_length(other) - 0.25
            ):
                raise BreakActive(other)
    else:
        running = state.active_break(now)
        if running is not None:
            raise BreakActive(running)
    event = event_id or f"{source}-{secrets.token_hex(6)}"
    new = AdBreak(
        id=break_id or f"brk_{secrets.token_hex(6)}",
        source=source,
        event_id=event,
        pod_id=pod_id,
        started_at=now,
        ends_at=now + duration,
        duration_seconds=duration,
        planned_seconds=duration,
        start_pdt=start_pdt,
        items=items,
        assets=assets,
        ads=ads,
        fill_source=fill_source,
        fill_reason=fill_reason,
    )
    return _retire(state, state.current).model_copy(update={"current": new})


def stop_break(state: ChannelState, *, now: float) -> ChannelState | None:
    """End the running break now. Stopping when nothing runs changes nothing."""
    running = state.active_break(now)
    if running is None:
        return None
    update: dict[str, Any] = {"stopped_at": now, "ends_at": min(running.ends_at, now)}
    if running.start_pdt is not None and not running.final:
        # Shorten in media time too: the break ends about where the live edge has reached
        # (PDT runs a little behind the wall clock, so this errs on the late side).
        update["duration_seconds"] = max(0.0, min(running.duration_seconds, now - running.start_pdt))
    return state.model_copy(update={"current": running.model_copy(update=update)})


def update_break(state: ChannelState, break_id: str, changes: dict[str, Any]) -> ChannelState | None:
    """Record observations (or a shortened duration) on one break; None when nothing changes."""
    breaks = list(state.history)
    current = state.current
    for i, brk in enumerate(breaks):
        if brk.id == break_id:
            new = brk.model_copy(update=changes)
            if new == brk:
                return None
            breaks[i] = new
            return state.model_copy(update={"history": tuple(breaks)})
    if current is not None and current.id == break_id:
        new = current.model_copy(update=changes)
        if new == current:
            return None
        return state.model_copy(update={"current": new})
    return None


def describe(state: ChannelState, version: int, updated_at: float, now: float) -> dict[str, Any]:
    """The API view of a channel's break state (the seed's fields plus the break itself)."""
    current = state.current
    running = state.active_break(now)
    return {
        "active": running is not None,
        "pod": current.pod_id if current else None,
        "source": current.source if current else None,
        "eventId": current.event_id if current else None,
        "startedAt": current.started_at if current else None,
        "endsAt": current.ends_at if current else None,
        "version": version,
        "updatedAt": updated_at,
        "break": current.model_dump(mode="json", by_alias=True) if current else None,
    }
