"""The arithmetic behind a report: percentiles, per-second timeline, counter deltas, HTML."""

from __future__ import annotations

from sidecar.loadtest import scrape
from sidecar.loadtest.report import render_html
from sidecar.loadtest.samples import Sample, latency_stats, percentile, summarise, timeline


def test_nearest_rank_percentiles() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms, shuffled order must not matter
    values.reverse()
    assert percentile(values, 50) == 0.050
    assert percentile(values, 90) == 0.090
    assert percentile(values, 99) == 0.099
    assert percentile(values, 100) == 0.100
    assert percentile([0.5], 99) == 0.5
    assert percentile([], 50) is None


def test_stats_count_only_successes_in_latency_and_name_error_causes() -> None:
    samples = [
        Sample(0.1, 0.010, 200, "media", "a"),
        Sample(0.2, 0.020, 200, "media", "a"),
        Sample(0.3, 5.0, 502, "media", "a", "origin-timeout"),
        Sample(0.4, 0.001, 0, "master", "b", "ClientConnectorError"),
    ]
    stats = latency_stats(samples)
    assert (stats["requests"], stats["ok"], stats["errors"]) == (4, 2, 2)
    assert stats["error_ratio"] == 0.5
    assert stats["p99_ms"] == 20.0 and stats["max_ms"] == 20.0, "a slow error does not hide in the percentiles"
    assert stats["error_causes"] == {"ClientConnectorError": 1, "http_502:origin-timeout": 1}
    summary = summarise(samples)
    assert set(summary["by_kind"]) == {"master", "media"} and set(summary["by_channel"]) == {"a", "b"}
    assert [f["cause"] for f in summary["first_failures"]] == ["http_502:origin-timeout", "ClientConnectorError"]


def test_timeline_buckets_by_send_time() -> None:
    samples = [
        Sample(0.0, 0.001, 200, "media", "a"),
        Sample(0.99, 0.003, 200, "media", "a"),
        Sample(1.0, 0.002, 500, "media", "a"),
        Sample(2.999, 0.004, 200, "media", "a"),
    ]
    rows = timeline(samples, duration=3.0)
    assert [(r["t"], r["requests"], r["errors"]) for r in rows] == [(0.0, 2, 0), (1.0, 1, 1), (2.0, 1, 0)]
    assert rows[0]["p50_ms"] == 1.0 and rows[1]["p50_ms"] is None
    assert sum(r["requests"] for r in rows) == len(samples)


EXPOSITION = """# TYPE ssai_manifest_requests_total counter
ssai_manifest_requests_total{org="o",channel="lt0",kind="media",mode="ssai",status="200"} %d
ssai_manifest_requests_total{org="o",channel="lt1",kind="master",mode="ssai",status="200"} 2
ssai_manifest_requests_total{org="o",channel="other",kind="media",mode="ssai",status="200"} 1000
ssai_manifest_requests_total{org="x",channel="lt0",kind="media",mode="ssai",status="200"} 1000
ssai_manifest_requests_total{org="o",channel="lt0",kind="media",mode="ssai",status="502"} 1
# TYPE ssai_state_persist_total counter
ssai_state_persist_total{result="confirmed"} %d
"""


def snap(**per_url: tuple[int, int]) -> scrape.Snapshot:
    return scrape.Snapshot({u: scrape.parse(EXPOSITION % v, "o", ["lt0", "lt1"]) for u, v in per_url.items()})


def test_counter_deltas_sum_workers_and_keep_to_the_load_tests_channels() -> None:
    before = snap(w0=(10, 3), w1=(0, 0))
    after = snap(w0=(25, 4), w1=(7, 2))
    increase, reset = scrape.delta(before, after)
    assert not reset
    assert increase["ssai_manifest_requests_total"] == {
        "kind=master,status=200": 0.0,
        "kind=media,status=200": 22.0,
        "kind=media,status=502": 0.0,
    }
    assert increase["ssai_state_persist_total"] == {"result=confirmed": 3.0}
    assert scrape.manifest_counts(increase) == {"200": 22, "502": 0}


def test_a_restarted_worker_is_flagged_and_counted_from_zero() -> None:
    increase, reset = scrape.delta(snap(w0=(50, 9)), snap(w0=(5, 1)))
    assert reset
    assert scrape.manifest_counts(increase)["200"] == 5 + 2, "everything the new process counted"


def test_a_restart_is_seen_by_its_start_time_even_when_counters_grew() -> None:
    before, after = snap(w0=(0, 0)), snap(w0=(30, 1))
    assert scrape.start_time("# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.5e9\n") == 1.5e9
    before.started["w0"], after.started["w0"] = 1.0e9, 1.0e9
    assert scrape.delta(before, after)[1] is False
    after.started["w0"] = 1.0e9 + 60
    increase, reset = scrape.delta(before, after)
    assert reset and scrape.manifest_counts(increase)["200"] == 32


def test_html_escapes_what_it_shows() -> None:
    stats = latency_stats([Sample(0.0, 0.001, 200, "media", "<b>")])
    summary = {
        "run": {"command": "sidecar loadtest --prefix '<x>'", "channels": ["<b>"]},
        "client": {"overall": stats, "by_kind": {"media": stats}, "first_failures": []},
        "events": [
            {"t": 1.0, "kind": "cue", "target": "<b>", "ok": False, "latency_ms": 2.0, "detail": "HTTP 409: <script>"}
        ],
    }
    page = render_html(summary, ["latency.png"])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img src='latency.png'" in page
