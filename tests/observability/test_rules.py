"""The committed rule files: up to date with the code, valid for promtool, following the mixin
conventions, and every alert unit-tested on both sides of its threshold."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import build
from sidecar.telemetry import slo
from tests.observability.exprs import ALERTS_DIR, RULE_FILES, alerts, rule_groups, rules

TEST_FILES = sorted((ALERTS_DIR / "tests").glob("*.yaml"))


def test_committed_files_are_what_the_code_builds() -> None:
    assert build.stale() == [], "run: python -m alerts.build"


def test_check_mode_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "sidecar-alerts.yml"
    stale.write_text(build.ALERTING_FILE.read_text().replace("> 1\n", "> 2\n", 1))
    monkeypatch.setattr(build, "ALERTING_FILE", stale)
    assert build.stale() == [stale]
    assert build.main(["--check"]) == 1


def test_promtool_check_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests() -> None:
    """One promtool per file, in parallel (the burn-rate file alone evaluates 3 h of rules)."""
    assert len(TEST_FILES) >= 5
    procs = {
        path.name: subprocess.Popen(
            ["promtool", "test", "rules", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for path in TEST_FILES
    }
    outputs = {name: proc.communicate(timeout=120)[0] for name, proc in procs.items()}
    failed = {name: out for name, out in outputs.items() if procs[name].returncode != 0 or "SUCCESS" not in out}
    assert failed == {}


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation fails (so the suite above proves something)."""
    text = (ALERTS_DIR / "tests" / "config-test.yaml").read_text()
    text = text.replace("../sidecar-", f"{ALERTS_DIR}/sidecar-").replace("eval_time: 36m", "eval_time: 35m", 1)
    bad = tmp_path / "bad-test.yaml"
    bad.write_text(text)
    result = subprocess.run(["promtool", "test", "rules", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SidecarConfigPropagationTimeouts" in result.stdout + result.stderr


def _alert_tests() -> list[dict[str, Any]]:
    cases = []
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def test_every_alert_is_tested_firing_and_quiet() -> None:
    """Each alert has a case where it fires (non-empty exp_alerts) and one where it is expected
    to stay silent (the minute before ``for:`` elapses, or just below the threshold)."""
    cases = _alert_tests()
    names = {a["alert"] for a in alerts()}
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert names - fired == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"
    assert {c["alertname"] for c in cases} - names == set(), "tests for alerts that do not exist"


def test_every_severity_of_every_alert_is_tested_firing() -> None:
    cases = _alert_tests()
    wanted = {(a["alert"], a["labels"]["severity"], a["labels"].get("long")) for a in alerts()}
    fired = {
        (c["alertname"], e["exp_labels"]["severity"], e["exp_labels"].get("long"))
        for c in cases
        for e in c.get("exp_alerts") or []
    }
    assert wanted - fired == set()


def test_every_fired_alert_asserts_its_annotations() -> None:
    for case in _alert_tests():
        for expected in case.get("exp_alerts") or []:
            annotations = expected["exp_annotations"]
            assert set(annotations) == {"summary", "description", "runbook_url"}, case["alertname"]


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: f"{a['alert']}-{a['labels'].get('long', '')}")
def test_alert_follows_mixin_conventions(alert: dict[str, object]) -> None:
    name = str(alert["alert"])
    labels = alert["labels"]
    annotations = alert["annotations"]
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    assert re.fullmatch(r"Sidecar(?:[A-Z][a-z0-9]+)+", name)
    assert labels["severity"] in ("critical", "warning", "info")
    assert re.fullmatch(r"\d+[smh]", str(alert["for"]))
    summary, description = annotations["summary"], annotations["description"]
    assert "{{" not in summary and summary[0].isupper() and summary.endswith(".")
    assert "{{" in description
    assert annotations["runbook_url"] == f"{slo.RUNBOOK_URL}#{name.lower()}"


def test_recording_rules_are_level_metric_operations() -> None:
    records = [r["record"] for r in rules() if "record" in r]
    assert len(records) >= 10
    for name in records:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), name
    assert len(records) == len(set(records))


def test_groups_leave_the_evaluation_interval_to_the_server() -> None:
    """A test Prometheus with a 1 s evaluation_interval must evaluate every group every second."""
    for group in rule_groups():
        assert "interval" not in group, group["name"]


def test_seed_thresholds_are_in_the_rules() -> None:
    """The seed's numbers reach the rules verbatim (a refactor of slo.py cannot lose them)."""
    by_name = {a["alert"]: a["expr"] for a in alerts()}
    assert slo.ACTOR_CHURN_PER_HOUR_MAX == 1.0
    assert slo.CONFIG_CACHE_HIT_RATIO_MIN == 0.80
    assert slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX == 10.0
    assert slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX == 2.0
    assert by_name["SidecarActorChurnHigh"].endswith("> 1")
    assert "< 0.8\n" in by_name["SidecarConfigCacheHitRateLow"]
    assert by_name["SidecarYoungInstanceRequestsHigh"].endswith("> 10")
    assert "\n> 2\n" in by_name["SidecarConfigUpdateLatencyHigh"]
    assert "\n> 2\n" in by_name["SidecarConfigPropagationSlow"]
    assert 'result="failed"' in by_name["SidecarStatePersistFailures"]
    assert by_name["SidecarTargetDown"] == 'up{job="sidecar"} == 0'


def test_burn_rate_alerts_cover_every_window_of_both_slos() -> None:
    burns = [a for a in alerts() if a["alert"].endswith("BudgetBurn")]
    windows = {(w.long, w.short, w.severity, w.for_) for w in slo.BURN_WINDOWS}
    for slo_name in ("manifest-availability", "manifest-latency"):
        got = {
            (a["labels"]["long"], a["labels"]["short"], a["labels"]["severity"], a["for"])
            for a in burns
            if a["labels"]["slo"] == slo_name
        }
        assert got == windows
    assert {(w.factor, w.for_) for w in slo.BURN_WINDOWS} == {(14.4, "2m"), (6.0, "15m"), (3.0, "1h"), (1.0, "3h")}
