"""Threshold alerts: the seed's four, state persistence, the config plane, delivery, targets.

Conventions (monitoring-mixins): per-channel alerts aggregate ``by (org, channel)`` so
Alertmanager can group and inhibit per channel; instance-level alerts keep ``job`` and
``instance`` so a down target can inhibit them; "should stay zero" counters use
``increase(...[15m]) > 0`` with ``for: 5m`` (one event files a ticket, and it resolves by
itself 15 minutes later); gauges use ``max_over_time`` so one missed scrape does not reset
``for:``. Count thresholds ("more than N in the window") compare ``round(increase(...))``:
increase() extrapolates to the window's edges, so exactly N events would read a little over N
(see ``alerts.model.count_over``). Latency alerts on a quantile also need more than one slow
event, so one outlier does not page or file a ticket.
"""

from __future__ import annotations

from alerts.model import Alert, Group, Record, count_over, num, slower_than
from sidecar.telemetry import slo

SVC = f'job="{slo.SERVICE_JOB}"'
PROBE = f'job="{slo.PROBE_JOB}"'
CHANNEL = "{{ $labels.org }}/{{ $labels.channel }}"

CHURN_1H = "org_channel:ssai_actor_churn:increase1h"
YOUNG_1H = "org_channel:ssai_actor_young_instance_requests:increase1h"
CACHE_RATE = "org_channel:ssai_config_cache_requests:rate10m"
CACHE_HIT = "org_channel:ssai_config_cache_hit:ratio_rate10m"


def recording_group() -> Group:
    """Per-channel series that both alerts and the dashboards' "per channel" panels read."""
    return Group(
        "sidecar-kpi.rules",
        (
            # Whole numbers: the seed's thresholds are counts per hour (see count_over).
            Record(CHURN_1H, count_over(f"sum by (org, channel) (increase(ssai_actor_churn_total{{{SVC}}}[1h]))")),
            Record(
                YOUNG_1H,
                count_over(
                    f"sum by (org, channel) (increase(ssai_actor_young_instance_requests_total{{{SVC}}}[1h]))"
                ),
            ),
            Record(CACHE_RATE, f"sum by (org, channel) (rate(ssai_config_cache_requests_total{{{SVC}}}[10m]))"),
            # The seed's definition: hit rate = 1 - miss / all (hit and coalesced both spared the store).
            Record(
                CACHE_HIT,
                "1 - (\n"
                f'  (sum by (org, channel) (rate(ssai_config_cache_requests_total{{{SVC},result="miss"}}[10m]))'
                f" or 0 * {CACHE_RATE})\n"
                f"  /\n  {CACHE_RATE}\n)",
            ),
        ),
    )


