"""Between the actor's durable break records and the pure splicer's plans."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sidecar.actors.state import AdBreak
from sidecar.hls.splice import BreakPlan, Observation, PlanItem


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def to_plan(
    brk: AdBreak, *, asset_list: str = "", restrict: str | None = None, snap: str | None = None
) -> BreakPlan | None:
    if brk.start_pdt is None:
        return None
    return BreakPlan(
        id=brk.id,
        start=datetime.fromtimestamp(brk.start_pdt, UTC),
        duration=brk.duration_seconds,
        items=tuple(
            PlanItem(i.duration, tuple(tuple(u) for u in i.uris), i.discontinuity, i.kind)  # type: ignore[misc]
            for i in brk.items
        ),
        first_msn=brk.first_msn,
        first_pdt=_dt(brk.first_pdt),
        replaced=brk.replaced,
        replaced_seconds=brk.replaced_seconds,
        shown=brk.shown,
        inserted_discontinuities=brk.inserted_discontinuities,
        resume_discontinuity=brk.resume_discontinuity,
        absorbed=brk.absorbed,
        asset_list=asset_list,
        restrict=restrict,
        snap=snap,
        planned=brk.planned_seconds,
    )


def observation_changes(obs: Observation) -> dict[str, Any]:
    """The AdBreak fields an observation sets (only the ones it learned)."""
    changes: dict[str, Any] = {}
    for name in (
        "first_msn",
        "replaced",
        "replaced_seconds",
        "shown",
        "inserted_discontinuities",
        "resume_discontinuity",
        "absorbed",
    ):
        value = getattr(obs, name)
        if value is not None:
            changes[name] = value
    if obs.first_pdt is not None:
        changes["first_pdt"] = obs.first_pdt.timestamp()
    return changes
