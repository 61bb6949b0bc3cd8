"""SSRF attempts through every tenant-supplied URL, against the real fetch code and the service.

The "internal" target is a real HTTP server on 127.0.0.2 (loopback, not in the test allow list),
or the service's own admin listener (on the allowed 127.0.0.1, denied anyway): each records what
reaches it, and nothing may. Private, metadata and CGNAT addresses are never connected to from a
test, even by mistake: their denial is shown at resolution (nothing connected) and at admin
writes (nothing fetched).
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from sidecar.ads.beacon_model import Beacon, BeaconOptions, Outcome
from sidecar.ads.beacon_send import deliver
from sidecar.ads.vast import fetch_vast
from sidecar.config.models import ChannelIn, Variant
from sidecar.config.store import Store
from sidecar.net.client import AddressDenied, PolicyConnector, client_session
from sidecar.net.policy import UrlPolicy, parse_allow_list
from sidecar.stitch.fill import timeline_of
from sidecar.stitch.origin import OriginClient, OriginError
from tests.ads.adserver import AdServer, BeaconReceiver
from tests.conftest import Stack, make_tenant
from tests.web.test_admin_api import problem

SECRET = "k3y-do-not-log"  # a tenant's ad-server key in a query string


@pytest.fixture
async def internal() -> AsyncIterator[BeaconReceiver]:
    """An internal service the tenant should not reach: it answers anything, and records it."""
    server = BeaconReceiver()
    await server.start(host="127.0.0.2")
    yield server
    await server.close()


@pytest.fixture
def policy() -> UrlPolicy:
    return UrlPolicy(parse_allow_list("127.0.0.1"))  # the tests' allowed servers; 127.0.0.2 is not


def _scraped(text: str) -> float:
    """How many /metrics requests the admin app had answered when ``text`` was rendered."""
    prefix = 'ssai_admin_requests_total{method="GET",route="/metrics",status="200"} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def _scrape(text: str, purpose: str, reason: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'ssai_url_denied_total{{purpose="{purpose}",reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no ssai_url_denied_total series for {purpose}/{reason}")


async def test_every_fetcher_refuses_a_denied_address_and_connects_nowhere(
    policy: UrlPolicy, internal: BeaconReceiver, ad_server: AdServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    target = f"{internal.base_url}/x.m3u8?apikey={SECRET}"
    async with client_session(policy) as session:
        # origin playlists
        with pytest.raises(OriginError) as raised:
            await OriginClient(session).get(target)
        assert raised.value.reason == "denied" and "loopback" in raised.value.detail
        # ad-pod / slate / VAST renditions
        with pytest.raises(LookupError):
            await timeline_of(OriginClient(session), [Variant(bitrate_bps=800_000, playlist_url=target)])
        # VAST tags, wrappers, redirects
        assert (await fetch_vast(session, target, timeout_s=2)).outcome == "denied"
        wrapped = f"{ad_server.base_url}/vast/wrap?to={quote(target, safe='')}"
        result = await fetch_vast(session, wrapped, timeout_s=2)
        assert result.outcome == "denied" and "loopback" in result.reason
        redirected = f"{ad_server.base_url}/vast/redirect?to={quote(target, safe='')}"
        assert (await fetch_vast(session, redirected, timeout_s=2)).outcome == "denied"
        # tracking beacons: dropped at once, never retried
        beacon = Beacon("b:0:impression:0", "impression", target, 0.0, "org", "ch")
        assert await deliver(session, beacon, BeaconOptions(timeout=1, attempts=3, backoff=0.05)) == Outcome.DROPPED
    assert internal.hits == [], "the internal server was reached"
    assert ad_server.requests, "the allowed ad server was reached (the test really fetched)"
    denied = [r for r in caplog.records if getattr(r, "event", "") == "url_denied"]
    assert {getattr(r, "purpose", "") for r in denied} >= {"origin", "ad_media", "vast", "beacon"}
    assert all(getattr(r, "host", "") == "127.0.0.2" for r in denied)
    assert SECRET not in caplog.text, "a tenant's query string reached the log"


class Flipping(AbstractResolver):
    """DNS that answers an allowed address, then a denied one (rebinding), or several at once."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0) for a in addresses
        ]

    async def close(self) -> None:
        return None


