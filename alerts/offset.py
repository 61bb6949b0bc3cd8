"""promtool unit tests with real scrape timing: samples offset from rule evaluation.

The hand-written tests in ``alerts/tests`` put every sample exactly on an evaluation time. A real
Prometheus scrapes at its own pace, offset from its rule evaluations, and that changes what the
rules compute: ``increase()`` extrapolates to the window's edges (one event reads 1.004), a
series' first sample is whatever it was born with, and a restarted target leaves a gap and a
stale marker. The scenarios in ``alerts/offset_scenarios.py`` are written as timelines of
events (a churn at minute 21, a crash every 10 minutes, a restart with a 20 s gap) and rendered
here into promtool input series whose samples sit half a scrape interval off the evaluation
grid (scrape every 15 s, 7.5 s after each evaluation, by default).

``python -m alerts.build`` writes them to ``alerts/tests/offset-*.yaml`` (generated; do not
edit). The expected alerts, values and descriptions are written by hand in the scenarios.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from alerts.model import Alert, dump

STALE = "stale"
Value = Callable[[float], float]

#: Rule groups in evaluation order (recording rules first), as the hand-written tests use.
GROUP_ORDER = [
    "sidecar-slo.rules",
    "sidecar-kpi.rules",
    "sidecar-slo.alerts",
    "sidecar-kpi.alerts",
    "sidecar-config.alerts",
    "sidecar-delivery.alerts",
    "sidecar-process.alerts",
    "sidecar-targets.alerts",
]


def minutes(value: float) -> float:
    return value * 60.0


# --- how a series' value evolves ------------------------------------------------------------------
def events(times: Iterable[float], *, amount: float = 1.0, start: float = 0.0) -> Value:
    """A counter that rises by ``amount`` at each of ``times`` (seconds)."""
    at = sorted(times)
    return lambda t: start + amount * sum(1 for e in at if e <= t)


def ramp(per_second: float, *, since: float = 0.0, until: float | None = None) -> Value:
    """A counter rising steadily by ``per_second`` from ``since`` (to ``until``)."""

    def value(t: float) -> float:
        end = t if until is None else min(t, until)
        return max(0.0, end - since) * per_second

    return value


def const(v: float) -> Value:
    return lambda t: v


def total(*parts: Value) -> Value:
    return lambda t: sum(p(t) for p in parts)


def piecewise(*pieces: tuple[float, Value]) -> Value:
    """From each start time on, the value of its piece (a gauge that changes)."""
    ordered = sorted(pieces, key=lambda p: p[0])

    def value(t: float) -> float:
        current = ordered[0][1]
        for start, piece in ordered:
            if t >= start:
                current = piece
        return current(t)

    return value


@dataclass(frozen=True)
class Series:
    """One input series: ``selector`` with its value over time; no samples before ``born``,
    while its target is ``down`` (a stale marker at the first missed scrape: what Prometheus
    writes when a scrape fails) or from ``gone`` on (stale once, then nothing)."""

    selector: str
    value: Value
    born: float = 0.0
    down: tuple[tuple[float, float], ...] = ()
    gone: float | None = None

    def token(self, t: float, scrape: float) -> str:
        if t < self.born:
            return "_"
        for start, end in self.down:
            if start <= t < end:
                return STALE if t - start < scrape else "_"
        if self.gone is not None and t >= self.gone:
            return STALE if t - self.gone < scrape else "_"
        v = self.value(t)
        return f"{v:.10g}"


@dataclass(frozen=True)
class Firing:
    """One alert expected to be firing: its labels (severity included) and description."""

    labels: dict[str, str]
    description: str


@dataclass(frozen=True)
class Expect:
    at: float  # seconds
    alert: str
    firing: tuple[Firing, ...] = ()


@dataclass(frozen=True)
class ExprCheck:
    """A promql_expr_test: ``expr`` at ``at`` must give exactly ``samples`` (labels text -> value)."""

    expr: str
    at: float
    samples: dict[str, float]


@dataclass(frozen=True)
class Scenario:
    title: str
    until: float  # seconds of input
    series: tuple[Series, ...]
    expect: tuple[Expect, ...] = ()
    exprs: tuple[ExprCheck, ...] = ()


@dataclass(frozen=True)
class OffsetFile:
    name: str  # offset-<what>-test.yaml
    about: str
    scenarios: tuple[Scenario, ...]
    scrape: float = 15.0  # seconds; evaluations every `scrape`, samples `scrape / 2` after them
    extra: dict[str, Any] = field(default_factory=dict)


def duration(seconds: float) -> str:
    """Prometheus duration text: 31m15s, 7500ms, 2h."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out or "0s"


def values(series: Series, until: float, scrape: float) -> str:
    """Samples every ``scrape`` seconds, half an interval after each evaluation: promtool's
    ``interval`` is half the scrape interval and every evaluation-aligned slot is empty."""
    tokens = []
    slots = int(until / (scrape / 2))
    for slot in range(slots + 1):
        t = slot * scrape / 2
        tokens.append(series.token(t, scrape) if slot % 2 else "_")
    return " ".join(tokens)


def _alerts_by_name(alerts: Iterable[Alert]) -> dict[tuple[str, str], Alert]:
    return {(a.name, a.severity): a for a in alerts}


def render(file: OffsetFile, alerts: Iterable[Alert]) -> str:
    """The promtool test file (summary and runbook_url are taken from the rule they test)."""
    rules = _alerts_by_name(alerts)
    tests = []
    for scenario in file.scenarios:
        test: dict[str, Any] = {
            "name": scenario.title,
            "interval": duration(file.scrape / 2),
            "input_series": [
                {"series": s.selector, "values": values(s, scenario.until, file.scrape)} for s in scenario.series
            ],
        }
        if scenario.expect:
            test["alert_rule_test"] = [
                {
                    "eval_time": duration(e.at),
                    "alertname": e.alert,
                    "exp_alerts": [
                        {
                            "exp_labels": f.labels,
                            "exp_annotations": {
                                "summary": rules[(e.alert, f.labels["severity"])].summary,
                                "description": f.description,
                                "runbook_url": rules[(e.alert, f.labels["severity"])].to_dict()["annotations"][
                                    "runbook_url"
                                ],
                            },
                        }
                        for f in e.firing
                    ],
                }
                for e in scenario.expect
            ]
        if scenario.exprs:
            test["promql_expr_test"] = [
                {
                    "expr": c.expr,
                    "eval_time": duration(c.at),
                    "exp_samples": [{"labels": labels, "value": value} for labels, value in c.samples.items()],
                }
                for c in scenario.exprs
            ]
        tests.append(test)
    document = {
        "rule_files": ["../sidecar-rules.yml", "../sidecar-alerts.yml"],
        "evaluation_interval": duration(file.scrape),
        "group_eval_order": GROUP_ORDER,
        "tests": tests,
    }
    header = (
        f"# {file.about}\n# Samples every {duration(file.scrape)}, {duration(file.scrape / 2)} after each rule "
        "evaluation (alerts/offset.py).\n"
    )
    return dump(document).replace("\n", "\n" + header, 1)
