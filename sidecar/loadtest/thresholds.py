"""Pass/fail thresholds for a load test (``--threshold 'p99<0.15'``), after k6's thresholds.

A threshold is ``METRIC OP VALUE``: latency percentiles in seconds (``150ms`` also works), ratios
as fractions (``0.1%`` also works). A run whose threshold fails still writes its report, then
exits with :data:`EXIT_FAILED` (k6's exit code for failed thresholds) after one line per failed
threshold naming it, so a CI job fails on it. A threshold with no data (``fill`` in a run that saw
no ad break) fails: a gate that cannot tell is not a pass.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

EXIT_FAILED = 99

SECONDS, RATIO, RATE = "seconds", "ratio", "per second"

#: metric -> (what it measures, unit)
METRICS: dict[str, tuple[str, str]] = {
    "p50": ("median latency of successful requests", SECONDS),
    "p90": ("90th percentile latency of successful requests", SECONDS),
    "p95": ("95th percentile latency of successful requests", SECONDS),
    "p99": ("99th percentile latency of successful requests", SECONDS),
    "max": ("slowest successful request", SECONDS),
    "errors": ("share of requests that failed", RATIO),
    "fill": ("ad seconds / ad-break seconds the viewers saw", RATIO),
    "viewers_with_ads": ("share of viewers that saw at least one second of ads", RATIO),
    "rps": ("requests per second", RATE),
}

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}
_SYNTAX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)?\s*(<=|>=|==|<|>)?\s*(.*?)\s*$")
_VALUE = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(ms|s|%)?$")


class ThresholdError(ValueError):
    """A threshold that does not parse; the message names the part that is wrong."""


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    op: str
    limit: float

    def check(self, actual: float | None) -> bool:
        return actual is not None and OPERATORS[self.op](actual, self.limit)


@dataclass(frozen=True)
class Result:
    threshold: Threshold
    actual: float | None
    passed: bool

    def line(self) -> str:
        """``threshold failed: p99<0.15 (p99 = 0.213 s)``"""
        verdict = "ok" if self.passed else "failed"
        t = self.threshold
        shown = "no data" if self.actual is None else f"{t.metric} = {format_value(t.metric, self.actual)}"
        return f"threshold {verdict}: {t.text} ({shown})"


def format_value(metric: str, value: float) -> str:
    unit = METRICS[metric][1]
    if unit == SECONDS:
        return f"{value * 1000:.4g} ms" if value < 1 else f"{value:.4g} s"
    if unit == RATIO:
        return f"{value * 100:.4g} %"
    return f"{value:.4g}/s"


def parse(text: str) -> Threshold:
    syntax = _SYNTAX.match(text)
    assert syntax is not None  # the pattern matches any string
    metric, op, raw = syntax.groups()
    where = f"--threshold {text!r}"
    if not metric or not op or not raw:
        raise ThresholdError(
            f"{where}: expected METRIC OP VALUE, e.g. 'p99<0.15' or 'errors<0.001' "
            f"(OP one of {', '.join(sorted(OPERATORS, key=len))})"
        )
    if metric not in METRICS:
        raise ThresholdError(f"{where}: unknown metric {metric!r}; one of {', '.join(METRICS)}")
    value = _VALUE.match(raw)
    if value is None:
        raise ThresholdError(f"{where}: {raw!r} is not a number (units: ms or s for latency, % for ratios)")
    number, suffix = float(value.group(1)), value.group(2)
    unit = METRICS[metric][1]
    if suffix == "ms" and unit == SECONDS:
        number /= 1000
    elif suffix == "%" and unit == RATIO:
        number /= 100
    elif suffix is not None and not (suffix == "s" and unit == SECONDS):
        allowed = "s or ms" if unit == SECONDS else "%" if unit == RATIO else "none"
        raise ThresholdError(f"{where}: unit {suffix!r} does not apply to {metric} ({unit}; units: {allowed})")
    return Threshold(text.strip(), metric, op, number)


def evaluate(thresholds: Sequence[Threshold], values: Mapping[str, float | None]) -> list[Result]:
    return [Result(t, values.get(t.metric), t.check(values.get(t.metric))) for t in thresholds]
