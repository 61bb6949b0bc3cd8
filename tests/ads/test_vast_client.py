"""fetch_vast against a real local ad server: chains, limits, deadlines, failures, hostile bodies.

Timing is never asserted as a tight threshold. Where a deadline matters, the assertion is the
outcome plus a generous upper bound that only separates "returned at the deadline" from "hung".
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp

from sidecar.ads.vast import ErrorPing, VastErrorCode, VastResult, expand_macros, fetch_vast
from sidecar.ads.vast_client import MAX_ADS_PER_RESPONSE, MAX_ERROR_PINGS, MAX_FETCHES
from tests.ads.adserver import AdServer, BeaconReceiver

HUNG = 4.0  # seconds: far above every deadline used here, far below a hang


async def fetch(http: aiohttp.ClientSession, url: str, timeout_s: float = 3.0, **kw: int) -> VastResult:
    return await fetch_vast(http, url, timeout_s=timeout_s, **kw)


def ping_paths(result: VastResult) -> list[tuple[int, str]]:
    return [(p.code, urlsplit(p.url).path) for p in result.error_pings]


async def test_inline_pod(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/inline3"))
    assert result.outcome == "ok"
    assert result.version == "4.2"
    assert result.http_status == 200
    assert result.wrapper_depth == 0
    assert result.error_pings == [] and result.error_code is None
    assert [(a.id, a.sequence, a.duration_seconds) for a in result.ads] == [
        ("pod-ad-1", 1, 10.0), ("pod-ad-2", 2, 10.0), ("pod-ad-3", 3, 10.0),
    ]
    # Tracking URLs point at the beacon receiver and keep their macros for fire time.
    assert result.ads[0].impressions == [f"{ad_server.beacon_url}/impression/pod-ad-1?cb=[CACHEBUSTING]"]
    assert 0 <= result.elapsed_s < HUNG


async def test_wrapper_chain_merges_tracking(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/wrapper1"))
    assert result.outcome == "ok"
    assert result.wrapper_depth == 2
    assert [a.id for a in result.ads] == ["pod-ad-1", "pod-ad-2", "pod-ad-3"]  # both wrappers allow pods
    b = ad_server.beacon_url
    ad = result.ads[0]
    assert ad.kind == "inline"
    assert ad.impressions == [
        f"{b}/impression/wrapper-1", f"{b}/impression/wrapper-2", f"{b}/impression/pod-ad-1?cb=[CACHEBUSTING]",
    ]
    assert ad.error_urls == [
        f"{b}/error/wrapper-1?code=[ERRORCODE]&ts=[TIMESTAMP]",
        f"{b}/error/wrapper-2?code=[ERRORCODE]",
        f"{b}/error/pod-ad-1?code=[ERRORCODE]",
    ]
    tracking = ad.creatives[0].tracking
    assert tracking["start"] == [
        f"{b}/track/wrapper-1/start", f"{b}/track/wrapper-2/start", f"{b}/track/pod-ad-1/start",
    ]
    assert tracking["midpoint"] == [f"{b}/track/wrapper-2/midpoint", f"{b}/track/pod-ad-1/midpoint"]
    assert tracking["complete"] == [f"{b}/track/wrapper-1/complete", f"{b}/track/pod-ad-1/complete"]
    assert tracking["mute"] == [f"{b}/track/wrapper-1/mute"]  # wrapper-only events are kept
    assert tracking["firstQuartile"] == [f"{b}/track/pod-ad-1/firstQuartile"]
    assert ad.creatives[0].click_tracking == [f"{b}/click/wrapper-1", f"{b}/click/pod-ad-1"]
    # Media, duration and identity come from the inline ad.
    assert ad.creatives[0].media_files[0].url == "https://ads.example/creatives/1/master.m3u8"
    assert ad.duration_seconds == 10.0
    assert [urlsplit(u).path for u in ad.wrapper_chain] == ["/vast/wrapper2", "/vast/inline3"]
    # Every ad of the pod got the wrappers' tracking, not only the first.
    assert result.ads[2].creatives[0].tracking["start"][0] == f"{b}/track/wrapper-1/start"


async def test_macros_expanded_in_wrapper_request(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    before = time.time()
    result = await fetch(http, ad_server.url("/vast/wrapper1"))
    assert result.outcome == "ok"
    (request,) = ad_server.requested("/vast/wrapper2")
    assert "[CACHEBUSTING]" not in request and "[TIMESTAMP]" not in request
    query = parse_qs(urlsplit(request).query)
    assert re.fullmatch(r"[1-9]\d{7}", query["cb"][0])
    stamp = query["ts"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    sent_at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    assert before - 1 <= sent_at <= time.time() + 1  # the time of the request, not a constant
    assert query["pos"] == ["[CONTENTPLAYHEAD]"]  # unsupported macro passed through
    # Beacon templates stay templates; the beacon sender expands them per firing.
    impression = result.ads[0].impressions[-1]
    assert impression.endswith("?cb=[CACHEBUSTING]")
    assert re.search(r"\?cb=[1-9]\d{7}$", expand_macros(impression))


async def test_chain_at_depth_limit_resolves(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/chain/5"))  # default max_wrapper_depth=5
    assert result.outcome == "ok"
    assert result.wrapper_depth == 5
    # allowMultipleAds absent: only one ad may come back from a pod (the first, as none is stand-alone).
    assert [a.id for a in result.ads] == ["pod-ad-1"]
    assert len(result.ads[0].impressions) == 6  # five wrappers plus the inline's own


async def test_chain_over_depth_limit(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/chain/6"))
    assert result.outcome == "wrapper_limit"
    assert result.error_code == VastErrorCode.WRAPPER_LIMIT
    assert result.error_code == 302
    assert result.ads == []
    assert result.wrapper_depth == 5
    assert ad_server.requested("/vast/chain/0") == []  # it stopped instead of fetching the 7th tag
    assert ping_paths(result) == [(302, f"/error/chain-{n}") for n in range(6, 0, -1)]
    assert all(p.url.endswith("?code=302") for p in result.error_pings)


async def test_wrapper_loop_stops_at_limit(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/loop"), max_wrapper_depth=3)
    assert result.outcome == "wrapper_limit"
    assert result.wrapper_depth == 3
    assert len(ad_server.requested("/vast/loop")) == 4  # the tag plus three wrappers followed


async def test_follow_additional_wrappers_false(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/wrap?follow=0&to=/vast/chain/1"))
    assert result.outcome == "wrapper_limit"
    assert result.error_code == 302
    assert ad_server.requested("/vast/chain/0") == []


async def test_allow_multiple_ads(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    single = await fetch(http, ad_server.url("/vast/wrap?to=/vast/inline3"))
    multiple = await fetch(http, ad_server.url("/vast/wrap?multiple=1&to=/vast/inline3"))
    assert [a.id for a in single.ads] == ["pod-ad-1"]
    assert [a.id for a in multiple.ads] == ["pod-ad-1", "pod-ad-2", "pod-ad-3"]


async def test_empty_response(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/empty"))
    assert result.outcome == "empty"
    assert result.ads == [] and result.error_pings == []
    assert result.version == "4.2"


async def test_no_content_is_empty(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/nocontent"))
    assert result.outcome == "empty"
    assert result.http_status == 204


async def test_no_ad_response_returns_error_pings(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/noad"))
    assert result.outcome == "empty"
    (ping,) = result.error_pings
    assert ping.code == 303
    assert re.fullmatch(re.escape(f"{ad_server.beacon_url}/error/noad?code=303&cb=") + r"[1-9]\d{7}", ping.url)


async def test_no_ads_after_wrapper(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    empty = await fetch(http, ad_server.url("/vast/wrap?to=/vast/empty"))
    assert empty.outcome == "no_ads_after_wrapper"
    assert empty.error_code == 303
    assert empty.wrapper_depth == 1
    assert ping_paths(empty) == [(303, "/error/wrap")]
    noad = await fetch(http, ad_server.url("/vast/wrap?to=/vast/noad"))
    assert noad.outcome == "no_ads_after_wrapper"
    assert ping_paths(noad) == [(303, "/error/wrap"), (303, "/error/noad")]


async def test_http_500(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/error500"))
    assert result.outcome == "http_error"
    assert result.http_status == 500
    assert result.ads == []


async def test_wrapper_to_500_pings_wrapper_errors(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/wrap?to=/vast/error500"))
    assert result.outcome == "http_error"
    assert result.http_status == 500
    assert result.error_pings == [ErrorPing(301, f"{ad_server.beacon_url}/error/wrap?code=301")]


async def test_connection_refused(http: aiohttp.ClientSession, refused_url: str, ad_server: AdServer) -> None:
    started = time.perf_counter()
    result = await fetch(http, refused_url)
    assert result.outcome == "connect_error"
    assert time.perf_counter() - started < HUNG
    via_wrapper = await fetch(http, ad_server.url(f"/vast/wrap?to={refused_url}"))
    assert via_wrapper.outcome == "connect_error"
    assert ping_paths(via_wrapper) == [(301, "/error/wrap")]


async def test_partial_pod_keeps_good_ads(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/pod_partial"))
    assert result.outcome == "ok"
    assert [a.id for a in result.ads] == ["good"]
    assert result.error_pings == [ErrorPing(301, f"{ad_server.beacon_url}/error/broken?code=301")]


async def test_slow_tag_times_out_at_deadline(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    started = time.perf_counter()
    result = await fetch(http, ad_server.url("/vast/slow?delay=30"), timeout_s=0.5)
    assert result.outcome == "timeout"
    assert result.ads == []
    assert result.elapsed_s < HUNG
    assert time.perf_counter() - started < HUNG


async def test_deadline_covers_the_whole_chain(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    # Four requests of 0.25 s each: every hop is well inside 0.6 s, the chain is not.
    result = await fetch(http, ad_server.url("/vast/slowchain/3?delay=0.25"), timeout_s=0.6)
    assert result.outcome == "timeout"
    assert result.error_code == 301
    assert result.elapsed_s < HUNG
    assert len(ad_server.requested("/vast/slowchain/")) >= 2  # it was following the chain
    assert ping_paths(result)[0] == (301, "/error/slowchain-3")
    # Control: the same chain with enough budget resolves, so only the shared deadline failed it.
    ok = await fetch(http, ad_server.url("/vast/slowchain/3?delay=0.25"), timeout_s=HUNG)
    assert ok.outcome == "ok"
    assert ok.wrapper_depth == 3


async def test_malformed_response(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/malformed"))
    assert (result.outcome, result.error_code) == ("invalid", 100)
    via_wrapper = await fetch(http, ad_server.url("/vast/wrap?to=/vast/malformed"))
    assert via_wrapper.outcome == "invalid"
    assert ping_paths(via_wrapper) == [(100, "/error/wrap")]


async def test_entity_bomb_rejected_quickly(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/bomb"))
    assert (result.outcome, result.error_code) == ("invalid", 100)
    assert "DTDForbidden" in result.reason
    assert result.elapsed_s < HUNG


async def test_xxe_leaks_nothing(
    http: aiohttp.ClientSession, ad_server: AdServer, beacon_receiver: BeaconReceiver, tmp_path: Path
) -> None:
    secret = f"SECRET-{secrets.token_hex(16)}"
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    result = await fetch(http, ad_server.url(f"/vast/xxe?path={target}"))
    assert (result.outcome, result.error_code) == ("invalid", 100)
    assert secret not in repr(result)
    remote = await fetch(http, ad_server.url("/vast/xxe_remote"))
    assert (remote.outcome, remote.error_code) == ("invalid", 100)
    # The external DTD and parameter entity live on the beacon receiver: nothing fetched them.
    assert [h for h in beacon_receiver.hits if h.path.startswith("/xxe/")] == []


async def test_oversized_bodies(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    declared = await fetch(http, ad_server.url("/vast/oversized"))
    assert (declared.outcome, declared.error_code) == ("invalid", 100)
    assert "declares" in declared.reason  # refused on Content-Length, before reading
    streamed = await fetch(http, ad_server.url("/vast/oversized_stream"))
    assert (streamed.outcome, streamed.error_code) == ("invalid", 100)
    assert "exceeds" in streamed.reason  # no Content-Length: refused while streaming
    assert streamed.elapsed_s < HUNG


async def test_non_http_urls_refused(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    for url in ("file:///etc/passwd", "ftp://ads.test/vast.xml", "not a url", ""):
        result = await fetch(http, url)
        assert result.outcome == "invalid", url
        assert result.ads == []
    wrapped = await fetch(http, ad_server.url("/vast/wrap?to=file:///etc/passwd"))
    assert wrapped.outcome == "invalid"
    assert ping_paths(wrapped) == [(300, "/error/wrap")]
    redirected = await fetch(http, ad_server.url("/vast/redirect?to=file:///etc/passwd"))
    assert redirected.outcome == "invalid"
    assert "root:" not in repr(redirected)


async def test_redirect_to_http_is_followed(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/redirect?to=/vast/inline3"))
    assert result.outcome == "ok"
    assert len(result.ads) == 3


async def test_ads_per_response_are_capped(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    result = await fetch(http, ad_server.url("/vast/fanout?n=80&levels=1"))
    assert result.outcome == "ok"
    assert len(ad_server.requested("/vast/fanout?n=80&levels=0")) == MAX_ADS_PER_RESPONSE
    assert len(result.ads) == 3 * MAX_ADS_PER_RESPONSE


async def test_fanout_is_bounded_by_a_request_budget(http: aiohttp.ClientSession, ad_server: AdServer) -> None:
    # Fully followed this would be 1 + 10 + 100 requests.
    result = await fetch(http, ad_server.url("/vast/fanout?n=10&levels=2"))
    assert len(ad_server.requests) == MAX_FETCHES
    assert result.outcome == "ok"  # what fitted in the budget is kept
    assert 0 < len(result.ads) < 300
    assert result.error_pings and {p.code for p in result.error_pings} == {302}
    # Siblings that failed under one wrapper report its error URL once, not once each.
    assert len(result.error_pings) == len({p.url for p in result.error_pings}) <= MAX_ERROR_PINGS
