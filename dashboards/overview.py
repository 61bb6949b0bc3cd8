"""*Sidecar / SRE overview*: the seed's KPIs and the manifest SLOs on one screen.

Rows follow the seed's "Success Metrics" (config update latency, instance stability, state
persistence, cache hit rate, churn per channel), then the manifest SLOs with their burn rates,
then scrape health. Every red line is an alert threshold from ``sidecar.telemetry.slo``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from alerts.service_rules import CHURN_1H, YOUNG_1H
from alerts.slo_rules import CONFIG_PROPAGATION, MANIFEST_AVAILABILITY, MANIFEST_LATENCY, RatioSLO
from dashboards.common import PROBE, RATE, SVC, YELLOW, Board, Q, above, below, le
from sidecar.telemetry import slo

UID = "sidecar-overview"
PER_HOUR = "suffix:/h"


def _update_latency(board: Board, title: str, description: str, buckets: str, by: str, legend: str) -> None:
    """p50 and p99 of a config update latency histogram, with the KPI and alert lines."""
    group = f"{by}, le" if by else "le"
    board.timeseries(
        title,
        f"{description} KPI: < {slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS:g} s (yellow line); the alert's threshold is "
        f"p99 > {slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX:g} s (red line) with more than one slow change.",
        units.Seconds,
        [
            Q(f"histogram_quantile(0.5, sum by ({group}) (rate({buckets}[{RATE}])))", f"p50{legend}"),
            Q(
                f"histogram_quantile({slo.CONFIG_UPDATE_LATENCY_QUANTILE:g}, sum by ({group}) "
                f"(rate({buckets}[{RATE}])))",
                f"p99{legend}",
            ),
        ],
        thresholds=above(
            (slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS, YELLOW), (slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX, "red")
        ),
        min_val=0,
    )


def _kpis(board: Board) -> None:
    board.row("Seed KPIs")
    _update_latency(
        board,
        "Config update latency (every process)",
        "Time from a committed admin config write to each service process having dropped its cached copy "
        "(ssai_config_propagation_seconds, measured by every process that hears the invalidation), per org; "
        "alert SidecarConfigPropagationSlow.",
        f"ssai_config_propagation_seconds_bucket{{{SVC}}}",
        "org",
        " {{org}}",
    )
    _update_latency(
        board,
        "Config update latency (probe)",
        "Time from an admin config change to every manifest endpoint showing it, measured end to end by "
        "`sidecar probe` (the black-box check); alert SidecarConfigUpdateLatencyHigh.",
        f"ssai_probe_config_propagation_seconds_bucket{{{PROBE}}}",
        "",
        "",
    )
    budget = CONFIG_PROPAGATION.slo.error_budget
    fastest = slo.BURN_WINDOWS[0]
    board.timeseries(
        "Config propagation error budget burn rate",
        f"Per org: share of config changes slower than {slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX:g} s to reach a "
        f"process, divided by the error budget ({CONFIG_PROPAGATION.slo.objective:.0%} within "
        f"{slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX:g} s over {slo.SLO_PERIOD_DAYS} days). "
        f"SidecarConfigPropagationBudgetBurn pages at {fastest.factor:g}x over {fastest.long} and {fastest.short} "
        f"(red line), {slo.BURN_WINDOWS[1].factor:g}x over {slo.BURN_WINDOWS[1].long} (yellow).",
        "suffix:x",
        [Q(f"{CONFIG_PROPAGATION.record(w)} / {budget:g}", f"{{{{org}}}} {w}") for w in ("5m", "1h", "6h")],
        thresholds=above((slo.BURN_WINDOWS[1].factor, YELLOW), (fastest.factor, "red")),
        min_val=0,
    )
    board.timeseries(
        "Config invalidations and propagation timeouts",
        "Cache invalidations per second by scope and result (errors fire SidecarConfigInvalidationErrors), "
        "and probe config changes that never reached a manifest endpoint "
        "(SidecarConfigPropagationTimeouts pages above "
        f"{slo.CONFIG_PROPAGATION_TIMEOUTS_PER_15M_MAX:g} per 15 minutes).",
        units.OpsPerSecond,
        [
            Q(
                f"sum by (scope, result) (rate(ssai_config_invalidations_total{{{SVC}}}[{RATE}]))",
                "{{scope}} {{result}}",
            ),
            Q(
                f"sum by (target) (rate(ssai_probe_propagation_timeouts_total{{{PROBE}}}[{RATE}]))",
                "timeouts {{target}}",
            ),
        ],
        min_val=0,
    )
    publish = f"ssai_config_invalidation_seconds_bucket{{{SVC}}}"
    board.timeseries(
        "Invalidation publish time (writer)",
        "The writing process's own part of a config change: tombstoning the cache keys in the shared cache and "
        "publishing the invalidation (ssai_config_invalidation_seconds), p99 by scope. The receivers' side is "
        "the config update latency above.",
        units.Seconds,
        [Q(f"histogram_quantile(0.99, sum by (scope, le) (rate({publish}[{RATE}])))", "p99 {{scope}}")],
        min_val=0,
    )
    lifetime = f"ssai_actor_lifetime_seconds_bucket{{{SVC}}}"
    board.timeseries(
        "Actor instance lifetime",
        "How long channel-actor instances lived, observed at every end (ssai_actor_lifetime_seconds, durable): "
        "idle eviction, shutdown, deletion, and crash (accounted by the successor, up to the last heartbeat). "
        f"Ends are rare, so over the last hour. KPI: > {slo.KPI_ACTOR_LIFETIME_SECONDS / 60:g} min (the line).",
        units.Seconds,
        [
            Q(
                f"histogram_quantile(0.5, sum by (reason, le) (increase({lifetime}[1h])))",
                "p50 {{reason}}",
            ),
            Q(
                f"histogram_quantile(0.1, sum by (le) (increase({lifetime}[1h])))",
                "p10 all",
            ),
        ],
        thresholds=below(slo.KPI_ACTOR_LIFETIME_SECONDS),
        min_val=0,
    )
    board.timeseries(
        "Actor churn per channel (last hour)",
        "Actor instances replaced while the previous instance of the name was alive, counted durably "
        f"(ssai_actor_churn_total), as the whole number the alert reads. SidecarActorChurnHigh above "
        f"{slo.ACTOR_CHURN_PER_HOUR_MAX:g}/h per channel.",
        PER_HOUR,
        [Q(CHURN_1H, "{{org}}/{{channel}}")],
        thresholds=above((slo.ACTOR_CHURN_PER_HOUR_MAX, "red")),
        min_val=0,
    )
    board.timeseries(
        "Young-instance requests per channel (last hour)",
        "Requests served by actor instances younger than 10 s (ssai_actor_young_instance_requests_total, "
        "durable), as the whole number the alert reads. "
        f"SidecarYoungInstanceRequestsHigh above {slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX:g}/h per channel.",
        PER_HOUR,
        [Q(YOUNG_1H, "{{org}}/{{channel}}")],
        thresholds=above((slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX, "red")),
        min_val=0,
    )
    board.timeseries(
        "Process starts (last hour)",
        "Starts of each worker slot's process by how the previous run ended (ssai_process_starts_total, "
        "durable): clean (a deploy or restart), crash (never recorded a stop), first. "
        f"SidecarProcessCrashLooping above {slo.PROCESS_CRASHES_PER_HOUR_MAX:g} crashes/h (the line).",
        PER_HOUR,
        [
            Q(
                f"round(sum by (instance, reason) (increase(ssai_process_starts_total{{{SVC}}}[1h])))",
                "{{instance}} {{reason}}",
            )
        ],
        thresholds=above((slo.PROCESS_CRASHES_PER_HOUR_MAX, "red")),
        min_val=0,
    )
    persist = f"ssai_state_persist_total{{{SVC}"
    board.timeseries(
        "State persistence success",
        "Confirmed durable ad-state writes out of confirmed + failed (compare-and-set conflicts are "
        "retries and not counted). KPI: 100 %; any failure fires SidecarStatePersistFailures.",
        units.PercentUnit,
        [
            Q(
                f'sum(rate({persist},result="confirmed"}}[{RATE}]))\n/\n'
                f'sum(rate({persist},result=~"confirmed|failed"}}[{RATE}]))',
                "confirmed share",
            )
        ],
        thresholds=below(slo.KPI_STATE_PERSIST_RATIO),
        max_val=1,
    )
    board.timeseries(
        "Durable writes by result",
        "Durable ad-state writes per second by result: confirmed, conflict (lost a compare-and-set "
        "and retried), failed.",
        units.OpsPerSecond,
        [Q(f"sum by (result) (rate({persist}}}[{RATE}]))", "{{result}}")],
        min_val=0,
    )
    cache = f"ssai_config_cache_requests_total{{{SVC}"
    board.timeseries(
        "Config cache hit rate",
        "1 - miss / all channel config reads, one per request that needed a channel's config (hit and coalesced "
        "both spared the SQL store; writes re-warm the cache, so they do not show as misses). Alert "
        f"SidecarConfigCacheHitRateLow below {slo.CONFIG_CACHE_HIT_RATIO_MIN:.0%} (red) per busy channel; "
        f"KPI > {slo.KPI_CONFIG_CACHE_HIT_RATIO:.0%} (green).",
        units.PercentUnit,
        [
            Q(
                f'1 - (sum(rate({cache},result="miss"}}[{RATE}])) / sum(rate({cache}}}[{RATE}])))',
                "all channels",
            ),
            Q(
                f'bottomk(5, 1 - (sum by (org, channel) (rate({cache},result="miss"}}[{RATE}]))'
                f" / sum by (org, channel) (rate({cache}}}[{RATE}]))))",
                "{{org}}/{{channel}}",
            ),
        ],
        thresholds=below(slo.CONFIG_CACHE_HIT_RATIO_MIN, slo.KPI_CONFIG_CACHE_HIT_RATIO),
        max_val=1,
    )
    board.timeseries(
        "Config reads by result",
        "Channel config reads per second: hit, miss (read the SQL store), coalesced (joined an in-flight read).",
        units.OpsPerSecond,
        [Q(f"sum by (result) (rate({cache}}}[{RATE}]))", "{{result}}")],
        min_val=0,
    )


def _slo_row(board: Board, item: RatioSLO, unit_note: str) -> None:
    target = item.slo.objective
    board.stat(
        f"{item.slo.title} SLI (dashboard range)",
        f"Share of good manifest requests over the selected time range; the SLO is {target:.1%} "
        f"over {slo.SLO_PERIOD_DAYS} days. {unit_note}",
        units.PercentUnit,
        Q(f"1 - ({item.error_ratio.replace('WINDOW', '$__range')})", instant=True),
        thresholds=below(target),
        span=6,
        height=8,
        decimals=3,
    )
    fastest = slo.BURN_WINDOWS[0]
    board.timeseries(
        f"{item.slo.title} error budget burn rate",
        "Error ratio divided by the error budget (1 = the budget lasts exactly the SLO period), from "
        f"the recording rules. Pages when both windows of a row exceed its factor: "
        f"{fastest.factor:g}x over {fastest.long} and {fastest.short} (red line), "
        f"{slo.BURN_WINDOWS[1].factor:g}x over {slo.BURN_WINDOWS[1].long} and {slo.BURN_WINDOWS[1].short} (yellow).",
        "suffix:x",
        [Q(f"{item.record(w)} / {item.slo.error_budget:g}", w) for w in ("5m", "1h", "6h", "1d")],
        thresholds=above((slo.BURN_WINDOWS[1].factor, YELLOW), (fastest.factor, "red")),
        min_val=0,
        span=18,
        height=8,
    )


def _slos(board: Board) -> None:
    board.row("Manifest SLOs")
    _slo_row(board, MANIFEST_AVAILABILITY, "Bad: answered with a 5xx.")
    _slo_row(board, MANIFEST_LATENCY, f"Bad: slower than {slo.MANIFEST_LATENCY_SECONDS:g} s.")
    req = f"ssai_manifest_requests_total{{{SVC}}}"
    board.timeseries(
        "Manifest requests by status",
        "Viewer manifest requests per second by HTTP status.",
        units.RequestsPerSecond,
        [Q(f"sum by (status) (rate({req}[{RATE}]))", "{{status}}")],
        min_val=0,
    )
    secs = f"ssai_manifest_request_seconds_bucket{{{SVC}}}"
    board.timeseries(
        "Manifest latency",
        f"Viewer manifest latency quantiles by kind; the latency SLO line is {slo.MANIFEST_LATENCY_SECONDS:g} s "
        f"({slo.MANIFEST_LATENCY.objective:.0%} of requests must be faster).",
        units.Seconds,
        [
            Q(f"histogram_quantile(0.5, sum by (kind, le) (rate({secs}[{RATE}])))", "p50 {{kind}}"),
            Q(f"histogram_quantile(0.99, sum by (kind, le) (rate({secs}[{RATE}])))", "p99 {{kind}}"),
        ],
        thresholds=above((slo.MANIFEST_LATENCY_SECONDS, "red")),
        min_val=0,
    )
    fast = f'ssai_manifest_request_seconds_bucket{{{SVC},le="{le(slo.MANIFEST_LATENCY_SECONDS)}"}}'
    board.timeseries(
        f"Manifest requests faster than {slo.MANIFEST_LATENCY_SECONDS:g} s",
        "Share of viewer manifest requests answered within the latency SLO threshold, by kind.",
        units.PercentUnit,
        [
            Q(
                f"sum by (kind) (rate({fast}[{RATE}])) / "
                f"sum by (kind) (rate(ssai_manifest_request_seconds_count{{{SVC}}}[{RATE}]))",
                "{{kind}}",
            )
        ],
        thresholds=below(slo.MANIFEST_LATENCY.objective),
        max_val=1,
    )


def _health(board: Board) -> None:
    board.row("Health")
    board.timeseries(
        "Scrape targets up",
        "Targets answering scrapes, per job (SidecarTargetDown / SidecarProbeDown fire after 5 minutes at 0).",
        units.Short,
        [Q(f'sum by (job) (up{{job=~"{slo.SERVICE_JOB}|{slo.PROBE_JOB}"}})', "{{job}}")],
        min_val=0,
        span=8,
    )
    board.timeseries(
        "Notification bus connected",
        "1 while a process is subscribed to the config/actor notification bus (SidecarConfigBusDisconnected).",
        units.Bool,
        [Q(f"ssai_bus_connected{{{SVC}}}", "{{instance}}")],
        min_val=0,
        max_val=1,
        span=8,
    )
    board.timeseries(
        "Firing sidecar alerts",
        "Alerts of this service currently firing, by name and severity (Prometheus' ALERTS series).",
        units.Short,
        [
            Q(
                'count by (alertname, severity) (ALERTS{alertname=~"Sidecar.*",alertstate="firing"})',
                "{{alertname}} ({{severity}})",
            )
        ],
        min_val=0,
        span=8,
    )


def _security(board: Board) -> None:
    board.row("Security")
    board.timeseries(
        "Tenant URLs refused by the URL policy",
        "Origin, VAST, beacon and ad-media fetches (and admin writes) the URL policy refused, by purpose and "
        "the kind of address (SidecarUrlPolicyDenials; logs: url_denied). docs/adr/0012.",
        units.Short,
        [Q(f"sum by (purpose, reason) (increase(ssai_url_denied_total{{{SVC}}}[{RATE}]))", "{{purpose}}: {{reason}}")],
        min_val=0,
        span=8,
    )
    board.timeseries(
        "Admin writes and rejected requests",
        "Admin writes recorded in the audit trail by result (write_failed: kept only in the logs; "
        "SidecarAuditWriteFailures), and admin requests refused for authentication or role.",
        units.RequestsPerSecond,
        [
            Q(f"sum by (result) (rate(ssai_audit_events_total{{{SVC}}}[{RATE}]))", "audit {{result}}"),
            Q(f"sum by (reason) (rate(ssai_auth_failures_total{{{SVC}}}[{RATE}]))", "auth {{reason}}"),
        ],
        min_val=0,
        span=8,
    )
    board.timeseries(
        "Requests that are not valid HTTP",
        "Oversized request lines and headers, bad headers and methods, by kind; logged once per peer per minute "
        "(http_client_error). A rise is usually a scanner.",
        units.RequestsPerSecond,
        [Q(f"sum by (reason) (rate(ssai_http_client_errors_total{{{SVC}}}[{RATE}]))", "{{reason}}")],
        min_val=0,
        span=8,
    )


def build() -> Dashboard:
    board = Board(
        UID,
        "Sidecar / SRE overview",
        "The seed's KPIs (config update latency, instance stability, state persistence, cache hit rate, "
        "churn per channel) and the manifest SLOs. Threshold lines are the alert thresholds "
        "(sidecar/telemetry/slo.py); runbook: docs/runbook.md.",
    )
    _kpis(board)
    _slos(board)
    _health(board)
    _security(board)
    return board.builder
