"""Every metric named by a rule or a dashboard exists in the catalogue, with the right job and
bucket bounds; every expression parses (promql-parser for the names, promtool for Prometheus'
own grammar)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.utils import floatToGoString as _go_float

from sidecar.telemetry import catalogue, slo
from sidecar.telemetry.ledger import LedgerHistogram
from tests.observability.exprs import Expr, all_exprs, dashboard_exprs, recorded_names, rule_exprs


def floatToGoString(value: float) -> str:
    """How prometheus_client writes a bucket bound into ``le``."""
    text: str = _go_float(value)  # type: ignore[no-untyped-call]
    return text


#: Series Prometheus itself creates, which the rules and dashboards may use.
PROMETHEUS_BUILTINS = {"up", "ALERTS"}


def selectors(promql: str) -> Iterator[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(promql), visit)
    yield from found


def metric_names_in(promql: str) -> set[str]:
    names = set()
    for sel in selectors(promql):
        assert sel.name, f"selector without a metric name in {promql!r}"
        names.add(sel.name)
    return names


def unknown_metrics(exprs: list[Expr]) -> dict[str, set[str]]:
    known = catalogue.metric_names() | recorded_names() | PROMETHEUS_BUILTINS
    out = {}
    for e in exprs:
        missing = metric_names_in(e.promql) - known
        if missing:
            out[e.where] = missing
    return out


def test_every_rule_and_panel_metric_is_in_the_catalogue() -> None:
    assert unknown_metrics(all_exprs()) == {}


def test_the_check_sees_the_metrics_and_would_catch_an_unknown_one() -> None:
    seen = set().union(*(metric_names_in(e.promql) for e in all_exprs()))
    # the seed's five KPI metrics are all read somewhere
    for name in (
        "ssai_actor_churn_total",
        "ssai_config_cache_requests_total",
        "ssai_actor_young_instance_requests_total",
        "ssai_probe_config_propagation_seconds_bucket",
        "ssai_state_persist_total",
        "ssai_actor_lifetime_seconds_bucket",
        "ssai_manifest_requests_total",
        "ssai_manifest_request_seconds_bucket",
    ):
        assert name in seen
    bogus = [Expr("test", "x", 'sum(rate(ssai_not_a_metric_total{job="sidecar"}[5m])) / on() up')]
    assert unknown_metrics(bogus) == {"test": {"ssai_not_a_metric_total"}}


def _histogram_bounds() -> dict[str, set[str]]:
    """``<name>_bucket`` -> the ``le`` strings prometheus_client exports for it."""
    bounds: dict[str, set[str]] = {}
    registries: list[CollectorRegistry] = [catalogue.registry, catalogue.probe_registry]
    for registry in registries:
        for collector in list(registry._collector_to_names):
            if isinstance(collector, Histogram):
                bounds[f"{collector._name}_bucket"] = {floatToGoString(b) for b in collector._upper_bounds}
    for family in catalogue.lifecycle.families:  # the durable lifecycle histograms
        if isinstance(family, LedgerHistogram):
            bounds[f"{family.name}_bucket"] = {floatToGoString(b) for b in family.buckets}
    return bounds


def test_le_matchers_name_real_bucket_bounds() -> None:
    """Prometheus 2.x compares ``le`` as text: ``le="2"`` never matches a bucket exported as "2.0"."""
    bounds = _histogram_bounds()
    checked = 0
    for e in all_exprs():
        for sel in selectors(e.promql):
            for m in sel.matchers.matchers:
                if m.name == "le" and m.op == promql_parser.MatchOp.Equal:
                    assert sel.name in bounds, e.where
                    assert m.value in bounds[sel.name], f"{e.where}: le={m.value!r} is not one of {bounds[sel.name]}"
                    checked += 1
    assert checked >= 2


def test_thresholds_are_bucket_bounds() -> None:
    """Latency thresholds must be bucket bounds, so "share slower than X" is exact."""
    bounds = _histogram_bounds()
    assert (
        floatToGoString(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX) in bounds["ssai_probe_config_propagation_seconds_bucket"]
    )
    assert (
        floatToGoString(slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS) in bounds["ssai_probe_config_propagation_seconds_bucket"]
    )
    assert floatToGoString(slo.MANIFEST_LATENCY_SECONDS) in bounds["ssai_manifest_request_seconds_bucket"]
    for name in ("ssai_config_propagation_seconds_bucket", "ssai_probe_config_propagation_seconds_bucket"):
        assert floatToGoString(slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX) in bounds[name]
        assert floatToGoString(slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS) in bounds[name]
    assert floatToGoString(slo.KPI_ACTOR_LIFETIME_SECONDS) in bounds["ssai_actor_lifetime_seconds_bucket"]


def test_every_selector_names_the_job_that_exports_the_metric() -> None:
    """Rules must not match another job's series of the same name; probe series live under the probe's job."""
    probe = catalogue.metric_names(catalogue.probe_registry)
    service = catalogue.metric_names(catalogue.registry)
    for e in rule_exprs() + dashboard_exprs():
        for sel in selectors(e.promql):
            if sel.name not in probe | service:
                continue
            jobs = {m.value for m in sel.matchers.matchers if m.name == "job" and m.op == promql_parser.MatchOp.Equal}
            expected = slo.PROBE_JOB if sel.name in probe else slo.SERVICE_JOB
            assert jobs == {expected}, f"{e.where}: {sel.name} without job={expected!r}"


def test_every_expression_parses_with_promtool(tmp_path: Path) -> None:
    exprs = all_exprs()
    rules = [{"record": f"check:expr_{i}:parse", "expr": e.promql} for i, e in enumerate(exprs)]
    path = tmp_path / "all-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "parse", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_promtool_rejects_what_the_parser_rejects(tmp_path: Path) -> None:
    """The promtool check above can fail: a broken expression makes it exit non-zero."""
    path = tmp_path / "bad.yml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b:c", "expr": "sum(rate(x[5m]"}]}]})
    )
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(x[5m]")