async def test_dns_rebinding_is_checked_on_the_address_connected(
    policy: UrlPolicy, internal: BeaconReceiver, ad_server: AdServer
) -> None:
    port = int(ad_server.base_url.rsplit(":", 1)[1])
    resolver = Flipping(["127.0.0.1"], ["127.0.0.2"])
    connector = PolicyConnector(policy, resolver=resolver, use_dns_cache=False, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        first = await fetch_vast(session, f"http://ads.rebind.test:{port}/vast/inline3", timeout_s=2)
        assert first.outcome == "ok"  # resolved to the allowed server
        second = await fetch_vast(session, f"http://ads.rebind.test:{port}/vast/inline3", timeout_s=2)
        assert second.outcome == "denied"  # the same name now points inside: refused
    # A mixed answer connects only to the allowed address.
    connector = PolicyConnector(policy, resolver=Flipping(["127.0.0.2", "127.0.0.1"]), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        assert (await fetch_vast(session, f"http://mixed.test:{port}/vast/inline3", timeout_s=2)).outcome == "ok"
    assert internal.hits == []


@pytest.mark.parametrize(
    ("address", "reason"),
    [("10.0.0.7", "private"), ("169.254.169.254", "metadata"), ("100.64.1.1", "cgnat"), ("fd00::5", "unique_local")],
)
async def test_names_resolving_inside_are_refused_before_any_connection(address: str, reason: str) -> None:
    """Only resolution runs here (no connection is attempted to these addresses by the test)."""
    connector = PolicyConnector(UrlPolicy(parse_allow_list("127.0.0.1")), resolver=Flipping([address]))
    try:
        with pytest.raises(AddressDenied) as raised:
            await connector._resolve_host("intranet.test", 80)
        assert raised.value.denial.reason == reason
    finally:
        await connector.close()


async def test_an_origin_aimed_at_the_services_own_listener_is_a_documented_problem(
    stack: Stack, ad_server: AdServer
) -> None:
    """Loopback is allowed in the test deployment; the service's own admin port still is not,
    directly or through a redirect. The origin URL is stored directly (as one saved before the
    policy existed would be), so the fetch-time check is what stops it."""
    tenant = await make_tenant(stack.svc.store)
    admin_port = stack.admin.port
    metrics_url = f"http://127.0.0.1:{admin_port}/metrics"
    before = await (await stack.admin.get("/metrics")).text()
    redirect = f"{ad_server.base_url}/vast/redirect?to={quote(metrics_url, safe='')}"
    for slug, origin in (("direct", metrics_url), ("redirect", redirect)):
        await stack.svc.store.create_channel(
            tenant.org_id, ChannelIn.model_validate({"slug": slug, "name": "x", "origin_url": origin})
        )
        resp = await stack.viewer.get(f"/{tenant.org_slug}/{slug}/master.m3u8")
        body = await problem(resp, 502)
        assert body["type"] == "urn:sidecar:problem:origin-denied", body
        assert "own listener" in body["detail"] and str(admin_port) not in body["detail"]
    metrics = await (await stack.admin.get("/metrics")).text()
    assert _scrape(metrics, "origin", "own_listener") - _scrape(before, "origin", "own_listener") == 2
    # The admin app answered one /metrics request in between: the first scrape (each is counted
    # once it has answered). The origin fetches never reached it.
    assert _scraped(metrics) - _scraped(before) == 1


URL_FIELDS: list[tuple[str, str, Any]] = [
    ("/admin/channels", "originUrl", lambda u: {"slug": "c", "name": "C", "originUrl": u}),
    ("/admin/channels", "vastUrl", lambda u: {"slug": "c", "name": "C", "originUrl": "http://o.test/m.m3u8",
                                              "vastEnabled": True, "vastUrl": u}),
    ("/admin/channels", "adPodBaseUrl", lambda u: {"slug": "c", "name": "C", "originUrl": "http://o.test/m.m3u8",
                                                   "adPodBaseUrl": u}),
    ("/admin/ad-pods", "variants[1].playlistUrl", lambda u: {
        "slug": "p", "name": "P", "durationSeconds": 30,
        "variants": [{"bitrateBps": 1, "playlistUrl": "http://a.test/1.m3u8"}, {"bitrateBps": 2, "playlistUrl": u}]}),
    ("/admin/ad-pods", "tracking.impression[0]", lambda u: {
        "slug": "p", "name": "P", "durationSeconds": 30,
        "variants": [{"bitrateBps": 1, "playlistUrl": "http://a.test/1.m3u8"}], "tracking": {"impression": [u]}}),
    ("/admin/slates", "variants[0].playlistUrl", lambda u: {
        "slug": "s", "name": "S", "durationSeconds": 4, "variants": [{"bitrateBps": 1, "playlistUrl": u}]}),
]


@pytest.mark.parametrize(("path", "field", "body"), URL_FIELDS, ids=[f"{p}:{f}" for p, f, _ in URL_FIELDS])
async def test_admin_writes_with_a_denied_address_are_refused_naming_the_field(
    stack: Stack, path: str, field: str, body: Any
) -> None:
    tenant = await make_tenant(stack.svc.store)
    targets = {
        "private": "http://10.1.2.3/x?k=1",
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "own_listener": f"http://127.0.0.1:{stack.admin.port}/metrics",
        "loopback": "http://[::1]:8080/x",
    }
    for reason, url in targets.items():
        resp = await stack.admin.post(path, json=body(url), headers=tenant.auth)
        found = await problem(resp, 403)
        assert found["type"] == "urn:sidecar:problem:url-denied"
        assert [e["field"] for e in found["errors"]] == [field] and found["errors"][0]["code"] == "url_denied"
        assert found["detail"].startswith(field) and reason.replace("_", " ").split()[0] in found["detail"], found
    listed = await (await stack.admin.get(path, headers=tenant.auth)).json()
    assert next(iter(listed.values())) == [], "nothing was stored"
    # A host name is judged when fetched (nothing is fetched here); updates are checked like creates.
    resp = await stack.admin.post(path, json=body("http://allowed.test/x.m3u8"), headers=tenant.auth)
    assert resp.status == 201, await resp.text()
    created = next(iter((await resp.json()).values()))
    patched = {k: v for k, v in body("http://10.9.9.9/y").items() if k not in ("slug", "name")}
    resp = await stack.admin.patch(f"{path}/{created['id']}", json=patched, headers=tenant.auth)
    assert (await problem(resp, 403))["errors"][0]["field"] == field
    metrics = await (await stack.admin.get("/metrics")).text()
    assert _scrape(metrics, "admin_write", "private") >= 1


async def test_the_audit_of_a_refused_write_names_no_url(stack: Stack) -> None:
    tenant = await make_tenant(stack.svc.store)
    await stack.admin.post(
        "/admin/channels", json={"slug": "c", "name": "C", "originUrl": f"http://10.0.0.1/?key={SECRET}"},
        headers=tenant.auth,
    )
    events = (await (await stack.admin.get("/admin/audit", headers=tenant.auth)).json())["events"]
    assert events[0]["problem"] == "url-denied" and events[0]["status"] == 403
    assert SECRET not in json.dumps(events)


def test_a_served_process_knows_its_own_listeners(sqlite_url: str) -> None:
    """`sidecar serve` registers the sockets it bound: a channel whose origin is the process's own
    admin or viewer port is refused although the deployment allows 127.0.0.1."""
    import asyncio
    import urllib.request
    from urllib.error import HTTPError

    from tests.conftest import ServiceProcess

    service = ServiceProcess({"SIDECAR_DATABASE_URL": sqlite_url})

    async def channels() -> str:
        store = Store.from_url(sqlite_url)
        try:
            org = await store.create_org(f"own{secrets.token_hex(3)}", "Own")
            for slug, base in (("admin", service.admin), ("viewer", service.viewer)):
                body = {"slug": slug, "name": slug, "origin_url": f"{base}/metrics"}
                await store.create_channel(org.id, ChannelIn.model_validate(body))
            return org.slug
        finally:
            await store.close()

    org = asyncio.run(channels())
    service.start()
    try:
        for slug in ("admin", "viewer"):
            with pytest.raises(HTTPError) as raised:
                urllib.request.urlopen(f"{service.viewer}/{org}/{slug}/master.m3u8", timeout=10)
            found = json.loads(raised.value.read())
            assert raised.value.code == 502 and found["type"] == "urn:sidecar:problem:origin-denied", found
    finally:
        service.stop()
