"""The committed example report (docs/loadtest/example) agrees with itself: the page is the
rendering of its summary.json, and the numbers in the summary add up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sidecar.loadtest import scrape
from sidecar.loadtest.outcomes import aggregate
from sidecar.loadtest.report import render_html
from sidecar.loadtest.runner import threshold_values
from sidecar.loadtest.thresholds import evaluate, parse

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "loadtest" / "example"


def summary() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLE / "summary.json").read_text())
    return data


def test_the_page_is_the_summary_rendered() -> None:
    data = summary()
    images = sorted(p.name for p in EXAMPLE.glob("*.png"))
    assert images == ["latency.png", "server.png", "throughput.png", "viewers.png"]
    page = render_html(data, ["viewers.png", "latency.png", "throughput.png", "server.png"])
    assert (EXAMPLE / "index.html").read_text() == page


def test_the_numbers_add_up() -> None:
    data = summary()
    overall = data["client"]["overall"]
    assert sum(r["requests"] for r in data["timeline"]) == overall["requests"]
    assert sum(r["errors"] for r in data["timeline"]) == overall["errors"]
    assert sum(s["requests"] for s in data["client"]["by_channel"].values()) == overall["requests"]
    assert max(r["viewers"] for r in data["timeline"]) == data["run"]["viewers"] == len(data["per_viewer"])
    ads = {k: v for k, v in data["ads"].items() if k != "slate_prefixes"}
    assert aggregate(data["per_viewer"]) == ads
    scraped = data["server_scraped"]
    assert scraped["server_ok"] == scrape.manifest_counts(scraped["increase"])["200"]
    assert scraped["client_ok"] == overall["ok"]
    kills = [e for e in data["events"] if e["kind"] == "restart" and e["ok"]]
    assert scraped["increase"]["ssai_worker_restarts_total"]["total"] == len(kills)
    assert len(scraped["restarted"]) == len(kills)
    # the counts Prometheus saw for the same channels agree with the scraped ones where both are exact
    cross = data["prometheus"]["crosscheck"]
    assert cross["ssai_actor_churn_total"] == scraped["increase"]["ssai_actor_churn_total"]["total"]
    # the verdicts are what the thresholds give on these numbers
    gates = [parse(t["threshold"]) for t in data["thresholds"]]
    assert [r.passed for r in evaluate(gates, threshold_values(data))] == [t["passed"] for t in data["thresholds"]]
