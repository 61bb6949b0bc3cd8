"""The committed dashboards: up to date with the code, and following dashboard-linter's rules
(templated datasource everywhere, units, titles, descriptions, refIds, $__rate_interval), with
threshold lines equal to the alert thresholds in sidecar.telemetry.slo."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dashboards import build
from sidecar.telemetry import slo
from sidecar.telemetry.grafana import DATASOURCE_UID
from tests.observability.exprs import dashboards, panels

DS = {"type": "prometheus", "uid": "${datasource}"}
BOARDS = dashboards()
#: Fixed windows a panel may use instead of $__rate_interval, and why.
ALLOWED_RANGES = {
    "$__rate_interval": "the default",
    "1h": "per-hour panels match the per-hour alert thresholds (churn, young instances, fill rate, crash "
    "restarts), and instance ends are too rare for a rate window (lifetime)",
    "$__range": "SLI over the dashboard's time range",
}


def all_panels() -> list[tuple[str, dict[str, Any]]]:
    return [(name, p) for name, board in BOARDS.items() for p in panels(board) if p["type"] != "row"]


def panel(board: str, title: str) -> dict[str, Any]:
    found = [p for p in panels(BOARDS[board]) if p.get("title") == title]
    assert len(found) == 1, f"{board}: {title!r}"
    return found[0]


def test_committed_json_is_what_the_code_builds() -> None:
    assert build.stale() == [], "run: python -m dashboards.build"


def test_check_mode_detects_stale_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in build.outputs():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "sidecar-ads.json").write_text((tmp_path / "sidecar-ads.json").read_text().replace("0.5", "0.4", 1))
    monkeypatch.setattr(build, "HERE", tmp_path)
    assert build.stale() == [tmp_path / "sidecar-ads.json"]
    assert build.main(["--check"]) == 1


def test_build_is_deterministic() -> None:
    assert build.outputs() == build.outputs()


def test_fixed_unique_uids_and_the_grafana_11_6_schema() -> None:
    assert {name: b["uid"] for name, b in BOARDS.items()} == {
        "sidecar-ads.json": "sidecar-ads",
        "sidecar-channel.json": "sidecar-channel",
        "sidecar-overview.json": "sidecar-overview",
    }
    for board in BOARDS.values():
        assert board["schemaVersion"] == 41  # grafana-foundation-sdk 11.6 build
        assert board["title"].startswith("Sidecar / ")
        assert board["description"]
        assert "id" not in board or board["id"] is None


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_one_datasource_variable_defaulting_to_the_pushed_datasource(name: str) -> None:
    variables = BOARDS[name]["templating"]["list"]
    ds = [v for v in variables if v["type"] == "datasource"]
    assert len(ds) == 1
    assert ds[0]["name"] == "datasource" and ds[0]["query"] == "prometheus"
    assert ds[0]["current"]["value"] == DATASOURCE_UID
    for var in variables:
        if var["type"] == "query":
            assert var["datasource"] == DS, var["name"]


def _datasource_refs(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every ``datasource`` value anywhere in the JSON."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{path}/{key}", value))
            found.extend(_datasource_refs(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_datasource_refs(value, f"{path}/{i}"))
    return found


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_no_hard_coded_datasource(name: str) -> None:
    refs = _datasource_refs(BOARDS[name])
    assert len(refs) > 10
    assert [(where, ref) for where, ref in refs if ref != DS] == []


@pytest.mark.parametrize("where,p", all_panels(), ids=lambda x: x if isinstance(x, str) else x.get("title", ""))
def test_panel_has_title_description_unit_datasource_and_ref_ids(where: str, p: dict[str, Any]) -> None:
    assert p["title"] and p["description"]
    assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']}: no unit"
    assert p["datasource"] == DS
    targets = p["targets"]
    assert targets
    ref_ids = [t["refId"] for t in targets]
    assert all(ref_ids) and len(set(ref_ids)) == len(ref_ids)
    for t in targets:
        assert t["datasource"] == DS and t["expr"].strip()


@pytest.mark.parametrize("where,p", all_panels(), ids=lambda x: x if isinstance(x, str) else x.get("title", ""))
def test_ranges_use_rate_interval_unless_a_fixed_window_is_the_point(where: str, p: dict[str, Any]) -> None:
    for t in p["targets"]:
        for window in re.findall(r"\[([^\]]+)\]", t["expr"]):
            assert window in ALLOWED_RANGES, f"{p['title']}: [{window}]"


def test_panels_use_rate_interval() -> None:
    exprs = [t["expr"] for _, p in all_panels() for t in p["targets"]]
    assert sum("$__rate_interval" in e for e in exprs) > len(exprs) / 2


def _steps(p: dict[str, Any]) -> list[float]:
    return [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]


@pytest.mark.parametrize(
    "board,title,expected",
    [
        (
            "sidecar-overview.json",
            "Config update latency (probe)",
            [slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS, slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX],
        ),
        (
            "sidecar-overview.json",
            "Config update latency (every process)",
            [slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS, slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX],
        ),
        (
            "sidecar-channel.json",
            "Config update latency (org)",
            [slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS, slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX],
        ),
        ("sidecar-overview.json", "Config propagation error budget burn rate", [6.0, 14.4]),
        ("sidecar-overview.json", "Process starts (last hour)", [slo.PROCESS_CRASHES_PER_HOUR_MAX]),
        ("sidecar-overview.json", "Actor instance lifetime", [slo.KPI_ACTOR_LIFETIME_SECONDS]),
        ("sidecar-overview.json", "Actor churn per channel (last hour)", [slo.ACTOR_CHURN_PER_HOUR_MAX]),
        (
            "sidecar-overview.json",
            "Young-instance requests per channel (last hour)",
            [slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX],
        ),
        ("sidecar-overview.json", "State persistence success", [slo.KPI_STATE_PERSIST_RATIO]),
        (
            "sidecar-overview.json",
            "Config cache hit rate",
            [slo.CONFIG_CACHE_HIT_RATIO_MIN, slo.KPI_CONFIG_CACHE_HIT_RATIO],
        ),
        ("sidecar-overview.json", "Manifest latency", [slo.MANIFEST_LATENCY_SECONDS]),
        ("sidecar-overview.json", "Manifest availability SLI (dashboard range)", [slo.MANIFEST_AVAILABILITY.objective]),
        ("sidecar-overview.json", "Manifest latency error budget burn rate", [6.0, 14.4]),
        (
            "sidecar-channel.json",
            "Config cache hit rate",
            [slo.CONFIG_CACHE_HIT_RATIO_MIN, slo.KPI_CONFIG_CACHE_HIT_RATIO],
        ),
        ("sidecar-channel.json", "Actor churn (last hour)", [slo.ACTOR_CHURN_PER_HOUR_MAX]),
        ("sidecar-channel.json", "Young-instance requests (last hour)", [slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX]),
        ("sidecar-ads.json", "Fill rate per channel (last hour)", [slo.AD_FILL_RATIO_MIN]),
        ("sidecar-ads.json", "VAST timeout ratio", [slo.VAST_TIMEOUT_RATIO_MAX]),
        ("sidecar-ads.json", "Beacon failure ratio", [slo.BEACON_FAILURE_RATIO_MAX]),
        ("sidecar-ads.json", "Oldest queued beacon", [slo.BEACON_QUEUE_AGE_SECONDS_MAX]),
    ],
)
def test_threshold_lines_are_the_alert_thresholds(board: str, title: str, expected: list[float]) -> None:
    p = panel(board, title)
    assert _steps(p) == expected
    if p["type"] == "timeseries":
        assert p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"


def test_seed_numbers_on_the_overview() -> None:
    """The seed's literal numbers, so a wrong constant in slo.py cannot pass unnoticed."""
    assert _steps(panel("sidecar-overview.json", "Config update latency (probe)"))[-1] == 2.0
    assert _steps(panel("sidecar-overview.json", "Config cache hit rate"))[0] == 0.8
    assert _steps(panel("sidecar-overview.json", "Actor churn per channel (last hour)")) == [1.0]


