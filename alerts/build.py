"""Write the committed rule files and Alertmanager config: ``python -m alerts.build [--check]``.

``--check`` writes nothing and exits 1 when a committed file differs from what the code builds
(what CI and tests/observability run), so YAML can never drift from ``sidecar.telemetry.slo``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alerts import alertmanager, service_rules, slo_rules
from alerts.model import Alert, Group, rules_file

HERE = Path(__file__).resolve().parent
RECORDING_FILE = HERE / "sidecar-rules.yml"
ALERTING_FILE = HERE / "sidecar-alerts.yml"
ALERTMANAGER_FILE = HERE / "alertmanager.yml"


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
    }


def stale() -> list[Path]:
    """Committed files whose content differs from what the code builds."""
    return [p for p, text in outputs().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = parser.parse_args(argv)
    if args.check:
        for path in stale():
            print(f"stale: {path} (run python -m alerts.build)", file=sys.stderr)
        return 1 if stale() else 0
    for path, text in outputs().items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
