"""Write the committed dashboard JSON: ``python -m dashboards.build [--check]``.

The JSON is what Grafana file provisioning and ``sidecar dashboards push`` load. It is
deterministic (sorted keys, fixed uids, panels numbered in build order), so ``--check`` (and
tests/observability) can fail when it was not regenerated after a code or threshold change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import ads, channel, overview

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
    return [p for p, text in outputs().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed JSON is stale")
    args = parser.parse_args(argv)
    if args.check:
        for path in stale():
            print(f"stale: {path} (run python -m dashboards.build)", file=sys.stderr)
        return 1 if stale() else 0
    for path, text in outputs().items():
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