def seed_alerts() -> tuple[Alert, ...]:
    """The seed's "Recommended alerts", thresholds verbatim, plus its 100 % persistence KPI."""
    return (
        Alert(
            "SidecarActorChurnHigh",
            f"{CHURN_1H} > {num(slo.ACTOR_CHURN_PER_HOUR_MAX)}",
            "10m",
            "warning",
            "Channel actors are being replaced while still alive more than once an hour.",
            f"{CHANNEL}: {{{{ $value | humanize }}}} actor instance churns in the last hour "
            f"(threshold {num(slo.ACTOR_CHURN_PER_HOUR_MAX)}/h). Search the logs for instance_churn.",
        ),
        Alert(
            "SidecarConfigCacheHitRateLow",
            f"{CACHE_HIT} < {num(slo.CONFIG_CACHE_HIT_RATIO_MIN)}\n"
            f"and\n{CACHE_RATE} >= {num(slo.CONFIG_CACHE_MIN_REQUEST_RATE)}",
            "15m",
            "warning",
            "The channel config cache hit rate is below 80%.",
            f"{CHANNEL}: config cache hit rate {{{{ $value | humanizePercentage }}}} over 10 minutes "
            f"(threshold {num(slo.CONFIG_CACHE_HIT_RATIO_MIN * 100)}%, target "
            f"{num(slo.KPI_CONFIG_CACHE_HIT_RATIO * 100)}%). Misses are reads the SQL store answered: "
            "look for the shared cache (Redis) failing or writes with warm=false.",
        ),
        Alert(
            "SidecarYoungInstanceRequestsHigh",
            f"{YOUNG_1H} > {num(slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX)}",
            "10m",
            "warning",
            "Many requests are served by channel actors younger than 10 seconds.",
            f"{CHANNEL}: {{{{ $value | humanize }}}} requests in the last hour were served by a young actor "
            f"instance (threshold {num(slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX)}/h). Search the logs for "
            "young_instance.",
        ),
        Alert(
            "SidecarConfigUpdateLatencyHigh",
            f"histogram_quantile({num(slo.CONFIG_UPDATE_LATENCY_QUANTILE)}, sum by (job, target, le) "
            f"(rate(ssai_probe_config_propagation_seconds_bucket{{{PROBE}}}[15m])))\n"
            f"> {num(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX)}\n"
            "and on (job, target)\n"
            + slower_than(
                "ssai_probe_config_propagation_seconds", PROBE, slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX,
                "job, target", "15m",
            )
            + f"\n> {num(slo.CONFIG_UPDATE_SLOW_CHANGES_MAX)}",
            "10m",
            "warning",
            "Config changes take longer than 2 seconds to reach the manifests.",
            f"p{num(slo.CONFIG_UPDATE_LATENCY_QUANTILE * 100)} config propagation to {{{{ $labels.target }}}} is "
            "{{ $value | humanizeDuration }} over 15 minutes "
            f"(threshold {num(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX)}s, target "
            f"{num(slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS)}s), measured end to end by the probe. "
            "Check that writes invalidate the cache.",
        ),
        Alert(
            "SidecarConfigPropagationSlow",
            f"histogram_quantile({num(slo.CONFIG_UPDATE_LATENCY_QUANTILE)}, sum by (org, le) "
            f"(rate(ssai_config_propagation_seconds_bucket{{{SVC}}}[15m])))\n"
            f"> {num(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX)}\n"
            "and on (org)\n"
            + slower_than("ssai_config_propagation_seconds", SVC, slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX, "org", "15m")
            + f"\n> {num(slo.CONFIG_UPDATE_SLOW_CHANGES_MAX)}",
            "10m",
            "warning",
            "Config changes take longer than 2 seconds to reach the service's processes.",
            f"Org {{{{ $labels.org }}}}: p{num(slo.CONFIG_UPDATE_LATENCY_QUANTILE * 100)} of the time from a committed "
            "config write to each process dropping its cached copy is {{ $value | humanizeDuration }} over 15 "
            f"minutes (threshold {num(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX)}s, target "
            f"{num(slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS)}s). Search the logs for config_propagation_slow.",
        ),
        Alert(
            "SidecarStatePersistFailures",
            count_over(f'sum by (job) (increase(ssai_state_persist_total{{{SVC},result="failed"}}[15m]))')
            + f" > {num(slo.STATE_PERSIST_FAILURES_MAX)}",
            "5m",
            "warning",
            "Durable ad-state writes are failing.",
            "{{ $labels.job }}: {{ $value | humanize }} durable ad-state writes failed in the last 15 minutes "
            "(target: every write confirmed). Search the logs for persist_failed.",
        ),
    )


def config_alerts() -> tuple[Alert, ...]:
    return (
        Alert(
            "SidecarConfigPropagationTimeouts",
            count_over(f"sum by (job, target) (increase(ssai_probe_propagation_timeouts_total{{{PROBE}}}[15m]))")
            + f" > {num(slo.CONFIG_PROPAGATION_TIMEOUTS_PER_15M_MAX)}",
            "5m",
            "critical",
            "Config changes are not reaching the manifests at all.",
            "{{ $value | humanize }} probe config changes in the last 15 minutes never showed up on "
            "{{ $labels.target }}: viewers are served stale channel config.",
        ),
        Alert(
            "SidecarConfigInvalidationErrors",
            count_over(
                f'sum by (job, scope) (increase(ssai_config_invalidations_total{{{SVC},result="error"}}[15m]))'
            )
            + f" > {num(slo.CONFIG_INVALIDATION_ERRORS_MAX)}",
            "5m",
            "warning",
            "Config cache invalidations are failing.",
            "{{ $value | humanize }} {{ $labels.scope }}-scope cache invalidations failed in the last 15 minutes; "
            "changed channels keep their old config until the TTL expires.",
        ),
        Alert(
            "SidecarConfigBusDisconnected",
            f"max_over_time(ssai_bus_connected{{{SVC}}}[5m]) == 0",
            "5m",
            "warning",
            "A process has lost the config notification bus.",
            "{{ $labels.instance }} has not been subscribed to the notification bus for 10 minutes: it reads "
            "config from the shared cache and the store only, and hears of cue changes late.",
        ),
    )


