"""Rule types and their YAML form, with the monitoring-mixin conventions enforced in one place.

Every alert gets its ``runbook_url`` from its name (so a rename cannot leave a stale link),
and the checks mixtool's linter would make (CamelCase prefix, severity, static summary,
templated description) run when the rule is built rather than in review.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import yaml
from prometheus_client.utils import floatToGoString

from sidecar.telemetry import slo

ALERT_PREFIX = "Sidecar"
_CAMEL = re.compile(rf"^{ALERT_PREFIX}(?:[A-Z][a-z0-9]*)+$")
_RECORD = re.compile(r"^[a-z_]*:[a-z0-9_]+:[a-z0-9_]+$")
_DURATION = re.compile(r"^\d+[smhd]$")


def runbook_anchor(alertname: str) -> str:
    """GitHub's anchor for a ``### AlertName`` heading: the name in lower case."""
    return alertname.lower()


def runbook_url(alertname: str) -> str:
    return f"{slo.RUNBOOK_URL}#{runbook_anchor(alertname)}"


def num(value: float) -> str:
    """A threshold as PromQL text: ``0.8``, ``1``, ``0.0144`` (no float noise like 0.80000001)."""
    return f"{value:g}"


def le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it in ``le`` (``2.0``): Prometheus 2.x compares
    label values as text, so ``le="2"`` would match nothing."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def count_over(expr: str) -> str:
    """A whole-number count of events from an ``increase()`` expression. increase() extrapolates
    to the window's edges (one event reads 1.004 with a 15 s scrape), so a count threshold
    ``> N`` on the raw value would fire at exactly N; rounded, it means N + 1 events."""
    return f"round(\n{textwrap.indent(expr, '  ')}\n)" if "\n" in expr else f"round({expr})"


def slower_than(metric: str, selector: str, bound: float, by: str, window: str) -> str:
    """How many observations of histogram ``metric`` were slower than ``bound`` in ``window``: per
    ``by`` and scrape target, then the largest (one process's view), as a whole number."""
    return count_over(
        f"max by ({by}) (\n"
        f'  increase({metric}_bucket{{{selector},le="+Inf"}}[{window}])\n'
        f"  - ignoring (le)\n"
        f'  increase({metric}_bucket{{{selector},le="{le(bound)}"}}[{window}])\n'
        f")"
    )


@dataclass(frozen=True)
class Record:
    """A recording rule; ``record`` follows ``level:metric:operations``."""

    record: str
    expr: str

    def __post_init__(self) -> None:
        if not _RECORD.match(self.record):
            raise ValueError(f"recording rule {self.record!r} is not level:metric:operations")

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True)
class Alert:
    """An alerting rule. ``summary`` is one static sentence; ``description`` is templated."""

    name: str
    expr: str
    for_: str
    severity: slo.Severity
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _CAMEL.match(self.name):
            raise ValueError(f"alert {self.name!r}: CamelCase with the {ALERT_PREFIX} prefix")
        if self.severity not in ("critical", "warning", "info"):
            raise ValueError(f"alert {self.name}: severity {self.severity!r}")
        if not _DURATION.match(self.for_):
            raise ValueError(f"alert {self.name}: for {self.for_!r}")
        if "{{" in self.summary or not (self.summary[:1].isupper() and self.summary.endswith(".")):
            raise ValueError(f"alert {self.name}: summary must be a static sentence ending in '.'")
        if "{{" not in self.description:
            raise ValueError(f"alert {self.name}: description must be templated")
        if "severity" in self.labels:
            raise ValueError(f"alert {self.name}: pass severity as severity=")

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.for_,
            "labels": {"severity": self.severity, **self.labels},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": runbook_url(self.name),
            },
        }


@dataclass(frozen=True)
class Group:
    """A rule group. No ``interval``: the server's evaluation_interval applies, so a test server
    can evaluate every group every second."""

    name: str
    rules: tuple[Record | Alert, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rules": [r.to_dict() for r in self.rules]}


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings so expressions stay readable in review."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)

HEADER = "# Generated by `python -m alerts.build` from alerts/*.py and sidecar/telemetry/slo.py. Do not edit.\n"


def dump(document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def rules_file(groups: list[Group]) -> str:
    return dump({"groups": [g.to_dict() for g in groups]})
