"""Alert thresholds, SLO targets and KPI targets: the single source for rules and dashboards.

``alerts/build.py`` renders Prometheus rules from these numbers and ``dashboards/build.py``
draws the same numbers as threshold lines, so a panel's red line is always the value that
pages or files a ticket. Change a number here, run both builders, commit the output.

The seed (``PLATFORM_CONSISTENCY_IMPROVEMENTS.md``) documents four alert thresholds and four
KPI targets; they are kept verbatim below. The rest are this service's own choices and say why.

Latency thresholds are histogram bucket bounds in ``sidecar.telemetry.catalogue`` (a test
checks it), so "share slower than X" is an exact bucket ratio rather than an interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Severity = Literal["critical", "warning", "info"]

# --- where the series come from -------------------------------------------------------------
#: Prometheus job of the service's /metrics (viewer + admin processes).
SERVICE_JOB: Final = "sidecar"
#: Prometheus job of the ``sidecar probe`` process, which exports the ssai_probe_* series.
PROBE_JOB: Final = "sidecar-probe"

#: Every alert's ``runbook_url`` is this plus ``#<lower-case alert name>`` (a heading anchor
#: in docs/runbook.md). The organisation part is the only thing to change when forking.
RUNBOOK_URL: Final = "https://github.com/sidecar-ssai/sidecar/blob/main/docs/runbook.md"

# --- the seed's recommended alerts ----------------------------------------------------------
# Counts are whole numbers, but increase() extrapolates to the window's edges from samples
# that do not sit on them: one event in the last hour reads 1.004 with a 15 s scrape, and
# "> 1" would fire on exactly one. Count thresholds are therefore applied to round(increase()):
# "more than N per hour" means N + 1 events, whatever the scrape offset (ADR 0010).

#: "DO Churn Rate > 1/hour/channel": ssai_actor_churn_total increase over 1 h, per org/channel.
ACTOR_CHURN_PER_HOUR_MAX: Final = 1.0
#: "Cache Hit Rate < 80%": hit rate = 1 - miss / all of ssai_config_cache_requests_total
#: (coalesced misses did not read the store, so they count as hits).
CONFIG_CACHE_HIT_RATIO_MIN: Final = 0.80
#: Below this request rate (per channel, req/s) a low hit rate is the TTL doing its job, not
#: a problem: with a 60 s TTL one miss per minute is expected, and 1 - 1/(60 * 0.1) is 83 %,
#: just above the 80 % threshold. So the hit-rate alert only looks at channels at least this busy.
CONFIG_CACHE_MIN_REQUEST_RATE: Final = 0.1
#: "Young Instance Requests > 10/hour": ssai_actor_young_instance_requests_total over 1 h.
YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX: Final = 10.0
#: "Config Update Latency > 2s": p99 over 15 minutes of the service's own
#: ssai_config_propagation_seconds (every process, per org) and of the probe's end-to-end
#: ssai_probe_config_propagation_seconds (black box, per target).
CONFIG_UPDATE_LATENCY_SECONDS_MAX: Final = 2.0
CONFIG_UPDATE_LATENCY_QUANTILE: Final = 0.99
#: ...and more than this many changes slower than 2 s in those 15 minutes (as seen by one process
#: or the probe): one outlier among a few dozen changes moves a p99, it is not a trend to wake
#: anyone for. The propagation SLO below accounts for every slow change.
CONFIG_UPDATE_SLOW_CHANGES_MAX: Final = 1.0

# --- the seed's KPIs ("Success Metrics") ------------------------------------------------------
#: Config update latency target (< 1 s with invalidation).
KPI_CONFIG_UPDATE_LATENCY_SECONDS: Final = 1.0
#: Instance stability target: actor lifetime > 10 min.
KPI_ACTOR_LIFETIME_SECONDS: Final = 600.0
#: State persistence target: every durable ad-state write confirmed (conflicts are retries).
KPI_STATE_PERSIST_RATIO: Final = 1.0
#: Cache hit rate target (> 85 %; the alert fires only below 80 %).
KPI_CONFIG_CACHE_HIT_RATIO: Final = 0.85

# --- processes -----------------------------------------------------------------------------------
#: Unclean restarts (crash: the previous run never recorded a stop) of one worker slot per hour,
#: from the durable ssai_process_starts_total{reason="crash"}. Two can be an OOM kill and a node
#: hiccup; a third within the hour is a crash loop (the supervisor restarts it within a second).
PROCESS_CRASHES_PER_HOUR_MAX: Final = 2.0

# --- state persistence -------------------------------------------------------------------------
#: Any failed durable write in the window files a ticket: the KPI is 100 %.
STATE_PERSIST_FAILURES_MAX: Final = 0.0

# --- config plane --------------------------------------------------------------------------------
#: Probe changes that never showed on a manifest endpoint, per 15 min, before paging: one
#: timeout can be a blip of the probe itself; two mean the TTL fallback is failing too.
CONFIG_PROPAGATION_TIMEOUTS_PER_15M_MAX: Final = 1.0
#: Failed invalidations (ssai_config_invalidations_total{result="error"}) allowed per 15 min.
CONFIG_INVALIDATION_ERRORS_MAX: Final = 0.0

# --- origin, ads, beacons ------------------------------------------------------------------------
#: Share of origin playlist fetches that fail (ssai_origin_fetch_seconds_count{result="error"}).
ORIGIN_ERROR_RATIO_MAX: Final = 0.05
#: Share of VAST calls that time out: above it, breaks fall back to pods/slate.
VAST_TIMEOUT_RATIO_MAX: Final = 0.10
#: Ad fill rate (filled / avail seconds, MediaTailor's definition) per channel over 1 h.
AD_FILL_RATIO_MIN: Final = 0.50
#: Share of tracking beacons not delivered (failed or dropped out of sent+failed+dropped).
BEACON_FAILURE_RATIO_MAX: Final = 0.05
#: Oldest unacknowledged beacon: ad servers bill on beacons, five minutes late is broken.
BEACON_QUEUE_AGE_SECONDS_MAX: Final = 300.0


# --- SLOs and multi-window multi-burn-rate alerting -------------------------------------------------
@dataclass(frozen=True)
class SLO:
    """A ratio SLO: ``objective`` of events are good over ``period_days``."""

    name: str  # kebab-case, used in the ``slo`` label
    title: str
    objective: float

    @property
    def error_budget(self) -> float:
        return round(1.0 - self.objective, 10)


@dataclass(frozen=True)
class BurnWindow:
    """One row of the SRE workbook's table: alert when both windows burn faster than ``factor``."""

    severity: Severity
    long: str
    short: str
    factor: float
    for_: str


