"""*Sidecar / Channel drill-down*: one channel (or a few) from manifests to actors to origin.

Variables: ``colo``, ``org``, ``channel`` (label_values queries, multi-value, "All" = ``.*``).

Where ``colo`` comes from: the only exported series with a ``colo`` label is
``ssai_actor_instances{colo}``, so the variable's values come from it. To filter the other
series by colo, the scrape config must add each process's colo as a *target label* ``colo``
(its ``SIDECAR_COLO``) with ``honor_labels: true`` so ``ssai_actor_instances`` keeps its own
per-actor colo: see ``alerts/prometheus.example.yml``. Without that target label, leave
``colo`` on "All" (``.*`` also matches series that lack the label).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from dashboards.common import RATE, YELLOW, Board, Q, above, below
from sidecar.telemetry import slo

UID = "sidecar-channel"
PER_HOUR = "suffix:/h"
SEL = f'job="{slo.SERVICE_JOB}",colo=~"$colo",org=~"$org",channel=~"$channel"'
WHO = "{{org}}/{{channel}}"


def _variables(board: Board) -> None:
    board.variable(
        "colo",
        "Colo",
        f'label_values(ssai_actor_instances{{job="{slo.SERVICE_JOB}"}}, colo)',
        description="Location of the channel actors (SIDECAR_COLO). Filters other panels only when the "
        "scrape config sets colo as a target label; see the dashboard description.",
    )
    board.variable(
        "org",
        "Organization",
        f'label_values(ssai_config_cache_requests_total{{job="{slo.SERVICE_JOB}"}}, org)',
        description="Organization slug.",
    )
    board.variable(
        "channel",
        "Channel",
        f'label_values(ssai_config_cache_requests_total{{job="{slo.SERVICE_JOB}",org=~"$org"}}, channel)',
        description="Channel slug.",
    )


def _manifests(board: Board) -> None:
    board.row("Manifests")
    req = f"ssai_manifest_requests_total{{{SEL}}}"
    board.timeseries(
        "Manifest requests by kind and status",
        "Viewer manifest requests per second for the selected channels, by kind (master, media, assets) "
        "and HTTP status.",
        units.RequestsPerSecond,
        [Q(f"sum by (kind, status) (rate({req}[{RATE}]))", "{{kind}} {{status}}")],
        min_val=0,
    )
    board.timeseries(
        "Manifest 5xx ratio",
        "Share of the channel's manifest requests answered with a 5xx. The service-wide availability SLO is "
        f"{slo.MANIFEST_AVAILABILITY.objective:.1%}; the line is its error budget.",
        units.PercentUnit,
        [
            Q(
                f'sum by (org, channel) (rate(ssai_manifest_requests_total{{{SEL},status=~"5.."}}[{RATE}]))\n/\n'
                f"sum by (org, channel) (rate({req}[{RATE}]))",
                WHO,
            )
        ],
        thresholds=above((slo.MANIFEST_AVAILABILITY.error_budget, "red")),
        min_val=0,
    )
    board.timeseries(
        "Manifest requests by mode",
        "Viewer manifest requests per second by insertion mode (ssai, sgai, passthrough).",
        units.RequestsPerSecond,
        [Q(f"sum by (mode) (rate({req}[{RATE}]))", "{{mode}}")],
        min_val=0,
    )
    board.timeseries(
        "Origin errors by reason",
        "Origin playlist failures per second for the selected channels (timeout, connect, http_4xx, "
        "http_5xx, invalid, oversized).",
        units.OpsPerSecond,
        [
            Q(
                f"sum by (org, channel, reason) (rate(ssai_origin_errors_total{{{SEL}}}[{RATE}]))",
                f"{WHO} {{{{reason}}}}",
            )
        ],
        min_val=0,
    )
    board.timeseries(
        "Origin playlists cut mid-line",
        "Origin playlists that arrived cut short, per second, by kind and what was served instead: the "
        "playlist up to its last complete segment (cut) or the last complete one (previous). Never passed "
        "on with a cut URI or tag. All channels of the process (the playlist URL is not a label).",
        units.OpsPerSecond,
        [
            Q(
                f"sum by (kind, served) (rate(ssai_origin_truncated_playlists_total"
                f'{{job="{slo.SERVICE_JOB}",colo=~"$colo"}}[{RATE}]))',
                "{{kind}} {{served}}",
            )
        ],
        min_val=0,
    )


def _config(board: Board) -> None:
    board.row("Config cache")
    cache = f"ssai_config_cache_requests_total{{{SEL}"
    board.timeseries(
        "Config cache hit rate",
        "1 - miss / all config reads of the channel. Alert SidecarConfigCacheHitRateLow below "
        f"{slo.CONFIG_CACHE_HIT_RATIO_MIN:.0%} (red); KPI > {slo.KPI_CONFIG_CACHE_HIT_RATIO:.0%} (green).",
        units.PercentUnit,
        [
            Q(
                f'1 - (\n  sum by (org, channel) (rate({cache},result="miss"}}[{RATE}]))\n  /\n'
                f"  sum by (org, channel) (rate({cache}}}[{RATE}]))\n)",
                WHO,
            )
        ],
        thresholds=below(slo.CONFIG_CACHE_HIT_RATIO_MIN, slo.KPI_CONFIG_CACHE_HIT_RATIO),
        max_val=1,
    )
    board.timeseries(
        "Config reads by result",
        "Config reads per second, one per request: hit, miss (read the SQL store), coalesced (joined an "
        "in-flight miss).",
        units.OpsPerSecond,
        [Q(f"sum by (org, channel, result) (rate({cache}}}[{RATE}]))", f"{WHO} {{{{result}}}}")],
        min_val=0,
    )
    prop = f'ssai_config_propagation_seconds_bucket{{job="{slo.SERVICE_JOB}",org=~"$org"}}'
    board.timeseries(
        "Config update latency (org)",
        "Time from a committed config write of the selected orgs to each process having dropped its cached copy "
        f"(p99 by org). KPI < {slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS:g} s (yellow); SidecarConfigPropagationSlow "
        f"above {slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX:g} s (red).",
        units.Seconds,
        [Q(f"histogram_quantile(0.99, sum by (org, le) (rate({prop}[{RATE}])))", "p99 {{org}}")],
        thresholds=above(
            (slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS, YELLOW), (slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX, "red")
        ),
        min_val=0,
    )


def _actors(board: Board) -> None:
    board.row("Channel actors")
    board.timeseries(
        "Actor churn (last hour)",
        "Instances started while the previous instance of the name was alive (durable, whole numbers as the "
        f"alert reads them). Alert SidecarActorChurnHigh above {slo.ACTOR_CHURN_PER_HOUR_MAX:g}/h.",
        PER_HOUR,
        [Q(f"round(sum by (org, channel) (increase(ssai_actor_churn_total{{{SEL}}}[1h])))", WHO)],
        thresholds=above((slo.ACTOR_CHURN_PER_HOUR_MAX, "red")),
        min_val=0,
    )
    board.timeseries(
        "Young-instance requests (last hour)",
        "Requests served by instances younger than 10 s (durable, whole numbers). Alert "
        f"SidecarYoungInstanceRequestsHigh above {slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX:g}/h.",
        PER_HOUR,
        [Q(f"round(sum by (org, channel) (increase(ssai_actor_young_instance_requests_total{{{SEL}}}[1h])))", WHO)],
        thresholds=above((slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX, "red")),
        min_val=0,
    )
    board.timeseries(
        "Instance starts by reason",
        "Actor instances created per second by what the previous instance of the name did: new (none), "
        "clean (evicted cleanly), churn (still alive), stale (silent longer than the churn window). Durable.",
        units.OpsPerSecond,
        [
            Q(
                f"sum by (org, channel, reason) (rate(ssai_actor_instance_starts_total{{{SEL}}}[{RATE}]))",
                f"{WHO} {{{{reason}}}}",
            )
        ],
        min_val=0,
    )
    age = f"ssai_actor_instance_age_seconds_bucket{{{SEL}}}"
    board.timeseries(
        "Age of the instance serving requests",
        "Median and 5th percentile age of the actor instance that served each request. Below 10 s counts as "
        f"a young instance (yellow); the stability KPI is {slo.KPI_ACTOR_LIFETIME_SECONDS / 60:g} min (green).",
        units.Seconds,
        [
            Q(f"histogram_quantile(0.5, sum by (org, channel, le) (rate({age}[{RATE}])))", f"p50 {WHO}"),
            Q(f"histogram_quantile(0.05, sum by (org, channel, le) (rate({age}[{RATE}])))", f"p5 {WHO}"),
        ],
        thresholds=[(None, "red"), (10.0, YELLOW), (slo.KPI_ACTOR_LIFETIME_SECONDS, "green")],
        min_val=0,
    )
    board.timeseries(
        "Live actor instances by colo",
        "Channel-actor instances alive per colo (all channels: ssai_actor_instances has only the colo label).",
        units.Short,
        [Q(f'sum by (colo) (ssai_actor_instances{{job="{slo.SERVICE_JOB}",colo=~"$colo"}})', "{{colo}}")],
        min_val=0,
    )
    board.timeseries(
        "Ad breaks started by source",
        "Ad breaks started per second on the selected channels, by source (scte35, manual, schedule).",
        units.OpsPerSecond,
        [
            Q(
                f"sum by (org, channel, source) (rate(ssai_ad_breaks_started_total{{{SEL}}}[{RATE}]))",
                f"{WHO} {{{{source}}}}",
            )
        ],
        min_val=0,
    )


def build() -> Dashboard:
    board = Board(
        UID,
        "Sidecar / Channel drill-down",
        "One channel from manifests to config cache to actors. colo values come from ssai_actor_instances; "
        "filtering other panels by colo needs the scrape config to set colo as a target label "
        "(alerts/prometheus.example.yml), otherwise keep colo on All.",
    )
    _variables(board)
    _manifests(board)
    _config(board)
    _actors(board)
    return board.builder
