"""Throughput cost of tracing at the default sample ratio.

Same service, same load, run twice in one go: traces off, then traces on (console exporter, whose
output is discarded, at the default ``SIDECAR_OTEL_SAMPLE_RATIO``). The target is a cost < 10 %.

    .venv/bin/python -m bench.tracing_overhead [--seconds 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.environment import write_result
from bench.manifest_throughput import service_with_break, wrk
from sidecar.settings import Settings

RESULTS = Path(__file__).parent / "results" / "tracing_overhead.json"


def main(seconds: int, connections: int) -> dict[str, object]:
    runs = {}
    for label, env in (("off", {"SIDECAR_OTEL_EXPORTER": "off"}), ("on", {"SIDECAR_OTEL_EXPORTER": "console"})):
        with service_with_break(env) as (url, _, _headers):
            wrk(url, 2, connections)
            runs[label] = wrk(url, seconds, connections)
    ratio = runs["on"]["requests_per_second"] / runs["off"]["requests_per_second"]
    return {
        "sample_ratio": Settings.model_fields["otel_sample_ratio"].default,
        "tracing_off": runs["off"], "tracing_on": runs["on"],
        "throughput_ratio_on_to_off": round(ratio, 3), "cost_percent": round((1 - ratio) * 100, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    result = main(args.seconds, args.connections)
    write_result(RESULTS, result)
