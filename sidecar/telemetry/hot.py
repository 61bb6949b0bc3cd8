"""Hot-path accumulation for catalogue metrics.

prometheus_client takes a lock on every increment; on the variant playlist path, which
answers from memory in ~12 µs, five metric updates were a large share of the cost. A hot
instrument adds to plain integers instead, and folds them into the catalogue metric whenever the
registry is collected (a scrape, a test reading a sample): the exposed values are exact at every
read. Single-threaded use only (the event loop); collection runs in that same thread.

A *fresh* instrument (``fresh=True``, for series whose labels appear at run time: a channel, an
org) folds nothing into its metric until one collection has exported the series: that first
collection shows it at its starting value (0), so Prometheus sees the first increments as an
increase rather than as the value the series was born with (ADR 0010).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from prometheus_client.registry import Collector

_instruments: dict[tuple[int, tuple[str, ...]], HotCounter | HotHistogram] = {}


class HotCounter:
    __slots__ = ("_child", "_hold", "n")

    def __init__(self, child: Any, hold: bool = False) -> None:
        self._child = child
        self._hold = hold
        self.n = 0

    def inc(self) -> None:
        self.n += 1

    def flush(self) -> None:
        if self._hold:  # this collection shows the series as it was born
            self._hold = False
            return
        if self.n:
            n, self.n = self.n, 0
            self._child.inc(n)


class HotHistogram:
    __slots__ = ("_bounds", "_child", "_counts", "_hold", "_sum")

    def __init__(self, child: Any, hold: bool = False) -> None:
        self._child = child
        self._hold = hold
        self._bounds: list[float] = list(child._upper_bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1  # first bucket with value <= bound
        self._sum += value

    def flush(self) -> None:
        if self._hold:
            self._hold = False
            return
        counts, self._counts = self._counts, [0] * len(self._bounds)
        total, self._sum = self._sum, 0.0
        for i, count in enumerate(counts):
            if count:
                self._child._buckets[i].inc(count)
        if total:
            self._child._sum.inc(total)


def counter(metric: Any, *labels: str, fresh: bool = False) -> HotCounter:
    key = (id(metric), labels)
    found = _instruments.get(key)
    if found is None:
        found = _instruments[key] = HotCounter(metric.labels(*labels) if labels else metric, fresh)
    assert isinstance(found, HotCounter)
    return found


def histogram(metric: Any, *labels: str, fresh: bool = False) -> HotHistogram:
    key = (id(metric), labels)
    found = _instruments.get(key)
    if found is None:
        found = _instruments[key] = HotHistogram(metric.labels(*labels) if labels else metric, fresh)
    assert isinstance(found, HotHistogram)
    return found


def flush() -> None:
    for instrument in list(_instruments.values()):
        instrument.flush()


class FlushOnCollect(Collector):
    """Registered before every catalogue metric, so a collection sees the flushed values."""

    def collect(self) -> list[Any]:
        flush()
        return []
