"""Lifecycle metrics exported from a durable ledger, so they survive the crashes they report.

A prometheus_client counter lives in its process: after a SIGKILL whatever it counted since the
last scrape is gone, and the replacement process counts again from zero, so Prometheus sees a
series that goes 5 → 3 (a reset: the 3 is counted, the lost events are not) or 5 → 5 (the five
events of the new process are invisible). Lifecycle events (actor instance starts, churn, instance
ends and lifetimes, young-instance requests, process starts) are exactly what happens around
crashes, so they are counted in SQL instead (ADR 0010): per worker *slot*, in the same
transaction as the actor or process record they describe, and exported by the process that holds
the slot. Their totals never go backwards across restarts, so ``increase()`` sees every event
whatever the scrape timing.

Two rules keep the export honest:

* Only committed values are exported. A value shown and then lost with its process would look
  like a counter reset, and ``increase()`` would count the whole total a second time.
* A series is shown at zero before its first value. Prometheus cannot see an increase into a
  series' first sample, so a series is exported at 0 until it is durably recorded (the row's
  ``exposed`` flag) that a collection has shown it: written with the row when a collection had
  already shown the series (at zero, as a channel's series that exists from the start), or
  marked after the collection that showed it at zero. Durably, because the slot's next process
  must never show zero for a series Prometheus has seen above zero (that reads as a reset).

This module is bookkeeping only (no I/O): ``sidecar.actors.lifecycle`` writes the rows and feeds
what was committed back in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

TOTAL = "total"
SUM = "sum"


def labels_key(labels: Mapping[str, str]) -> str:
    """The canonical text of a label set (the ledger's ``labels`` column)."""
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"), ensure_ascii=False)


def bound_text(bound: float) -> str:
    """A bucket bound as Prometheus' ``le`` label writes it (``600.0``, ``+Inf``)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


@dataclass(frozen=True)
class Sample:
    """One ledger row's identity (within a slot)."""

    family: str
    labels: str
    sample: str  # "total" (counter), "sum" or "le=<bound>" (histogram)

    @property
    def channel(self) -> tuple[str, str] | None:
        """The (org, channel) of a per-channel series, else None."""
        labels = json.loads(self.labels)
        if "org" in labels and "channel" in labels:
            return (str(labels["org"]), str(labels["channel"]))
        return None

    @property
    def group(self) -> tuple[str, str]:
        """The series group that is exposed (shown at zero) as a whole: a counter, or all the
        samples of one histogram label set."""
        return (self.family, self.labels)


Deltas = dict[Sample, float]


def merge(*parts: Deltas) -> Deltas:
    out: Deltas = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0.0) + value
    return out


class Family:
    """A declared ledger metric: name, help, label names, and the label sets that exist at zero
    from the start (fixed ``zero`` sets, or for per-channel families every known channel)."""

    kind = ""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        *,
        zero: tuple[tuple[str, ...], ...] = (),
        per_channel: tuple[tuple[str, ...], ...] | None = None,
    ) -> None:
        if per_channel is not None and labelnames[:2] != ("org", "channel"):
            raise ValueError(f"{name}: per-channel families start with the org and channel labels")
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self.zero = zero
        self.per_channel = per_channel

    def key(self, values: tuple[str, ...]) -> str:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        return labels_key(dict(zip(self.labelnames, values, strict=True)))

    def zero_keys(self, channels: Iterable[tuple[str, str]]) -> Iterator[str]:
        for values in self.zero:
            yield self.key(values)
        if self.per_channel is not None:
            for org, channel in channels:
                for extra in self.per_channel:
                    yield self.key((org, channel, *extra))

    def values_of(self, key: str) -> list[str]:
        labels = json.loads(key)
        return [str(labels.get(name, "")) for name in self.labelnames]

    def empty(self) -> Metric:
        raise NotImplementedError

    def export(self, groups: Mapping[str, Mapping[str, float]]) -> Metric:
        raise NotImplementedError


class LedgerCounter(Family):
    kind = "counter"

    def inc(self, *values: str, amount: float = 1.0) -> Deltas:
        return {Sample(self.name, self.key(values), TOTAL): amount}

    def empty(self) -> Metric:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def export(self, groups: Mapping[str, Mapping[str, float]]) -> Metric:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, samples in sorted(groups.items()):
            family.add_metric(self.values_of(key), samples.get(TOTAL, 0.0))
        return family


class LedgerHistogram(Family):
    kind = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...], *, buckets: tuple[float, ...],
                 zero: tuple[tuple[str, ...], ...] = ()) -> None:
        super().__init__(name, documentation, labelnames, zero=zero)
        self.buckets = (*sorted(buckets), math.inf)

    def observe(self, value: float, *values: str) -> Deltas:
        """Cumulative bucket rows (every bucket whose bound is >= value), the sum; the +Inf bucket
        is the count."""
        key = self.key(values)
        out: Deltas = {Sample(self.name, key, f"le={bound_text(b)}"): 1.0 for b in self.buckets if value <= b}
        out[Sample(self.name, key, SUM)] = value
        return out

    def empty(self) -> Metric:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def export(self, groups: Mapping[str, Mapping[str, float]]) -> Metric:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, samples in sorted(groups.items()):
            buckets = [(bound_text(b), samples.get(f"le={bound_text(b)}", 0.0)) for b in self.buckets]
            family.add_metric(self.values_of(key), buckets, sum_value=samples.get(SUM, 0.0))
        return family


