"""Write the committed rule files, Alertmanager config and offset-scrape promtool tests:
``python -m alerts.build [--check]``.

``--check`` writes nothing and exits 1 when a committed file differs from what the code builds
(what CI and tests/observability run), so YAML can never drift from ``sidecar.telemetry.slo``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alerts import alertmanager, kubernetes, offset, offset_scenarios, service_rules, slo_rules
from alerts.model import Alert, Group, rules_file
from sidecar.telemetry import generated

HERE = Path(__file__).resolve().parent
RECORDING_FILE = HERE / "sidecar-rules.yml"
ALERTING_FILE = HERE / "sidecar-alerts.yml"
ALERTMANAGER_FILE = HERE / "alertmanager.yml"
PROMETHEUS_RULE_FILE = HERE.parent / "deploy" / "kubernetes" / "prometheusrule.yaml"
TESTS_DIR = HERE / "tests"


def recording_groups() -> list[Group]:
    return [slo_rules.recording_group(), service_rules.recording_group()]


def alerting_groups() -> list[Group]:
    return [slo_rules.alert_group(), *service_rules.alert_groups()]


def all_alerts() -> list[Alert]:
    return [r for g in alerting_groups() for r in g.rules if isinstance(r, Alert)]


def outputs() -> dict[Path, str]:
    """Every generated file and its content."""
    return {
        RECORDING_FILE: rules_file(recording_groups()),
        ALERTING_FILE: rules_file(alerting_groups()),
        ALERTMANAGER_FILE: alertmanager.render(),
        PROMETHEUS_RULE_FILE: kubernetes.prometheus_rule(recording_groups() + alerting_groups()),
        # promtool tests with real scrape timing, rendered from timelines (alerts/offset.py)
        **{TESTS_DIR / f.name: offset.render(f, all_alerts()) for f in offset_scenarios.FILES},
    }


def stale() -> list[Path]:
    """Committed files whose content differs from what the code builds."""
    return generated.stale(outputs())


def main(argv: list[str] | None = None) -> int:
    return generated.main(outputs, "alerts.build", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
