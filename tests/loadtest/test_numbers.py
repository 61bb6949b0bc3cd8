"""The arithmetic behind a report: percentiles, timeline, counter increases, thresholds, ad outcomes,
load profile, and values on the page."""

from __future__ import annotations

import pytest

from sidecar.loadtest import scrape, thresholds
from sidecar.loadtest.config import Stage, parse_stage, viewers_at
from sidecar.loadtest.outcomes import AdOutcome, aggregate
from sidecar.loadtest.report import _fmt, kpi, ms, pct, render_html
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
ssai_manifest_requests_total{org="o",channel="lt0",kind="media",mode="ssai",status="200",worker="%(w)s"} %(media)d
ssai_manifest_requests_total{org="o",channel="lt1",kind="master",mode="ssai",status="200",worker="%(w)s"} 2
ssai_manifest_requests_total{org="o",channel="other",kind="media",mode="ssai",status="200",worker="%(w)s"} 1000
ssai_manifest_requests_total{org="x",channel="lt0",kind="media",mode="ssai",status="200",worker="%(w)s"} 1000
ssai_manifest_requests_total{org="o",channel="lt0",kind="media",mode="ssai",status="502",worker="%(w)s"} 1
# TYPE ssai_state_persist_total counter
ssai_state_persist_total{result="confirmed",worker="%(w)s"} %(persisted)d
# TYPE process_start_time_seconds gauge
process_start_time_seconds{worker="%(w)s"} %(started)f
"""


def scraped(**workers: tuple[int, int, float]) -> scrape.Scrape:
    """One scrape of the pod's endpoint: per worker (media requests, persisted, start time)."""
    text = "".join(
        EXPOSITION % {"w": w, "media": media, "persisted": persisted, "started": started}
        for w, (media, persisted, started) in workers.items()
    )
    # one family per metric, as the endpoint serves it
    merged = "\n".join(sorted(set(text.splitlines()), key=lambda line: (line.split("{")[0].split()[-1], line)))
    return scrape.parse(merged, "http://pod/metrics", "o", ["lt0", "lt1"])


def test_increases_add_up_per_worker_and_keep_to_the_load_tests_channels() -> None:
    tracker = scrape.Tracker()
    tracker.add(scraped(w0=(10, 3, 1.0), w1=(0, 0, 1.0)))  # the baseline
    tracker.add(scraped(w0=(20, 4, 1.0), w1=(3, 1, 1.0)))
    tracker.add(scraped(w0=(25, 4, 1.0), w1=(7, 2, 1.0)))
    increase = tracker.increase()
    assert not tracker.resets
    assert increase["ssai_manifest_requests_total"] == {
        "kind=master,status=200": 0.0,
        "kind=media,status=200": 22.0,
        "kind=media,status=502": 0.0,
    }
    assert increase["ssai_state_persist_total"] == {"result=confirmed": 3.0}
    assert scrape.manifest_counts(increase) == {"200": 22, "502": 0}


def test_a_restarted_worker_is_a_reset_of_its_own_series_only() -> None:
    tracker = scrape.Tracker()
    tracker.add(scraped(w0=(50, 9, 1.0), w1=(40, 0, 1.0)))
    tracker.add(scraped(w0=(60, 9, 1.0), w1=(45, 0, 1.0)))  # just before worker 0 is killed
    tracker.add(scraped(w1=(47, 0, 1.0)))  # worker 0 restarting: absent from this scrape
    tracker.add(scraped(w0=(5, 1, 2.0), w1=(50, 0, 1.0)))  # a new worker 0, counting from zero
    assert tracker.resets == [("http://pod/metrics", "w0")]
    # worker 0: 10 before its kill + 5 after (and 2 master requests of its new life); worker 1: 10
    assert scrape.manifest_counts(tracker.increase())["200"] == 10 + 5 + 2 + 10


