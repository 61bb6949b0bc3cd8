"""Server-side beacons from stitched playlists: viewings, not playlist refreshes.

The system this replaces queued an impression on every refresh of every variant. Here a whole
break is walked reload by reload on both variants, and the real beacon receiver must see each
ad's impression and quartile events exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from tests.ads.adserver import AdServer, BeaconReceiver
from tests.ads.test_decisions import creative_pods
from tests.web.test_manifest import BREAK_AT, Setup, _setup, walk


@pytest.fixture
async def setup(sqlite_url: str) -> AsyncIterator[Setup]:
    # The test's origin runs in the past (media time well before the wall clock), so with no
    # player delay every beacon is due the moment its ad segment is exposed.
    async for s in _setup(database_url=sqlite_url, origin_timeout_seconds=1.0, origin_cache_seconds=0,
                          beacon_player_delay_seconds=0):
        yield s


def paths(receiver: BeaconReceiver) -> Counter[str]:
    return Counter(hit.path for hit in receiver.hits)


async def test_ssai_beacons_fire_once_per_ad_whatever_the_reloads(
    setup: Setup, ad_server: AdServer, beacon_receiver: BeaconReceiver
) -> None:
    await creative_pods(setup)
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url("/vast/inline3"))
    # Many reloads over the whole break on one variant, then the other variant over it again.
    await walk(setup, "cueout", "ssai", BREAK_AT - 8, BREAK_AT + 40, step=1.0)
    for t in range(-8, 41, 2):
        setup.clock.now = BREAK_AT + t
        for _ in range(2):
            assert (await setup.get("cueout/1600k.m3u8?mode=ssai")).status == 200
    expected = {f"/impression/pod-ad-{i}" for i in (1, 2, 3)} | {
        f"/track/pod-ad-{i}/{event}" for i in (1, 2, 3)
        for event in ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")}
    await beacon_receiver.wait_for(lambda hits: expected <= {h.path for h in hits}, timeout=10)
    seen = paths(beacon_receiver)
    assert {p: seen[p] for p in expected} == dict.fromkeys(expected, 1), "each beacon once, not per refresh"
    assert not any(p.startswith("/track/") and p.endswith(("pause", "progress5")) for p in seen)
    impression = next(h for h in beacon_receiver.hits if h.path == "/impression/pod-ad-2")
    assert impression.query["cb"].isdigit(), "[CACHEBUSTING] filled at send time"


async def test_a_break_cut_short_reports_only_what_was_shown(
    setup: Setup, ad_server: AdServer, beacon_receiver: BeaconReceiver
) -> None:
    await creative_pods(setup)
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url("/vast/inline3"))
    # 16 s of the break published: the first 10 s ad whole, the second one begun, the third not yet.
    await walk(setup, "cueout", "ssai", BREAK_AT - 8, BREAK_AT + 17, step=1.0)
    await beacon_receiver.wait_for(lambda hits: any(h.path == "/impression/pod-ad-2" for h in hits), timeout=10)
    seen = paths(beacon_receiver)
    assert seen["/impression/pod-ad-1"] == 1 and seen["/track/pod-ad-1/complete"] == 1
    assert seen["/track/pod-ad-2/start"] == 1 and seen["/track/pod-ad-2/midpoint"] == 0
    assert seen["/impression/pod-ad-3"] == 0, "an ad never exposed is never reported"


async def test_failed_vast_pings_its_error_url_and_fills_from_the_pod(
    setup: Setup, ad_server: AdServer, beacon_receiver: BeaconReceiver
) -> None:
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url("/vast/noad"))
    await walk(setup, "cueout", "ssai", BREAK_AT - 8, BREAK_AT + 4, step=2.0)
    hits = await beacon_receiver.wait_for(lambda hs: any(h.path == "/error/noad" for h in hs), timeout=10)
    error = next(h for h in hits if h.path == "/error/noad")
    assert error.query["code"] == "303", "no ads: IAB error 303, filled in"
    state = await (await setup.stack.admin.get("/admin/channels/cueout/break", headers=setup.tenant.auth)).json()
    assert state["break"]["fillSource"] == "pod" and state["break"]["fillReason"] == "vast_empty"


async def test_sgai_asset_list_requests_count_player_sessions(
    setup: Setup, ad_server: AdServer, beacon_receiver: BeaconReceiver
) -> None:
    await creative_pods(setup)
    await setup.channel(slug="cueout", stream="cueout", vastEnabled=True, vastUrl=ad_server.url("/vast/inline3"))
    setup.clock.now = BREAK_AT + 4.5
    text = await (await setup.get("cueout/800k.m3u8?mode=sgai")).text()
    break_id = text.split('ID="', 1)[1].split('"', 1)[0]
    for session in ("player-a", "player-a", "player-b"):  # a player retrying counts once
        resp = await setup.get(f"cueout/assets.json?break={break_id}&_HLS_primary_id={session}")
        assert resp.status == 200
    await beacon_receiver.wait_for(lambda hits: sum(h.path == "/impression/pod-ad-1" for h in hits) >= 2,
                                   timeout=10)
    assert paths(beacon_receiver)["/impression/pod-ad-1"] == 2
