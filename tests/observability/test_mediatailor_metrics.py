"""docs/mediatailor-metrics.md stays true to the catalogue: every ssai_ series it names exists, every
PromQL expression in its table parses, and every MediaTailor metric of the peers' list is covered."""

from __future__ import annotations

import re
from pathlib import Path

import promql_parser

from sidecar.telemetry.catalogue import metric_names

DOC = Path(__file__).resolve().parents[2] / "docs" / "mediatailor-metrics.md"
MEDIATAILOR = {
    "AdDecisionServer.Ads",
    "AdDecisionServer.Duration",
    "AdDecisionServer.Errors",
    "AdDecisionServer.Timeouts",
    "AdDecisionServer.FillRate",
    "AdNotReady",
    "Avail.Duration",
    "Avail.FilledDuration",
    "Avail.FillRate",
    "GetManifest.Errors",
    "Origin.Errors",
    "Origin.Timeouts",
}


def rows() -> list[list[str]]:
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_every_mediatailor_metric_has_a_row() -> None:
    named = {re.sub(r"`", "", r[0]).split(" ")[0] for r in rows()}
    assert MEDIATAILOR <= named


def test_every_series_named_is_in_the_catalogue() -> None:
    catalogue = metric_names()
    names = set(re.findall(r"\bssai_[a-z0-9_]+", DOC.read_text()))
    assert names, "the page names our series"
    unknown = {n for n in names if not {n, f"{n}_total", f"{n}_bucket"} & catalogue}
    assert unknown == set()


def test_every_promql_expression_parses() -> None:
    exprs = [m for r in rows() for m in re.findall(r"`([^`]+)`", r[3]) if "(" in m]
    assert len(exprs) >= 10
    for expr in exprs:
        promql_parser.parse(expr)
