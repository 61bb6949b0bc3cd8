"""The service's own counters, scraped straight from its /metrics before and after a run.

This is how a report proves itself: the requests the client counted must equal the increase of
``ssai_manifest_requests_total`` the service counted for the load test's channels, summed over
every worker's /metrics. No Prometheus is needed (and no rate extrapolation is involved), so a
short run in CI can compare exact integers.

A worker restarted during the run starts its counters from zero, and what the killed process
counted is gone: its scrape target's delta is then only a lower bound, and the comparison is
flagged as ``counter_reset``. A restart is recognised by a changed ``process_start_time_seconds``
(counters of channels created just before the run start at zero, so "a counter went down"
alone would miss it), or else by a counter that went down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

#: (metric sample name, label names kept as the key); everything else is summed away.
COUNTERS: Mapping[str, tuple[str, ...]] = {
    "ssai_manifest_requests_total": ("kind", "status"),
    "ssai_config_cache_requests_total": ("result",),
    "ssai_cue_requests_total": ("action", "result"),
    "ssai_state_persist_total": ("result",),
    "ssai_actor_churn_total": (),
    "ssai_actor_instance_starts_total": ("reason",),
    "ssai_playlist_validation_failures_total": ("rule",),
}
#: Series that carry org/channel labels: only the load test's channels count.
PER_CHANNEL = {
    "ssai_manifest_requests_total",
    "ssai_config_cache_requests_total",
    "ssai_actor_churn_total",
    "ssai_actor_instance_starts_total",
}

Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Snapshot:
    """Summed counter values per (name, kept labels), per scrape URL."""

    values: dict[str, dict[Key, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: ``process_start_time_seconds`` of the process behind each URL (when it exports it).
    started: dict[str, float] = field(default_factory=dict)


START_TIME = "process_start_time_seconds"


def start_time(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == START_TIME:
                return float(sample.value)
    return None


def parse(text: str, org: str, channels: Iterable[str]) -> dict[Key, float]:
    wanted = set(channels)
    out: dict[Key, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            keep = COUNTERS.get(sample.name)
            if keep is None:
                continue
            labels = sample.labels
            if sample.name in PER_CHANNEL and (labels.get("org") != org or labels.get("channel") not in wanted):
                continue
            out[(sample.name, tuple((k, labels.get(k, "")) for k in keep))] += sample.value
    return dict(out)


async def snapshot(http: aiohttp.ClientSession, urls: Iterable[str], org: str, channels: Iterable[str]) -> Snapshot:
    chans = list(channels)
    snap = Snapshot()
    for url in urls:
        try:
            async with http.get(url) as resp:
                text = await resp.text()
                if resp.status != 200:
                    raise OSError(f"HTTP {resp.status}")
            snap.values[url] = parse(text, org, chans)
            started = start_time(text)
            if started is not None:
                snap.started[url] = started
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            snap.errors[url] = f"{type(exc).__name__}: {exc}"
    return snap


def delta(before: Snapshot, after: Snapshot) -> tuple[dict[str, dict[str, float]], bool]:
    """Increase per metric and label key, summed over scrape URLs, and whether a counter reset
    (a restarted worker) made part of it a lower bound."""
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    reset = False
    for url, now in after.values.items():
        then = before.values.get(url, {})
        restarted = before.started.get(url) != after.started.get(url)
        if restarted or any(now.get(k, 0.0) < v for k, v in then.items()):
            reset = True
            then = {}  # the process restarted: everything it counted since is new
        for key, value in now.items():
            name, labels = key
            label = ",".join(f"{k}={v}" for k, v in labels) or "total"
            totals[name][label] += value - then.get(key, 0.0)
    return {name: dict(sorted(values.items())) for name, values in sorted(totals.items())}, reset


def manifest_counts(increase: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    """``ssai_manifest_requests_total`` increase by status (all kinds)."""
    out: dict[str, float] = defaultdict(float)
    for label, value in increase.get("ssai_manifest_requests_total", {}).items():
        status = dict(part.split("=", 1) for part in label.split(","))["status"]
        out[status] += value
    return {k: round(v) for k, v in sorted(out.items())}
