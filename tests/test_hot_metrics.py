"""Hot-path accumulators are folded into the catalogue metrics at every read: exact values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from sidecar.telemetry import catalogue as m
from sidecar.telemetry import hot


def test_counts_and_histograms_are_exact_at_every_collection() -> None:
    before = m.registry.get_sample_value("ssai_manifest_requests_total", {
        "org": "hot", "channel": "c", "kind": "media", "mode": "ssai", "status": "200"}) or 0
    counter = hot.counter(m.manifest_requests_total, "hot", "c", "media", "ssai", "200")
    for _ in range(5):
        counter.inc()
    assert m.registry.get_sample_value("ssai_manifest_requests_total", {
        "org": "hot", "channel": "c", "kind": "media", "mode": "ssai", "status": "200"}) == before + 5
    counter.inc()
    text = generate_latest(m.registry).decode()
    assert f'ssai_manifest_requests_total{{channel="c",kind="media",mode="ssai",org="hot",status="200"}} {before + 6}' \
        in text


def test_histogram_buckets_match_the_metrics_own_bucketing() -> None:
    registry = CollectorRegistry()
    registry.register(hot.FlushOnCollect())
    reference = Histogram("ref_seconds", "reference", buckets=(0.01, 0.1, 1.0), registry=registry)
    target = Histogram("hot_seconds", "hot", buckets=(0.01, 0.1, 1.0), registry=registry)
    fast = hot.histogram(target)
    for value in (0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 7.0):  # bounds included: le is "<="
        reference.observe(value)
        fast.observe(value)
    for le in ("0.01", "0.1", "1.0", "+Inf"):
        assert registry.get_sample_value("hot_seconds_bucket", {"le": le}) == registry.get_sample_value(
            "ref_seconds_bucket", {"le": le})
    assert registry.get_sample_value("hot_seconds_sum") == registry.get_sample_value("ref_seconds_sum")


def test_a_fresh_series_is_shown_at_zero_by_its_first_collection() -> None:
    """Series born at run time (a channel, an org) must reach Prometheus at zero before their
    first increments, or increase() cannot see those (ADR 0010)."""
    registry = CollectorRegistry()
    registry.register(hot.FlushOnCollect())
    counter = Counter("fresh_things", "fresh", ["channel"], registry=registry)
    fresh = hot.counter(counter, "c1", fresh=True)
    for _ in range(3):
        fresh.inc()
    assert registry.get_sample_value("fresh_things_total", {"channel": "c1"}) == 0
    fresh.inc()
    assert registry.get_sample_value("fresh_things_total", {"channel": "c1"}) == 4
    assert registry.get_sample_value("fresh_things_total", {"channel": "c1"}) == 4
