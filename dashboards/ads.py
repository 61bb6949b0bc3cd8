"""*Sidecar / Ad delivery*: fill rate, decisions, the VAST ad server and tracking beacons.

Fill rate is MediaTailor's definition (filled avail seconds / avail seconds). The ``org`` and
``channel`` variables filter the per-channel panels; VAST calls and beacons are exported
without channel labels (bounded cardinality), so those panels are service-wide.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import units

from dashboards.common import RATE, Board, Q, above, below
from sidecar.telemetry import slo

UID = "sidecar-ads"
SEL = f'job="{slo.SERVICE_JOB}",org=~"$org",channel=~"$channel"'
SVC = f'job="{slo.SERVICE_JOB}"'
WHO = "{{org}}/{{channel}}"


def _fill(board: Board) -> None:
    board.row("Fill")
    board.timeseries(
        "Fill rate per channel (last hour)",
        "Avail seconds filled with ads / avail seconds offered, over the last hour. Alert "
        f"SidecarAdFillRateLow below {slo.AD_FILL_RATIO_MIN:.0%}.",
        units.PercentUnit,
        [
            Q(
                f"sum by (org, channel) (increase(ssai_avail_filled_seconds_total{{{SEL}}}[1h]))\n/\n"
                f"sum by (org, channel) (increase(ssai_avail_seconds_total{{{SEL}}}[1h]))",
                WHO,
            )
        ],
        thresholds=below(slo.AD_FILL_RATIO_MIN),
        min_val=0,
        max_val=1,
    )
    board.timeseries(
        "Break seconds: avail, filled, slate (last hour)",
        "Seconds of avails offered, filled with ads and filled with slate in the last hour, selected channels.",
        units.Seconds,
        [
            Q(f"sum(increase(ssai_avail_seconds_total{{{SEL}}}[1h]))", "avail"),
            Q(f"sum(increase(ssai_avail_filled_seconds_total{{{SEL}}}[1h]))", "filled"),
            Q(f"sum(increase(ssai_slate_seconds_total{{{SEL}}}[1h]))", "slate"),
            Q(f"sum(increase(ssai_ad_stitched_seconds_total{{{SEL}}}[1h]))", "stitched"),
        ],
        min_val=0,
    )
    board.timeseries(
        "Ad decisions by source",
        "Ad decisions per second (one per break) by what filled the break: vast, pod, slate, none.",
        units.OpsPerSecond,
        [Q(f"sum by (source) (rate(ssai_ad_decisions_total{{{SEL}}}[{RATE}]))", "{{source}}")],
        min_val=0,
        stack=True,
    )
    board.timeseries(
        "Ad decisions by reason",
        "Ad decisions per second by source and the reason that source was used.",
        units.OpsPerSecond,
        [Q(f"sum by (source, reason) (rate(ssai_ad_decisions_total{{{SEL}}}[{RATE}]))", "{{source}}: {{reason}}")],
        min_val=0,
    )


def _vast(board: Board) -> None:
    board.row("VAST ad server (all channels)")
    vast = f"ssai_vast_requests_total{{{SVC}"
    board.timeseries(
        "VAST calls by outcome",
        "VAST ad-server calls per second by outcome (ok, empty, timeout, http_error, invalid, wrapper_limit ...).",
        units.OpsPerSecond,
        [Q(f"sum by (outcome) (rate({vast}}}[{RATE}]))", "{{outcome}}")],
        min_val=0,
        stack=True,
    )
    board.timeseries(
        "VAST timeout ratio",
        "Share of VAST calls that timed out. Alert SidecarVastTimeoutRatioHigh above "
        f"{slo.VAST_TIMEOUT_RATIO_MAX:.0%}.",
        units.PercentUnit,
        [Q(f'sum(rate({vast},outcome="timeout"}}[{RATE}])) / sum(rate({vast}}}[{RATE}]))', "timeouts")],
        thresholds=above((slo.VAST_TIMEOUT_RATIO_MAX, "red")),
        min_val=0,
    )
    dec = f"ssai_ad_decision_seconds_bucket{{{SVC}}}"
    board.timeseries(
        "Ad decision latency",
        "Time to decide a break's ads, including the whole VAST wrapper chain.",
        units.Seconds,
        [
            Q(f"histogram_quantile(0.5, sum by (le) (rate({dec}[{RATE}])))", "p50"),
            Q(f"histogram_quantile(0.99, sum by (le) (rate({dec}[{RATE}])))", "p99"),
        ],
        min_val=0,
    )


def _beacons(board: Board) -> None:
    board.row("Tracking beacons (all channels)")
    beacons = f"ssai_beacons_total{{{SVC}"
    board.timeseries(
        "Beacons by result",
        "Server-side tracking beacons per second by event and result (sent, failed, retried, dropped).",
        units.OpsPerSecond,
        [Q(f"sum by (event, result) (rate({beacons}}}[{RATE}]))", "{{event}} {{result}}")],
        min_val=0,
    )
    board.timeseries(
        "Beacon failure ratio",
        "Failed or dropped beacons out of final outcomes (sent, failed, dropped; retries excluded). Alert "
        f"SidecarBeaconDeliveryFailing above {slo.BEACON_FAILURE_RATIO_MAX:.0%}.",
        units.PercentUnit,
        [
            Q(
                f'sum(rate({beacons},result=~"failed|dropped"}}[{RATE}]))\n/\n'
                f'sum(rate({beacons},result=~"sent|failed|dropped"}}[{RATE}]))',
                "not delivered",
            )
        ],
        thresholds=above((slo.BEACON_FAILURE_RATIO_MAX, "red")),
        min_val=0,
    )
    board.timeseries(
        "Beacon queue depth",
        "Beacons queued and not yet acknowledged, per process.",
        units.Short,
        [Q(f"ssai_beacon_queue_depth{{{SVC}}}", "{{instance}}")],
        min_val=0,
    )
    board.timeseries(
        "Oldest queued beacon",
        "Age of the oldest unacknowledged beacon, per process. Alert SidecarBeaconQueueStale above "
        f"{slo.BEACON_QUEUE_AGE_SECONDS_MAX:g} s.",
        units.Seconds,
        [Q(f"ssai_beacon_queue_oldest_age_seconds{{{SVC}}}", "{{instance}}")],
        thresholds=above((slo.BEACON_QUEUE_AGE_SECONDS_MAX, "red")),
        min_val=0,
    )


def build() -> Dashboard:
    board = Board(
        UID,
        "Sidecar / Ad delivery",
        "Fill rate, ad decisions, VAST outcomes and server-side tracking beacons. org/channel filter the "
        "per-channel panels; VAST and beacon series have no channel label.",
    )
    board.variable(
        "org",
        "Organization",
        f'label_values(ssai_avail_seconds_total{{job="{slo.SERVICE_JOB}"}}, org)',
        description="Organization slug.",
    )
    board.variable(
        "channel",
        "Channel",
        f'label_values(ssai_avail_seconds_total{{job="{slo.SERVICE_JOB}",org=~"$org"}}, channel)',
        description="Channel slug.",
    )
    _fill(board)
    _vast(board)
    _beacons(board)
    return board.builder
