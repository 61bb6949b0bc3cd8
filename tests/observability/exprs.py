"""Every PromQL expression the project ships, from the committed rule YAML and dashboard JSON.

Tests read the committed files (what Prometheus and Grafana load), not the builders, so a
hand edit of the YAML/JSON is checked too. Grafana-only syntax is replaced by plain PromQL
before parsing: ``$__rate_interval`` and friends by a duration, ``$var`` inside a label
matcher by ``.*``, and ``label_values(selector, label)`` by its selector.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS_DIR = ROOT / "alerts"
DASHBOARDS_DIR = ROOT / "dashboards"
RULE_FILES = (ALERTS_DIR / "sidecar-rules.yml", ALERTS_DIR / "sidecar-alerts.yml")

_GRAFANA_RANGES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$", re.DOTALL)
_VARIABLE = re.compile(r"\$\{?\w+\}?")


@dataclass(frozen=True)
class Expr:
    where: str  # "alerts/sidecar-alerts.yml: SidecarTargetDown", "dashboards/x.json: panel 'Title' A"
    text: str  # as shipped
    promql: str  # plain PromQL


def to_promql(text: str) -> str:
    """Grafana query text as plain PromQL (see module docstring)."""
    match = _LABEL_VALUES.match(text.strip())
    if match:
        text = match.group("selector")
    for macro, duration in _GRAFANA_RANGES.items():
        text = text.replace(macro, duration)
    return _VARIABLE.sub(".*", text)


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in RULE_FILES:
        groups.extend(yaml.safe_load(path.read_text())["groups"])
    return groups


def rules() -> list[dict[str, Any]]:
    return [rule for group in rule_groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def recorded_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def rule_exprs() -> list[Expr]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                out.append(Expr(f"{path.relative_to(ROOT)}: {name}", rule["expr"], rule["expr"]))
    return out


def dashboard_exprs() -> list[Expr]:
    out = []
    for name, board in dashboards().items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                where = f"dashboards/{name}: panel {panel.get('title')!r} {target.get('refId')}"
                out.append(Expr(where, target["expr"], to_promql(target["expr"])))
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                query = var["query"] if isinstance(var["query"], str) else var["query"]["query"]
                out.append(Expr(f"dashboards/{name}: variable {var['name']}", query, to_promql(query)))
    return out


def all_exprs() -> list[Expr]:
    return rule_exprs() + dashboard_exprs()
