"""Write the committed dashboard JSON: ``python -m dashboards.build [--check]``.

The JSON is what Grafana file provisioning and ``sidecar dashboards push`` load. It is
deterministic (sorted keys, fixed uids, panels numbered in build order), so ``--check`` (and
tests/observability) can fail when it was not regenerated after a code or threshold change.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import ads, channel, overview
from sidecar.telemetry import generated

HERE = Path(__file__).resolve().parent
BUILDERS: dict[str, Callable[[], Dashboard]] = {
    f"{overview.UID}.json": overview.build,
    f"{channel.UID}.json": channel.build,
    f"{ads.UID}.json": ads.build,
}


def render(builder: Dashboard) -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(builder.build()) + "\n"


def outputs() -> dict[Path, str]:
    return {HERE / name: render(build()) for name, build in BUILDERS.items()}


def load_all() -> list[dict[str, Any]]:
    """The built dashboards as plain JSON objects (what tests and push look at)."""
    return [json.loads(text) for text in outputs().values()]


def stale() -> list[Path]:
    """Committed files whose content differs from what the code builds."""
    return generated.stale(outputs())


def main(argv: list[str] | None = None) -> int:
    return generated.main(outputs, "dashboards.build", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
