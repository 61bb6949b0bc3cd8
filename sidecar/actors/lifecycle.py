"""Deciding what a new instance's start means, from the previous instance's durable record.

The seed judged churn from the time since the previous instance was *created*, so every
ordinary idle eviction looked like churn. Here an instance that ended cleanly (evicted after
idling, or shut down) is never churn; churn is a new instance starting while its predecessor
was still alive, i.e. heartbeating within the window without a clean end.
"""

from __future__ import annotations

from typing import Literal

from sidecar.actors.durable import InstanceRecord

StartReason = Literal["new", "clean", "churn", "stale"]


def classify_start(previous: InstanceRecord | None, now: float, window: float) -> StartReason:
    if previous is None:
        return "new"
    if previous.evicted_at is not None:
        return "clean"
    if now - previous.heartbeat_at <= window:
        return "churn"
    return "stale"