def delivery_alerts() -> tuple[Alert, ...]:
    return (
        Alert(
            "SidecarOriginErrorRatioHigh",
            f'sum by (job) (rate(ssai_origin_fetch_seconds_count{{{SVC},result="error"}}[5m]))\n/\n'
            f"sum by (job) (rate(ssai_origin_fetch_seconds_count{{{SVC}}}[5m]))\n"
            f"> {num(slo.ORIGIN_ERROR_RATIO_MAX)}",
            "10m",
            "warning",
            "Many origin playlist fetches are failing.",
            "{{ $value | humanizePercentage }} of origin playlist fetches by {{ $labels.job }} failed over 5 minutes "
            f"(threshold {num(slo.ORIGIN_ERROR_RATIO_MAX * 100)}%). ssai_origin_errors_total names the channels.",
        ),
        Alert(
            "SidecarPlaylistValidationFailures",
            count_over(f"sum by (job, rule) (increase(ssai_playlist_validation_failures_total{{{SVC}}}[15m]))")
            + " > 0",
            "5m",
            "warning",
            "Rendered playlists break an HLS rule.",
            "{{ $value | humanize }} rendered playlists broke the {{ $labels.rule }} rule in the last 15 minutes; "
            "players may stall or skip.",
        ),
        Alert(
            "SidecarProbeManifestInvalid",
            count_over(
                f"sum by (job, channel, reason) (increase(ssai_probe_manifest_failures_total{{{PROBE}}}[15m]))"
            )
            + " > 0",
            "5m",
            "warning",
            "The probe received invalid manifests.",
            "The probe saw {{ $value | humanize }} invalid manifests on channel {{ $labels.channel }} in the "
            "last 15 minutes (reason: {{ $labels.reason }}).",
        ),
        Alert(
            "SidecarVastTimeoutRatioHigh",
            f'sum by (job) (rate(ssai_vast_requests_total{{{SVC},outcome="timeout"}}[10m]))\n/\n'
            f"sum by (job) (rate(ssai_vast_requests_total{{{SVC}}}[10m]))\n"
            f"> {num(slo.VAST_TIMEOUT_RATIO_MAX)}",
            "15m",
            "warning",
            "Many VAST ad-server calls time out.",
            "{{ $value | humanizePercentage }} of VAST calls timed out over 10 minutes "
            f"(threshold {num(slo.VAST_TIMEOUT_RATIO_MAX * 100)}%); breaks fall back to pods and slate.",
        ),
        Alert(
            "SidecarAdFillRateLow",
            f"(\n  sum by (org, channel) (rate(ssai_avail_filled_seconds_total{{{SVC}}}[1h]))\n"
            f"  or\n  0 * sum by (org, channel) (rate(ssai_avail_seconds_total{{{SVC}}}[1h]))\n)\n/\n"
            f"sum by (org, channel) (rate(ssai_avail_seconds_total{{{SVC}}}[1h]))\n"
            f"< {num(slo.AD_FILL_RATIO_MIN)}",
            "15m",
            "warning",
            "Ad breaks are mostly unfilled.",
            f"{CHANNEL}: only {{{{ $value | humanizePercentage }}}} of avail seconds were filled with ads in the "
            f"last hour (threshold {num(slo.AD_FILL_RATIO_MIN * 100)}%).",
        ),
        Alert(
            "SidecarBeaconDeliveryFailing",
            f'sum by (job) (rate(ssai_beacons_total{{{SVC},result=~"failed|dropped"}}[10m]))\n/\n'
            f'sum by (job) (rate(ssai_beacons_total{{{SVC},result=~"sent|failed|dropped"}}[10m]))\n'
            f"> {num(slo.BEACON_FAILURE_RATIO_MAX)}",
            "15m",
            "warning",
            "Many tracking beacons are not delivered.",
            "{{ $value | humanizePercentage }} of tracking beacons failed or were dropped over 10 minutes "
            f"(threshold {num(slo.BEACON_FAILURE_RATIO_MAX * 100)}%); ad impressions go unreported.",
        ),
        Alert(
            "SidecarBeaconQueueStale",
            f"max_over_time(ssai_beacon_queue_oldest_age_seconds{{{SVC}}}[5m])"
            f" > {num(slo.BEACON_QUEUE_AGE_SECONDS_MAX)}",
            "10m",
            "warning",
            "Tracking beacons wait too long in the queue.",
            "The oldest unacknowledged beacon on {{ $labels.instance }} is {{ $value | humanizeDuration }} old "
            f"(threshold {num(slo.BEACON_QUEUE_AGE_SECONDS_MAX)}s).",
        ),
    )


