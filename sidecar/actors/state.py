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


class AdBreak(_Model):
    id: str
    source: Source
    event_id: str
    pod_id: str | None = None
    started_at: float = Field(description="Wall clock (Unix s) when the break was accepted")
    ends_at: float = Field(description="Wall clock (Unix s) when it ends unless stopped earlier")
    duration_seconds: float
    # Media-time anchor: the PDT (Unix s) of the splice point. Every variant and every viewer
    # splices here, whenever their request comes.
    start_pdt: float | None = None
    stopped_at: float | None = None

    def active(self, now: float) -> bool:
        return self.stopped_at is None and now < self.ends_at


class ChannelState(_Model):
    current: AdBreak | None = None
    history: tuple[AdBreak, ...] = ()

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


def _retire(state: ChannelState, ended: AdBreak | None) -> tuple[AdBreak, ...]:
    if ended is None:
        return state.history
    return (*state.history, ended)[-HISTORY_LIMIT:]


def start_break(
    state: ChannelState,
    *,
    now: float,
    duration: float,
    source: Source,
    event_id: str | None = None,
    pod_id: str | None = None,
    start_pdt: float | None = None,
) -> ChannelState | None:
    """Start a break. Idempotent per event id: a cue seen again (every reload shows it) changes
    nothing, and neither restarts nor extends the break. Returns None when nothing changes."""
    if event_id is not None and state.knows_event(event_id):
        return None
    running = state.active_break(now)
    if running is not None:
        raise BreakActive(running)
    event = event_id or f"{source}-{secrets.token_hex(6)}"
    new = AdBreak(
        id=f"brk_{secrets.token_hex(6)}",
        source=source,
        event_id=event,
        pod_id=pod_id,
        started_at=now,
        ends_at=now + duration,
        duration_seconds=duration,
        start_pdt=start_pdt,
    )
    return ChannelState(current=new, history=_retire(state, state.current))


def stop_break(state: ChannelState, *, now: float) -> ChannelState | None:
    """End the running break now. Stopping when nothing runs changes nothing."""
    running = state.active_break(now)
    if running is None:
        return None
    stopped = running.model_copy(update={"stopped_at": now, "ends_at": min(running.ends_at, now)})
    return ChannelState(current=stopped, history=state.history)


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