#: The error budget period every burn factor is relative to.
SLO_PERIOD_DAYS: Final = 30

#: 99.9 % of viewer manifest requests answer without a 5xx.
MANIFEST_AVAILABILITY: Final = SLO("manifest-availability", "Manifest availability", 0.999)
#: 99 % of viewer manifest requests answer within 0.15 s (a FAST_BUCKETS bound).
MANIFEST_LATENCY: Final = SLO("manifest-latency", "Manifest latency", 0.99)
MANIFEST_LATENCY_SECONDS: Final = 0.15
#: Per org: 99 % of config changes reach each process (drop its cached copies) within the seed's
#: 2 s (CONFIG_UPDATE_LATENCY_SECONDS_MAX, a PROPAGATION_BUCKETS bound).
CONFIG_PROPAGATION: Final = SLO("config-propagation", "Config propagation", 0.99)

#: Google SRE workbook windows for a 30-day budget (also kubernetes-mixin, Sloth):
#: 2 % of the budget in 1 h or 5 % in 6 h pages; 10 % in 1 d or 3 d files a ticket.
BURN_WINDOWS: Final = (
    BurnWindow("critical", "1h", "5m", 14.4, "2m"),
    BurnWindow("critical", "6h", "30m", 6.0, "15m"),
    BurnWindow("warning", "1d", "2h", 3.0, "1h"),
    BurnWindow("warning", "3d", "6h", 1.0, "3h"),
)


def burn_threshold(slo: SLO, window: BurnWindow) -> float:
    """Error ratio above which ``window`` burns ``slo``'s budget too fast (rounded for display)."""
    return round(window.factor * slo.error_budget, 10)


def slo_windows() -> tuple[str, ...]:
    """Every distinct window the burn-rate alerts need a recorded error ratio for, shortest first."""
    seconds = {"m": 60, "h": 3600, "d": 86400}
    found = {w for bw in BURN_WINDOWS for w in (bw.long, bw.short)}
    return tuple(sorted(found, key=lambda w: int(w[:-1]) * seconds[w[-1]]))