def process_alerts() -> tuple[Alert, ...]:
    """Restarts, from the durable ssai_process_starts_total (a crash loop faster than the scrape
    interval still counts every start: each one is committed before the process serves)."""
    return (
        Alert(
            "SidecarProcessCrashLooping",
            count_over(
                f'sum by (job, instance) (increase(ssai_process_starts_total{{{SVC},reason="crash"}}[1h]))'
            )
            + f" > {num(slo.PROCESS_CRASHES_PER_HOUR_MAX)}",
            "5m",
            "warning",
            "A sidecar process keeps crashing and being restarted.",
            "{{ $labels.instance }} restarted {{ $value | humanize }} times in the last hour after its previous "
            f"run ended without a clean stop (threshold {num(slo.PROCESS_CRASHES_PER_HOUR_MAX)}/h): killed, "
            "out of memory, or crashing. Search the logs for process_crash_detected.",
        ),
    )


def target_alerts() -> tuple[Alert, ...]:
    """Scrape health. ``absent()`` keeps the ``job`` matcher as a label, which inhibition uses."""
    return (
        Alert(
            "SidecarTargetDown",
            f"up{{{SVC}}} == 0",
            "5m",
            "critical",
            "Prometheus cannot scrape a sidecar process.",
            "{{ $labels.instance }} of job {{ $labels.job }} has failed every scrape for 5 minutes.",
        ),
        Alert(
            "SidecarTargetAbsent",
            f"absent(up{{{SVC}}})",
            "5m",
            "critical",
            "Prometheus has no sidecar target to scrape.",
            "No target of job {{ $labels.job }} has been discovered for 5 minutes: nothing about the service "
            "is being measured or alerted on.",
        ),
        Alert(
            "SidecarMetricsAbsent",
            f"absent(ssai_build_info{{{SVC}}})",
            "10m",
            "warning",
            "Sidecar targets are scraped but export no sidecar metrics.",
            "No ssai_build_info series from job {{ $labels.job }} for 10 minutes although its targets are up: "
            "the scrape reaches something that is not the sidecar's /metrics.",
        ),
        Alert(
            "SidecarProbeDown",
            f"up{{{PROBE}}} == 0",
            "5m",
            "warning",
            "Prometheus cannot scrape the sidecar probe.",
            "{{ $labels.instance }} of job {{ $labels.job }} has failed every scrape for 5 minutes: config "
            "propagation and manifest validity are not being measured.",
        ),
        Alert(
            "SidecarProbeAbsent",
            f"absent(up{{{PROBE}}})",
            "15m",
            "warning",
            "Prometheus has no sidecar probe target to scrape.",
            "No target of job {{ $labels.job }} for 15 minutes: config propagation and manifest validity are "
            "not being measured.",
        ),
        Alert(
            "SidecarConfigPropagationUnmeasured",
            f"absent(ssai_probe_config_propagation_seconds_count{{{PROBE}}})",
            "30m",
            "warning",
            "The probe has not measured a single config propagation.",
            "Job {{ $labels.job }} has exported no ssai_probe_config_propagation_seconds for 30 minutes: the "
            "config update latency alert cannot fire.",
        ),
    )


def security_alerts() -> tuple[Alert, ...]:
    """Tenant URLs refused by the URL policy, and admin writes the audit trail could not keep."""
    return (
        Alert(
            "SidecarUrlPolicyDenials",
            f"sum by (job, purpose, reason) (increase(ssai_url_denied_total{{{SVC}}}[15m])) > 0",
            "5m",
            "warning",
            "Tenant-supplied URLs point at addresses the URL policy denies.",
            "{{ $value | humanize }} {{ $labels.purpose }} URLs were refused in the last 15 minutes because they "
            "lead to {{ $labels.reason }} addresses: a misconfigured channel, or an attempt to reach the internal "
            "network. Search the logs for url_denied.",
        ),
        Alert(
            "SidecarAuditWriteFailures",
            f'sum by (job) (increase(ssai_audit_events_total{{{SVC},result="write_failed"}}[15m])) > 0',
            "5m",
            "warning",
            "Admin writes are not being recorded in the audit trail.",
            "{{ $value | humanize }} admin writes in the last 15 minutes could not be stored in the audit trail; "
            "they are in the logs as audit_write_failed.",
        ),
    )


def alert_groups() -> list[Group]:
    return [
        Group("sidecar-kpi.alerts", seed_alerts()),
        Group("sidecar-config.alerts", config_alerts()),
        Group("sidecar-delivery.alerts", delivery_alerts()),
        Group("sidecar-process.alerts", process_alerts()),
        Group("sidecar-targets.alerts", target_alerts()),
        Group("sidecar-security.alerts", security_alerts()),
    ]