def test_a_restart_is_seen_by_its_start_time_even_when_counters_grew() -> None:
    tracker = scrape.Tracker()
    tracker.add(scraped(w0=(0, 0, 1.0)))
    tracker.add(scraped(w0=(30, 1, 1.0)))
    assert tracker.resets == []
    tracker.add(scraped(w0=(31, 1, 60.0)))  # more than before, but a new process
    assert tracker.resets == [("http://pod/metrics", "w0")]
    assert scrape.manifest_counts(tracker.increase())["200"] == 30 + 31 + 2


def test_series_that_appear_during_the_run_count_from_zero() -> None:
    tracker = scrape.Tracker()
    tracker.add(scraped(w0=(5, 0, 1.0)))
    tracker.add(scraped(w0=(6, 0, 1.0), w1=(4, 0, 1.0)))  # worker 1 answered only now
    assert scrape.manifest_counts(tracker.increase())["200"] == 1 + 4 + 2


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p99<0.15", "p99", "<", 0.15),
        (" p99 <= 150ms ", "p99", "<=", 0.15),
        ("errors<0.1%", "errors", "<", 0.001),
        ("fill>0.95", "fill", ">", 0.95),
        ("rps>=100", "rps", ">=", 100.0),
    ],
)
def test_thresholds_parse(text: str, metric: str, op: str, limit: float) -> None:
    t = thresholds.parse(text)
    assert (t.metric, t.op) == (metric, op) and t.limit == pytest.approx(limit)


def test_thresholds_evaluate_and_name_what_failed() -> None:
    gates = [thresholds.parse(t) for t in ("p99<0.15", "errors<0.001", "fill>0.95")]
    results = thresholds.evaluate(gates, {"p99": 0.213, "errors": 0.0, "fill": None})
    assert [r.passed for r in results] == [False, True, False]
    assert results[0].line() == "threshold failed: p99<0.15 (p99 = 213 ms)"
    assert results[1].line() == "threshold ok: errors<0.001 (errors = 0 %)"
    assert results[2].line() == "threshold failed: fill>0.95 (no data)"


def test_stages_are_linear_from_zero() -> None:
    stages = tuple(parse_stage(s) for s in ("10s:100", "1m:100", "5:0"))
    assert stages[1] == Stage(60.0, 100)
    assert [viewers_at(stages, t) for t in (0, 5, 10, 40, 70, 72.5, 75, 99)] == [0, 50, 100, 100, 100, 50, 0, 0]


