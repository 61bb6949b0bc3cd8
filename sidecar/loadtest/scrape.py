"""The service's own counters, scraped straight from its /metrics during the run.

This is how a report proves itself: the requests the client counted must equal the increase of
``ssai_manifest_requests_total`` the service counted for the load test's channels. No
Prometheus is needed and nothing is extrapolated, so a short run in CI compares exact integers.

The endpoint is scraped before the first viewer starts, every ``--scrape-interval`` during the
run, just before each worker the load test kills, and after the last answer. Increases add up per
series, each series being one worker's (the ``worker`` label of the one scrape endpoint, ADR
0014; or the URL), the way Prometheus' ``increase()`` does without its extrapolation: a counter
that went down, or a worker whose ``process_start_time_seconds`` changed, was reset and
everything it shows is new. With no restarts the result is exact. A killed worker loses only what
it counted after the scrape just before its kill (the load test scrapes right before it kills);
such a run is flagged ``counter_reset``.
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
    "ssai_actor_young_instance_requests_total": (),
    "ssai_actor_instance_starts_total": ("reason",),
    "ssai_playlist_validation_failures_total": ("rule",),
    "ssai_worker_restarts_total": (),
}
#: Series that carry org/channel labels: only the load test's channels count.
PER_CHANNEL = {
    "ssai_manifest_requests_total",
    "ssai_config_cache_requests_total",
    "ssai_actor_churn_total",
    "ssai_actor_young_instance_requests_total",
    "ssai_actor_instance_starts_total",
}
START_TIME = "process_start_time_seconds"
#: The supervisor's own series: their ``worker`` label names the worker they are about, not the
#: process that counts them (the supervisor, which does not restart with a worker).
SUPERVISOR = {"ssai_worker_restarts_total", "ssai_worker_up"}
SUPERVISOR_PROCESS = "supervisor"

#: (metric name, kept labels)
Key = tuple[str, tuple[tuple[str, str], ...]]
#: (scrape URL, worker label or "")
Process = tuple[str, str]


@dataclass
class Scrape:
    """One scrape of one URL: counter values and start times, per worker."""

    values: dict[Process, dict[Key, float]] = field(default_factory=dict)
    started: dict[Process, float] = field(default_factory=dict)


def parse(text: str, url: str, org: str, channels: Iterable[str]) -> Scrape:
    wanted = set(channels)
    out = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            process = (url, SUPERVISOR_PROCESS if sample.name in SUPERVISOR else labels.get("worker", ""))
            if sample.name == START_TIME:
                out.started[process] = float(sample.value)
                continue
            keep = COUNTERS.get(sample.name)
            if keep is None:
                continue
            if sample.name in PER_CHANNEL and (labels.get("org") != org or labels.get("channel") not in wanted):
                continue
            series = out.values.setdefault(process, defaultdict(float))
            series[(sample.name, tuple((k, labels.get(k, "")) for k in keep))] += sample.value
    return out


@dataclass
class Tracker:
    """Counter increases accumulated over repeated scrapes."""

    baseline: bool = True  # the next scrape is the one before the run: it sets the starting values
    last: dict[Process, dict[Key, float]] = field(default_factory=dict)
    started: dict[Process, float] = field(default_factory=dict)
    totals: dict[Key, float] = field(default_factory=lambda: defaultdict(float))
    #: processes seen to restart (a new start time, or a counter that went down)
    resets: list[Process] = field(default_factory=list)
    scrapes: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, scrape: Scrape) -> None:
        """Fold one scrape in (pure: what :meth:`sample` does after fetching)."""
        self.scrapes += 1
        for process, now in scrape.values.items():
            then = self.last.get(process)
            restarted = process in self.started and scrape.started.get(process) != self.started[process]
            went_down = then is not None and any(k in now and now[k] < v for k, v in then.items())
            if then is not None and (restarted or went_down):
                self.resets.append(process)
                then = {}  # a new process: everything it counted is new
            if not self.baseline:
                for key, value in now.items():
                    self.totals[key] += value - (then or {}).get(key, 0.0)
            self.last[process] = dict(now)
        self.started.update(scrape.started)
        self.baseline = False

    def increase(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for (name, labels), value in sorted(self.totals.items()):
            out[name][",".join(f"{k}={v}" for k, v in labels) or "total"] = value
        return dict(sorted(out.items()))

    async def sample(self, http: aiohttp.ClientSession, urls: Iterable[str], org: str, channels: list[str]) -> None:
        merged = Scrape()
        for url in urls:
            try:
                async with http.get(url) as resp:
                    text = await resp.text()
                    if resp.status != 200:
                        raise OSError(f"HTTP {resp.status}")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.errors[url] = f"{type(exc).__name__}: {exc}"
                continue
            one = parse(text, url, org, channels)
            merged.values.update(one.values)
            merged.started.update(one.started)
        self.add(merged)


def manifest_counts(increase: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    """``ssai_manifest_requests_total`` increase by status (all kinds)."""
    out: dict[str, float] = defaultdict(float)
    for label, value in increase.get("ssai_manifest_requests_total", {}).items():
        status = dict(part.split("=", 1) for part in label.split(","))["status"]
        out[status] += value
    return {k: round(v) for k, v in sorted(out.items())}
