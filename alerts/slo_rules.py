"""Multi-window, multi-burn-rate SLO rules (Google SRE workbook, ch. 5) for the manifest SLOs.

Each SLO records its error ratio once per window; each row of ``slo.BURN_WINDOWS`` becomes one
alerting rule that needs both its long and its short window over ``factor x budget``: the long
window proves the burn is significant, the short one that it is still happening (so the alert
resolves minutes, not hours, after a fix). All rows of one SLO share an alert name and differ
in severity, so Alertmanager's critical-inhibits-warning rule keeps one notification per SLO.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import Alert, Group, Record, num
from sidecar.telemetry import slo

_SVC = f'job="{slo.SERVICE_JOB}"'


@dataclass(frozen=True)
class RatioSLO:
    """An SLO whose error ratio PromQL is ``error_ratio`` with ``WINDOW`` standing for the range."""

    slo: slo.SLO
    alert: str
    record_metric: str  # the metric part of ``job:<metric>:ratio_rate<w>``
    error_ratio: str
    what: str  # "failed with a 5xx", "took longer than 0.15s" (for descriptions)
    summary: str

    def record(self, window: str) -> str:
        return f"job:{self.record_metric}:ratio_rate{window}"


MANIFEST_AVAILABILITY = RatioSLO(
    slo=slo.MANIFEST_AVAILABILITY,
    alert="SidecarManifestAvailabilityBudgetBurn",
    record_metric="ssai_manifest_request_errors",
    # `or 0 * total`: a window without any 5xx records 0 rather than nothing, so dashboards
    # show a flat line and a missing series means "no traffic", not "no errors".
    error_ratio=(
        f'(\n  sum by (job) (rate(ssai_manifest_requests_total{{{_SVC},status=~"5.."}}[WINDOW]))\n'
        f"  or\n  0 * sum by (job) (rate(ssai_manifest_requests_total{{{_SVC}}}[WINDOW]))\n)\n"
        f"/\nsum by (job) (rate(ssai_manifest_requests_total{{{_SVC}}}[WINDOW]))"
    ),
    what="answered with a 5xx",
    summary="Viewer manifest requests are failing fast enough to exhaust the availability error budget.",
)

MANIFEST_LATENCY = RatioSLO(
    slo=slo.MANIFEST_LATENCY,
    alert="SidecarManifestLatencyBudgetBurn",
    record_metric="ssai_manifest_request_slow",
    # (all - fast) / all rather than 1 - fast/all: exact for whole-number counts, no 1e-17 noise.
    error_ratio=(
        f"(\n  sum by (job) (rate(ssai_manifest_request_seconds_count{{{_SVC}}}[WINDOW]))\n  -\n"
        f'  sum by (job) (rate(ssai_manifest_request_seconds_bucket{{{_SVC},le="{num(slo.MANIFEST_LATENCY_SECONDS)}"}}'
        f"[WINDOW]))\n)\n/\nsum by (job) (rate(ssai_manifest_request_seconds_count{{{_SVC}}}[WINDOW]))"
    ),
    what=f"took longer than {num(slo.MANIFEST_LATENCY_SECONDS)}s",
    summary="Viewer manifest requests are slow enough to exhaust the latency error budget.",
)

SLOS = (MANIFEST_AVAILABILITY, MANIFEST_LATENCY)


def recording_rules(item: RatioSLO) -> list[Record]:
    return [Record(item.record(w), item.error_ratio.replace("WINDOW", w)) for w in slo.slo_windows()]


def burn_alerts(item: RatioSLO) -> list[Alert]:
    alerts = []
    objective = f"{item.slo.objective * 100:g}%"
    for window in slo.BURN_WINDOWS:
        threshold = num(slo.burn_threshold(item.slo, window))
        alerts.append(
            Alert(
                name=item.alert,
                expr=(f"{item.record(window.long)} > {threshold}\nand\n{item.record(window.short)} > {threshold}"),
                for_=window.for_,
                severity=window.severity,
                summary=item.summary,
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of manifest requests to {{{{ $labels.job }}}} "
                    f"{item.what} over the last {window.long} (and still over the last {window.short}): "
                    f"{num(window.factor)}x the rate the {objective} {item.slo.title.lower()} SLO can afford "
                    f"over {slo.SLO_PERIOD_DAYS} days."
                ),
                labels={"slo": item.slo.name, "long": window.long, "short": window.short},
            )
        )
    return alerts


def recording_group() -> Group:
    return Group("sidecar-slo.rules", tuple(r for item in SLOS for r in recording_rules(item)))


def alert_group() -> Group:
    return Group("sidecar-slo.alerts", tuple(a for item in SLOS for a in burn_alerts(item)))