SSAI = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:2.000,
content/100.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z
#EXT-X-CUE-OUT:6
#EXTINF:2.000,
http://origin/ads/pod-a/800k/0.ts
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:04.000Z
#EXT-X-CUE-OUT-CONT:ElapsedTime=2,Duration=6
#EXTINF:2.000,
http://origin/ads/pod-a/800k/1.ts
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:06.000Z
#EXT-X-CUE-OUT-CONT:ElapsedTime=4,Duration=6
#EXTINF:2.000,
http://origin/ads/slate/800k/0.ts
"""


def test_ad_outcome_of_an_ssai_viewer() -> None:
    seen = AdOutcome()
    slate = ["http://origin/ads/slate/"]
    seen.observe_ssai(SSAI, slate)
    seen.observe_ssai(SSAI, slate)  # a reload of the same window counts nothing twice
    later = SSAI.replace("MEDIA-SEQUENCE:100", "MEDIA-SEQUENCE:101").split("content/100.ts\n", 1)[1]
    seen.observe_ssai("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:101\n" + later, slate)
    assert seen.summary() == {
        "breaks": 1,
        "ad_seconds": 4.0,
        "slate_seconds": 2.0,
        "break_seconds": 6.0,
        "fill": round(4 / 6, 4),
    }


def test_ad_outcome_of_an_sgai_viewer() -> None:
    seen = AdOutcome()
    tag = (
        '#EXT-X-DATERANGE:ID="brk_1",CLASS="com.apple.hls.interstitial",START-DATE="2026-01-01T00:00:10Z",'
        'DURATION=30,X-ASSET-LIST="assets.json?break=brk_1"'
    )
    text = f"#EXTM3U\n{tag}\n#EXTINF:2,\nseg.ts\n"
    assert seen.new_interstitials(text) == [("brk_1", "assets.json?break=brk_1")]
    assert seen.new_interstitials(text) == [], "fetched once"
    seen.observe_asset_list("brk_1", '{"ASSETS": [{"URI": "ad/brk_1/0.m3u8", "DURATION": 24}]}', [])
    assert seen.summary()["fill"] == 0.8 and seen.summary()["breaks"] == 1


def test_ad_outcomes_aggregate_over_viewers() -> None:
    rows = [
        {"breaks": 2, "ad_seconds": 20.0, "slate_seconds": 0.0, "break_seconds": 20.0, "fill": 1.0},
        {"breaks": 1, "ad_seconds": 5.0, "slate_seconds": 5.0, "break_seconds": 10.0, "fill": 0.5},
        {"breaks": 0, "ad_seconds": 0.0, "slate_seconds": 0.0, "break_seconds": 0.0, "fill": None},
    ]
    out = aggregate(rows)
    assert (out["viewers"], out["viewers_with_breaks"], out["viewers_with_ads"]) == (3, 2, 2)
    assert out["fill"] == round(25 / 30, 4) and out["lowest_viewer_fill"] == 0.5
    assert out["ad_seconds_per_viewer"] == {"min": 0.0, "median": 5.0, "max": 20.0}


def test_values_are_written_for_people() -> None:
    assert [_fmt(v) for v in (None, True, False, {}, [], 1234, 0.000123, 2.5)] == [
        "&ndash;", "yes", "no", "none", "none", "1,234", "0.000123", "2.5"
    ]
    assert _fmt({"http_502": 3, "<b>": 1}) == "http_502: 3, &lt;b&gt;: 1"
    assert pct(0.0004) == "0.04 %" and ms(0.5) == "0.5 ms" and kpi("config_propagation_p99_seconds", 0.085) == "85 ms"


def test_html_escapes_what_it_shows() -> None:
    stats = latency_stats([Sample(0.0, 0.001, 200, "media", "<b>")])
    summary = {
        "run": {
            "command": "sidecar loadtest --prefix '<x>'",
            "channels": ["<b>"],
            "started": "2026-01-01T00:00:00Z",
            "duration_s": 1.0,
            "viewers": 1,
            "org": "o",
            "mode": "ssai",
            "viewer_url": "http://v",
        },
        "client": {"overall": stats, "by_kind": {"media": stats}, "first_failures": []},
        "events": [
            {"t": 1.0, "kind": "cue", "target": "<b>", "ok": False, "latency_ms": 2.0, "detail": "HTTP 409: <script>"}
        ],
    }
    page = render_html(summary, ["latency.png"])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img src='latency.png'" in page


def test_the_supervisors_series_do_not_restart_with_worker_0() -> None:
    def endpoint(restarts: int, worker0: tuple[int, float] | None) -> scrape.Scrape:
        text = "# TYPE ssai_worker_restarts_total counter\n"
        text += f'ssai_worker_restarts_total{{worker="0"}} {restarts}\n'
        if worker0 is not None:
            text += "# TYPE ssai_actor_churn_total counter\n"
            text += f'ssai_actor_churn_total{{org="o",channel="lt0",worker="0"}} {worker0[0]}\n'
            text += f'# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds{{worker="0"}} {worker0[1]}\n'
        return scrape.parse(text, "u", "o", ["lt0"])

    tracker = scrape.Tracker()
    tracker.add(endpoint(0, (0, 1.0)))
    tracker.add(endpoint(0, (2, 1.0)))  # just before the kill
    tracker.add(endpoint(1, None))  # worker 0 restarting: only the supervisor answers for it
    tracker.add(endpoint(1, (1, 9.0)))  # the new worker 0
    assert tracker.resets == [("u", "0")], "one restart, seen once"
    assert tracker.increase()["ssai_worker_restarts_total"] == {"total": 1.0}
    assert tracker.increase()["ssai_actor_churn_total"] == {"total": 3.0}
