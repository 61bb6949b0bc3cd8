"""sidecar.telemetry.slo holds the seed's numbers verbatim and derives burn thresholds correctly."""

from __future__ import annotations

import pytest

from sidecar.telemetry import slo


def test_seed_alert_thresholds() -> None:
    # "Recommended alerts" in PLATFORM_CONSISTENCY_IMPROVEMENTS.md
    assert slo.ACTOR_CHURN_PER_HOUR_MAX == 1
    assert slo.CONFIG_CACHE_HIT_RATIO_MIN == 0.80
    assert slo.YOUNG_INSTANCE_REQUESTS_PER_HOUR_MAX == 10
    assert slo.CONFIG_UPDATE_LATENCY_SECONDS_MAX == 2


def test_seed_kpi_targets() -> None:
    # "Success Metrics" in PLATFORM_CONSISTENCY_IMPROVEMENTS.md
    assert slo.KPI_CONFIG_UPDATE_LATENCY_SECONDS == 1
    assert slo.KPI_ACTOR_LIFETIME_SECONDS == 10 * 60
    assert slo.KPI_STATE_PERSIST_RATIO == 1
    assert slo.KPI_CONFIG_CACHE_HIT_RATIO == 0.85
    assert slo.STATE_PERSIST_FAILURES_MAX == 0


def test_cache_traffic_floor_keeps_ttl_misses_above_the_threshold() -> None:
    """At the floor, one TTL miss a minute still leaves the hit rate above the alert threshold."""
    ttl_seconds = 60
    hit_rate_from_ttl_alone = 1 - 1 / (ttl_seconds * slo.CONFIG_CACHE_MIN_REQUEST_RATE)
    assert hit_rate_from_ttl_alone > slo.CONFIG_CACHE_HIT_RATIO_MIN


@pytest.mark.parametrize(
    "target,window,expected",
    [
        (slo.MANIFEST_AVAILABILITY, slo.BURN_WINDOWS[0], 0.0144),
        (slo.MANIFEST_AVAILABILITY, slo.BURN_WINDOWS[3], 0.001),
        (slo.MANIFEST_LATENCY, slo.BURN_WINDOWS[1], 0.06),
        (slo.MANIFEST_LATENCY, slo.BURN_WINDOWS[2], 0.03),
    ],
)
def test_burn_thresholds(target: slo.SLO, window: slo.BurnWindow, expected: float) -> None:
    assert slo.burn_threshold(target, window) == expected


def test_error_budgets_have_no_float_noise() -> None:
    assert slo.MANIFEST_AVAILABILITY.error_budget == 0.001
    assert slo.MANIFEST_LATENCY.error_budget == 0.01


def test_burn_windows_spend_the_workbook_budget_shares() -> None:
    """factor x long window / period = share of the 30-day budget: 2 %, 5 %, 10 %, 10 %."""
    hours = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}
    shares = [round(w.factor * hours[w.long] / (slo.SLO_PERIOD_DAYS * 24), 3) for w in slo.BURN_WINDOWS]
    assert shares == [0.02, 0.05, 0.1, 0.1]
    assert [w.severity for w in slo.BURN_WINDOWS] == ["critical", "critical", "warning", "warning"]


def test_slo_windows_sorted_by_length() -> None:
    assert slo.slo_windows() == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