def test_overview_has_the_seed_kpis_and_manifest_slos() -> None:
    text = json.dumps(BOARDS["sidecar-overview.json"])
    for metric in (
        "ssai_probe_config_propagation_seconds_bucket",
        "ssai_config_propagation_seconds_bucket",
        "ssai_config_invalidation_seconds_bucket",
        "org:ssai_config_propagation_slow:ratio_rate1h",
        "ssai_process_starts_total",
        "ssai_actor_lifetime_seconds_bucket",
        "org_channel:ssai_actor_churn:increase1h",
        "ssai_state_persist_total",
        "ssai_config_cache_requests_total",
        "job:ssai_manifest_request_errors:ratio_rate1h",
        "job:ssai_manifest_request_slow:ratio_rate1h",
    ):
        assert metric in text
    latency = panel("sidecar-overview.json", "Config update latency (probe)")
    assert [t["legendFormat"] for t in latency["targets"]] == ["p50", "p99"]


def test_no_pseudo_value_can_reach_a_variable() -> None:
    """Variables list label values; the service never exports a made-up org or channel (a request
    for an unknown channel carries no org/channel label: tests/web/test_cache_counting.py)."""
    from sidecar.telemetry import catalogue

    assert catalogue.NO_CHANNEL == ""  # Prometheus drops empty labels: label_values() never lists it
    text = json.dumps(BOARDS)
    assert "UNKNOWN" not in text


def test_drill_down_variables_are_label_values_and_used() -> None:
    board = BOARDS["sidecar-channel.json"]
    variables = {v["name"]: v for v in board["templating"]["list"] if v["type"] == "query"}
    assert set(variables) == {"colo", "org", "channel"}
    for name, var in variables.items():
        assert var["query"].startswith("label_values(") and var["query"].endswith(f", {name})")
        assert var["includeAll"] and var["allValue"] == ".*"
    exprs = " ".join(t["expr"] for p in panels(board) for t in p.get("targets", []))
    for name in variables:
        assert f'{name}=~"${name}"' in exprs
    assert "ssai_actor_instances" in variables["colo"]["query"]


def test_ad_delivery_dashboard_covers_fill_decisions_vast_beacons() -> None:
    text = json.dumps(BOARDS["sidecar-ads.json"])
    for metric in (
        "ssai_avail_filled_seconds_total",
        "ssai_avail_seconds_total",
        "ssai_ad_decisions_total",
        "ssai_vast_requests_total",
        "ssai_beacons_total",
        "ssai_beacon_queue_depth",
        "ssai_beacon_queue_oldest_age_seconds",
    ):
        assert metric in text
