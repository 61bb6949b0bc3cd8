"""What the simulated viewers saw, and the statistics the report is made of.

Pure (no I/O), so the numbers in a report can be recomputed and tested from the samples alone.
Percentiles use the nearest-rank method on the exact latencies (no histogram buckets), so a
client-side p99 here is not interpolated the way Prometheus' ``histogram_quantile`` is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)


@dataclass(frozen=True, slots=True)
class Sample:
    """One viewer request. ``status`` 0 means no HTTP answer (``error`` names the exception);
    for an error answer, ``error`` is the service's problem type (``origin-timeout`` ...)."""

    t: float  # seconds since the run started, when the request was sent
    latency: float  # seconds until the whole body was read (or the failure)
    status: int
    kind: str  # master | media
    channel: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class Event:
    """One scheduled action (cue, config update, restart) and how it went."""

    t: float
    kind: str  # cue | config | restart
    target: str
    ok: bool
    latency: float
    detail: str = ""


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def cause(sample: Sample) -> str:
    """How a failed request failed: ``http_<status>[:<problem type>]`` or the exception name."""
    if sample.status:
        return f"http_{sample.status}" + (f":{sample.error}" if sample.error else "")
    return sample.error or "error"


def failures(samples: Sequence[Sample], limit: int = 20) -> list[dict[str, Any]]:
    """The first ``limit`` failed requests, for the report's diagnosis table."""
    return [
        {
            "t": round(s.t, 3),
            "kind": s.kind,
            "channel": s.channel,
            "cause": cause(s),
            "latency_ms": round(s.latency * 1000, 2),
        }
        for s in samples
        if not s.ok
    ][:limit]


def latency_stats(samples: Iterable[Sample]) -> dict[str, Any]:
    """Counts and latency percentiles (milliseconds) of successful requests, plus error causes."""
    items = list(samples)
    ok = [s.latency for s in items if s.ok]
    out: dict[str, Any] = {
        "requests": len(items),
        "ok": len(ok),
        "errors": len(items) - len(ok),
        "error_ratio": (len(items) - len(ok)) / len(items) if items else 0.0,
        "error_causes": dict(sorted(Counter(cause(s) for s in items if not s.ok).items())),
    }
    for p in PERCENTILES:
        value = percentile(ok, p)
        out[f"p{p:g}_ms"] = None if value is None else round(value * 1000, 3)
    out["max_ms"] = round(max(ok) * 1000, 3) if ok else None
    return out


def summarise(samples: Sequence[Sample]) -> dict[str, Any]:
    """Overall, per request kind and per channel."""
    kinds = sorted({s.kind for s in samples})
    channels = sorted({s.channel for s in samples})
    return {
        "overall": latency_stats(samples),
        "by_kind": {k: latency_stats(s for s in samples if s.kind == k) for k in kinds},
        "by_channel": {c: latency_stats(s for s in samples if s.channel == c) for c in channels},
        "first_failures": failures(samples),
    }


def timeline(samples: Sequence[Sample], duration: float, step: float = 1.0) -> list[dict[str, Any]]:
    """Per ``step`` seconds (by send time): requests, errors and latency percentiles (ms)."""
    buckets: list[list[Sample]] = [[] for _ in range(max(1, math.ceil(duration / step)))]
    for s in samples:
        index = min(int(s.t // step), len(buckets) - 1)
        buckets[max(index, 0)].append(s)
    rows = []
    for i, bucket in enumerate(buckets):
        ok = [s.latency for s in bucket if s.ok]
        row: dict[str, Any] = {
            "t": round(i * step, 3),
            "requests": len(bucket),
            "errors": len(bucket) - len(ok),
        }
        for p in PERCENTILES:
            value = percentile(ok, p)
            row[f"p{p:g}_ms"] = None if value is None else round(value * 1000, 3)
        rows.append(row)
    return rows