class SlotLedger:
    """One worker slot's committed totals, as loaded from SQL and kept up to date after each
    commit. Exported by :class:`LedgerCollector` once loaded."""

    def __init__(self, collector: LedgerCollector, key: str) -> None:
        self.collector = collector
        self.key = key
        self.values: dict[Sample, float] = {}
        #: Groups recorded in SQL as seen by a scrape: their values are shown as they are.
        self.exposed: set[tuple[str, str]] = set()
        self.loaded = False
        #: Groups a collection has shown at zero, not yet recorded as exposed in SQL.
        self.unrecorded: set[tuple[str, str]] = set()

    def load(self, rows: Iterable[tuple[Sample, float, bool]]) -> None:
        self.values = {}
        self.exposed = set()
        for sample, value, exposed in rows:
            self.values[sample] = value
            if exposed:
                self.exposed.add(sample.group)
        self.loaded = True

    def exposure(self, deltas: Deltas) -> dict[Sample, bool]:
        """For rows about to be written: has a scrape seen their series already (so their value
        may be shown at once)? Written with the rows."""
        shown = self.collector.shown
        return {s: s.group in self.exposed or s.group in shown for s in deltas}

    def applied(self, deltas: Deltas, exposure: Mapping[Sample, bool]) -> None:
        """A transaction with these increments (and exposure flags) has committed."""
        for sample, delta in deltas.items():
            self.values[sample] = self.values.get(sample, 0.0) + delta
            if exposure.get(sample):
                self.exposed.add(sample.group)
                self.unrecorded.discard(sample.group)

    def recorded(self, groups: Iterable[tuple[str, str]]) -> None:
        """These groups' exposure has been written to SQL: show their values from now on."""
        for group in groups:
            self.unrecorded.discard(group)
            self.exposed.add(group)

    def value(self, family: str, labels: Mapping[str, str], sample: str = TOTAL) -> float:
        """The committed total (tests and logs; the export may still show it at zero)."""
        return self.values.get(Sample(family, labels_key(labels), sample), 0.0)

    def channels(self) -> set[tuple[str, str]]:
        """(org, channel) of every per-channel row: the channels this slot has served."""
        return {c for c in (s.channel for s in self.values) if c is not None}


class LedgerCollector(Collector):
    """Declares the ledger families and exports every loaded slot ledger of this process (one in
    production; tests run several). Nothing is exported before a ledger is loaded: zeros shown
    then would read as a reset of the totals the slot's previous process exported."""

    def __init__(self) -> None:
        self.families: list[Family] = []
        self.ledgers: dict[str, SlotLedger] = {}
        #: Groups some collection of this process has exported (at zero or more).
        self.shown: set[tuple[str, str]] = set()
        self.channels: set[tuple[str, str]] = set()

    def counter(self, name: str, documentation: str, labelnames: tuple[str, ...], **kw: Any) -> LedgerCounter:
        family = LedgerCounter(name, documentation, labelnames, **kw)
        self.families.append(family)
        return family

    def histogram(self, name: str, documentation: str, labelnames: tuple[str, ...], **kw: Any) -> LedgerHistogram:
        family = LedgerHistogram(name, documentation, labelnames, **kw)
        self.families.append(family)
        return family

    def know(self, org: str, channel: str) -> None:
        """A channel whose per-channel series should exist (at zero) from now on."""
        self.channels.add((org, channel))

    def ledger(self, key: str) -> SlotLedger:
        """A fresh ledger for ``key`` (store + slot), replacing any earlier one of this process."""
        ledger = self.ledgers[key] = SlotLedger(self, key)
        return ledger

    def forget(self, ledger: SlotLedger) -> None:
        if self.ledgers.get(ledger.key) is ledger:
            del self.ledgers[ledger.key]

    def describe(self) -> list[Metric]:
        return [f.empty() for f in self.families]

    def collect(self) -> list[Metric]:
        ledgers = [g for g in self.ledgers.values() if g.loaded]
        if not ledgers:
            return []
        groups: dict[str, dict[str, dict[str, float]]] = {f.name: {} for f in self.families}
        for ledger in ledgers:
            for sample, value in ledger.values.items():
                if sample.family not in groups:
                    continue  # a family this version no longer declares
                visible = sample.group in ledger.exposed
                if not visible:
                    ledger.unrecorded.add(sample.group)  # shown at zero now; recorded by the next flush
                samples = groups[sample.family].setdefault(sample.labels, {})
                samples[sample.sample] = samples.get(sample.sample, 0.0) + (value if visible else 0.0)
        for family in self.families:
            for key in family.zero_keys(self.channels):
                groups[family.name].setdefault(key, {})
        for name, by_key in groups.items():
            self.shown.update((name, key) for key in by_key)
        return [family.export(groups[family.name]) for family in self.families]
