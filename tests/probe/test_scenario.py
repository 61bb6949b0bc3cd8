"""The scenario checker finds each kind of failure it claims to, and passes a clean run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sidecar.hls.parse import parse_media
from sidecar.probe.invariants import InvariantViolation, check_aligned
from sidecar.probe.scenario import ExpectedBreak, ScenarioChecker
from tests.probe.test_invariants import T0, playlist

CORS = {"Access-Control-Allow-Origin": "*"}
BREAK = ExpectedBreak(T0 + timedelta(seconds=4 * 20), T0 + timedelta(seconds=4 * 23))  # MSN 20-22


def ssai(first: int, late: int = 0) -> str:
    """A stitched window: MSNs 20-22 are ads (from MSN 20 + ``late``), with DISCONTINUITYs."""
    start = 20 + late
    return playlist(
        first,
        6,
        dsn=sum(1 for n in (start, 23) if n < first),
        uri=lambda n: f"https://ads.test/ads/{n}.ts" if start <= n < 23 else f"c{n}.ts",
        discontinuities=frozenset({start, 23}),
    )


def run(late: int = 0) -> ScenarioChecker:
    checker = ScenarioChecker("ssai", [BREAK], is_ad=lambda u: "/ads/" in u, stale_bound=30.0)
    for first in range(12, 24):
        pls = [checker.response(v, float(first), 200, CORS, ssai(first, late), 0.5) for v in ("lo", "hi")]
        checker.pair(("lo", pls[0]), ("hi", pls[1]))
    return checker


def test_a_clean_run_passes_every_check() -> None:
    checker = run()
    assert checker.violations() == {check: [] for check in checker.found}
    assert checker.reloads == 24


def test_a_pod_that_starts_late_is_a_pod_failure() -> None:
    found = run(late=2).violations()
    assert found["pod"] and "later than" in found["pod"][0]
    assert not found["reload"], "a late start is consistent across reloads: only the pod check sees it"


def test_5xx_with_a_healthy_origin_and_missing_cors_are_error_failures() -> None:
    checker = ScenarioChecker("ssai", [], is_ad=lambda u: False, stale_bound=30.0)
    checker.response("lo", 1.0, 502, CORS, "bad gateway", origin_age=2.0)
    checker.response("lo", 2.0, 502, CORS, "bad gateway", origin_age=40.0)  # origin down for long: allowed
    checker.response("lo", 3.0, 504, {}, "timeout", origin_age=40.0)
    found = checker.violations()["errors"]
    assert len(found) == 2 and "2.0s old" in found[0] and "without Access-Control-Allow-Origin" in found[1]


def test_a_changed_daterange_and_a_shrinking_playlist() -> None:
    checker = ScenarioChecker("sgai", [], is_ad=lambda u: False, stale_bound=30.0)
    tag = (
        '#EXT-X-DATERANGE:ID="b",CLASS="com.apple.hls.interstitial",START-DATE="2026-01-01T00:01:00Z",X-ASSET-LIST="a"'
    )
    checker.response("lo", 1.0, 200, CORS, playlist(10, 4, tags={11: [tag + ",DURATION=30"]}), 0.1)
    checker.response("lo", 2.0, 200, CORS, playlist(10, 3, tags={11: [tag + ",DURATION=20"]}), 0.1)
    found = checker.violations()
    assert "changed DURATION" in found["daterange"][0]
    assert "ends at MSN 12, before 13" in found["reload"][0]


def test_variants_that_disagree_at_one_msn_are_not_aligned() -> None:
    a = parse_media(playlist(10, 4))
    b = parse_media(playlist(10, 4, discontinuities=frozenset({12})))
    check_aligned(a, parse_media(playlist(11, 4)))
    with pytest.raises(InvariantViolation, match="MSN 12"):
        check_aligned(a, b, ("lo", "hi"))
