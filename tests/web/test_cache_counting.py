"""One config-cache count per request, whichever path answers it (issue: a fast path that fell back
to the full path counted its L1 hit twice, so a true 70 % hit rate read about 81 %).

Counts are read through the exposition, as Prometheus reads them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.scrape import Scrape
from tests.web.test_manifest import Setup, _setup

REQUESTS = 20


@pytest.fixture(params=[5.0, 0.0], ids=["fast-path-answers", "fast-path-falls-back"])
async def counting(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Setup]:
    # With origin_cache_seconds=0 no rendered bytes are ever fresh: the fast path finds the
    # config (an L1 hit), then gives up and the full path answers.
    async for s in _setup(database_url=sqlite_url, origin_timeout_seconds=1.0, origin_cache_seconds=request.param):
        yield s


def cache_counts(scrape: Scrape, org: str) -> dict[str, float]:
    return {
        result: scrape.get("ssai_config_cache_requests_total", org=org, channel="sports1", result=result) or 0.0
        for result in ("hit", "miss", "coalesced")
    }


async def test_each_variant_request_counts_one_cache_read(counting: Setup) -> None:
    s = counting
    await s.channel()
    for _ in range(3):  # warm: config in L1, live actor, rendered bytes
        resp = await s.get("sports1/800k.m3u8?mode=ssai")
        assert resp.status == 200
    svc = s.stack.svc
    config = svc.cache.peek(s.tenant.org_slug, "sports1")
    assert config is not None, "the config is a trusted L1 hit"
    actor = svc.actors.peek(svc.settings.colo, config.org_slug, config.id, config.slug)
    assert actor is not None
    fast = svc.stitcher.peek(config, actor, "800k", "ssai") if svc.stitcher else None
    assert (fast is not None) == (svc.settings.origin_cache_seconds > 0), "the path this case exercises"

    Scrape()  # series born during the warm-up are shown at zero first (fresh hot counters)
    before = Scrape()
    l1_before = before.get("ssai_config_lookups_total", layer="l1", result="hit") or 0.0
    for _ in range(REQUESTS):
        resp = await s.get("sports1/800k.m3u8?mode=ssai")
        assert resp.status == 200
    after = Scrape()
    counts, baseline = cache_counts(after, s.tenant.org_slug), cache_counts(before, s.tenant.org_slug)
    assert {k: counts[k] - baseline[k] for k in counts} == {"hit": REQUESTS, "miss": 0, "coalesced": 0}
    assert (after.get("ssai_config_lookups_total", layer="l1", result="hit") or 0) - l1_before == REQUESTS


async def test_unknown_channels_get_no_per_channel_series(counting: Setup) -> None:
    """A request for a channel that does not exist labels nothing with a pseudo-channel."""
    s = counting
    resp = await s.get("no-such-channel/800k.m3u8")
    assert resp.status == 404
    scrape = Scrape()
    for (name, labels), _ in scrape.samples.items():
        values = dict(labels)
        assert "UNKNOWN" not in values.values(), name
        if name == "ssai_config_cache_requests_total":
            assert values.get("channel"), "cache reads are only counted for channels that exist"
    assert (scrape.get("ssai_manifest_requests_total", org="", channel="", kind="media", mode="none", status="404")
            or 0) >= 1
