"""Beacon queue data: what a beacon is, the queue interface, and the knobs both queues share.

Kept apart from the queues so the producer side (the manifest path that builds ``Beacon`` values)
imports no Redis or HTTP code, and so both queue implementations validate options the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

#: The server-side tracking events we fire. ``beacons_total`` is labelled by event, so the set is
#: closed: anything else is refused at ``schedule`` time (a label per VAST event name would be an
#: unbounded-cardinality bug waiting for a creative with a custom ``<Tracking event=...>``).
EVENTS: frozenset[str] = frozenset(
    ("impression", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "error")
)


class Outcome(StrEnum):
    """Final result of one beacon; the values are the ``beacons_total`` ``result`` label."""

    SENT = "sent"
    FAILED = "failed"
    DROPPED = "dropped"


@dataclass(frozen=True)
class Beacon:
    """One tracking URL to GET once, at ``due_at``.

    ``key`` is the idempotency key (break, ad index, event, URL index: ``"brk_x:0:impression:0"``).
    It must not contain a timestamp or anything else that varies per render: the seed's
    ``{event}-{adId}-{ts}`` key never matched twice, so its de-duplication did nothing (seed
    review §4.3). Any process that renders the same break derives the same key, and the queue
    sends it once.

    ``url`` is the template as the VAST gave it; ``[CACHEBUSTING]`` and ``[TIMESTAMP]`` are filled
    when it is sent, not when it is scheduled. Error URLs should arrive with ``[ERRORCODE]``
    already filled (the VAST client's ``ErrorPing`` does that).
    """

    key: str
    event: str
    url: str
    due_at: float
    org: str
    channel: str

    def to_json(self) -> str:
        """Compact payload stored in Redis (the key travels next to it, not inside)."""
        return json.dumps(
            {"e": self.event, "u": self.url, "d": self.due_at, "o": self.org, "c": self.channel},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, key: str, payload: str | bytes) -> Beacon:
        """Inverse of ``to_json``; raises ``ValueError`` on anything malformed (a poison entry)."""
        try:
            data: Any = json.loads(payload)
            beacon = cls(
                key=key,
                event=str(data["e"]),
                url=str(data["u"]),
                due_at=float(data["d"]),
                org=str(data.get("o", "")),
                channel=str(data.get("c", "")),
            )
        except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed beacon payload: {exc}") from exc
        if beacon.event not in EVENTS:
            raise ValueError(f"unknown beacon event {beacon.event!r}")
        return beacon


@runtime_checkable
class BeaconQueue(Protocol):
    """What the service needs from a beacon queue (Redis-backed or in-process)."""

    async def schedule(self, beacons: Sequence[Beacon]) -> int:
        """Queue beacons for sending at their ``due_at``; returns how many were new (not duplicates)."""
        ...

    async def start(self) -> None:
        """Start the background scheduler and senders."""
        ...

    async def close(self) -> None:
        """Stop the background tasks (in-flight sends get ``drain_timeout`` to finish)."""
        ...

    async def stats(self) -> tuple[int, float]:
        """``(depth, oldest_age_s)``: beacons not yet acknowledged, and how overdue the oldest is."""
        ...


@dataclass(frozen=True)
class BeaconOptions:
    """Tuning for both queues. Defaults suit production; tests shrink the times.

    ``claim_idle`` must exceed the longest a consumer can legitimately hold an entry (every attempt
    timing out plus every backoff sleep), or a healthy but slow consumer would have its entries
    claimed and sent a second time by another. ``__post_init__`` enforces that.
    """

    timeout: float = 2.0  # per HTTP attempt; trackers answer in milliseconds or not at all
    attempts: int = 3  # total tries for transient failures (timeout, connection error, 5xx)
    backoff: float = 0.5  # first retry delay; doubles per retry, with +-20 % jitter
    concurrency: int = 32  # sends in flight per process
    poll_interval: float = 0.25  # how often due entries are moved and the stream is polled
    batch: int = 64  # most entries moved or read per Redis call
    claim_idle: float = 30.0  # a pending entry idle this long belongs to a dead consumer
    dedupe_ttl: float = 3600.0  # how long a key stays "already scheduled / delivered" after its due time
    gauge_interval: float = 5.0  # how often the queue gauges are refreshed
    redis_backoff_max: float = 5.0  # cap of the consumer's back-off while Redis is down
    drain_timeout: float = 2.0  # close() waits this long for in-flight sends
    max_memory_queue: int = 100_000  # in-process queue bound (beyond: dropped, logged)
    prefix: str = "sidecar:beacons"  # Redis key prefix (hash-tagged, so one cluster slot)
    group: str = "senders"  # Redis consumer group

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if self.concurrency < 1 or self.batch < 1:
            raise ValueError("concurrency and batch must be >= 1")
        for name in ("timeout", "poll_interval", "claim_idle", "dedupe_ttl", "gauge_interval", "redis_backoff_max"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.backoff < 0 or self.drain_timeout < 0:
            raise ValueError("backoff and drain_timeout must be >= 0")
        if self.claim_idle <= self.worst_case_send:
            raise ValueError(
                f"claim_idle ({self.claim_idle}s) must exceed the longest send with retries "
                f"({self.worst_case_send:.2f}s), or live consumers' entries get claimed and re-sent"
            )

    @property
    def worst_case_send(self) -> float:
        """Longest one beacon can take: every attempt times out, every backoff at its +20 % jitter."""
        sleeps = sum(self.retry_delay(i) * 1.2 for i in range(1, self.attempts))
        return self.attempts * self.timeout + sleeps + 0.25  # + margin for the marker check and ack

    def retry_delay(self, retry: int) -> float:
        """Base delay before retry number ``retry`` (1-based), before jitter."""
        return math.ldexp(self.backoff, max(0, retry - 1))
