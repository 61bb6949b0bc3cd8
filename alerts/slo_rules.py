"""Multi-window, multi-burn-rate SLO rules (Google SRE workbook, ch. 5): the manifest SLOs (per
job) and config propagation (per org).

Each SLO records its error ratio once per window; each row of ``slo.BURN_WINDOWS`` becomes one
alerting rule that needs both its long and its short window over ``factor x budget``: the long
window proves the burn is significant, the short one that it is still happening (so the alert
resolves minutes, not hours, after a fix). All rows of one SLO share an alert name and differ
in severity, so Alertmanager's critical-inhibits-warning rule keeps one notification per SLO.

An SLO with few events (config changes: a handful an hour per org) also has a ``guard``: every
row needs more than one bad event in its long window, so a single slow change among three does
not page as a 33 % error ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import Alert, Group, Record, le, num, slower_than
from sidecar.telemetry import slo

_SVC = f'job="{slo.SERVICE_JOB}"'


@dataclass(frozen=True)
class RatioSLO:
    """An SLO whose error ratio PromQL is ``error_ratio`` with ``WINDOW`` standing for the range."""

    slo: slo.SLO
    alert: str
    record_metric: str  # the metric part of ``<level>:<metric>:ratio_rate<w>``
    error_ratio: str
    what: str  # "failed with a 5xx", "took longer than 0.15s" (for descriptions)
    summary: str
    level: str = "job"  # what the ratio is aggregated by (and the alerts are labelled with)
    subject: str = "manifest requests to {{ $labels.job }}"  # what the percentage is of
    guard: str | None = None  # PromQL, LONG standing for the row's long window: also required

    def record(self, window: str) -> str:
        return f"{self.level}:{self.record_metric}:ratio_rate{window}"


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

_PROPAGATION = "ssai_config_propagation_seconds"
CONFIG_PROPAGATION = RatioSLO(
    slo=slo.CONFIG_PROPAGATION,
    alert="SidecarConfigPropagationBudgetBurn",
    record_metric="ssai_config_propagation_slow",
    error_ratio=(
        f"(\n  sum by (org) (rate({_PROPAGATION}_count{{{_SVC}}}[WINDOW]))\n  -\n"
        f'  sum by (org) (rate({_PROPAGATION}_bucket{{{_SVC},le="{le(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX)}"}}'
        f"[WINDOW]))\n)\n/\nsum by (org) (rate({_PROPAGATION}_count{{{_SVC}}}[WINDOW]))"
    ),
    what=f"took longer than {num(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX)}s to reach a process",
    summary="Config changes reach the service's processes too slowly for the propagation error budget.",
    level="org",
    subject="config changes of org {{ $labels.org }}",
    guard=slower_than(_PROPAGATION, _SVC, slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX, "org", "LONG")
    + f" > {num(slo.CONFIG_UPDATE_SLOW_CHANGES_MAX)}",
)

SLOS = (MANIFEST_AVAILABILITY, MANIFEST_LATENCY, CONFIG_PROPAGATION)


def recording_rules(item: RatioSLO) -> list[Record]:
    return [Record(item.record(w), item.error_ratio.replace("WINDOW", w)) for w in slo.slo_windows()]


def burn_alerts(item: RatioSLO) -> list[Alert]:
    alerts = []
    objective = f"{item.slo.objective * 100:g}%"
    for window in slo.BURN_WINDOWS:
        threshold = num(slo.burn_threshold(item.slo, window))
        expr = f"{item.record(window.long)} > {threshold}\nand\n{item.record(window.short)} > {threshold}"
        if item.guard is not None:
            expr += f"\nand on ({item.level})\n" + item.guard.replace("LONG", window.long)
        alerts.append(
            Alert(
                name=item.alert,
                expr=expr,
                for_=window.for_,
                severity=window.severity,
                summary=item.summary,
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of {item.subject} "
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
