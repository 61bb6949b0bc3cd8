"""Admin API over real HTTP: auth, org isolation, problem+json for bad input, invalidation."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from openapi_spec_validator import validate

from sidecar.config.cache import id_key, slug_key
from sidecar.config.kv import TOMBSTONE
from sidecar.web.admin import ROUTES
from tests.conftest import Stack, Tenant, make_tenant, unique_slug

PROBLEM = "application/problem+json"
VARIANTS = [{"bitrateBps": 800_000, "playlistUrl": "http://ads.test/p/800.m3u8"}]


def channel_body(slug: str = "sports1", **extra: Any) -> dict[str, Any]:
    return {"slug": slug, "name": "Sports", "originUrl": "http://origin.test/master.m3u8", **extra}


async def create_channel(stack: Stack, tenant: Tenant, slug: str = "sports1", **extra: Any) -> dict[str, Any]:
    resp = await stack.admin.post("/admin/channels", json=channel_body(slug, **extra), headers=tenant.auth)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def problem(resp: Any, status: int) -> dict[str, Any]:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == PROBLEM, text
    body: dict[str, Any] = json.loads(text)
    assert body["status"] == status and body["type"].startswith("urn:sidecar:problem:")
    assert "Traceback" not in text
    return body


# --- auth -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("Basic abc", "Bearer"),
        ("Bearer ", "Bearer"),
        ("Bearer nonsense", "invalid token"),
        ("Bearer sct_tok_0000000000000000_wrongsecretwrongsecret", "invalid token"),
    ],
)
async def test_bad_tokens_get_401_with_challenge(stack: Stack, header: str | None, reason: str) -> None:
    headers = {"Authorization": header} if header is not None else {}
    resp = await stack.admin.get("/admin/channels", headers=headers)
    body = await problem(resp, 401)
    assert reason in body["detail"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_revoked_token_is_rejected(stack: Stack) -> None:
    tenant = await make_tenant(stack.svc.store)
    resp = await stack.admin.post("/admin/tokens", json={"name": "tmp", "role": "viewer"}, headers=tenant.auth)
    assert resp.status == 201
    created = await resp.json()
    viewer = {"Authorization": f"Bearer {created['secret']}"}
    assert (await stack.admin.get("/admin/channels", headers=viewer)).status == 200
    resp = await stack.admin.delete(f"/admin/tokens/{created['token']['id']}", headers=tenant.auth)
    assert resp.status == 200
    body = await problem(await stack.admin.get("/admin/channels", headers=viewer), 401)
    assert "revoked" in body["detail"]


async def test_roles_are_enforced(stack: Stack) -> None:
    org = await stack.svc.store.create_org(unique_slug(), "Org")
    tokens = {
        role: (await stack.svc.store.create_token(org.id, role))[1]
        for role in ("viewer", "operator", "editor", "admin")
    }

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    assert (await stack.admin.get("/admin/channels", headers=auth("viewer"))).status == 200
    body = await problem(await stack.admin.post("/admin/channels", json=channel_body(), headers=auth("viewer")), 403)
    assert "editor" in body["detail"]
    assert (await stack.admin.post("/admin/channels", json=channel_body(), headers=auth("editor"))).status == 201
    await problem(await stack.admin.get("/admin/tokens", headers=auth("editor")), 403)
    await problem(await stack.admin.get("/admin/orgs", headers=auth("admin")), 403)
    # An admin cannot mint a token above its own role.
    await problem(await stack.admin.post("/admin/tokens", json={"role": "super-admin"}, headers=auth("admin")), 403)


async def test_super_admin_manages_organizations(stack: Stack) -> None:
    root = await make_tenant(stack.svc.store, role="super-admin")
    slug = unique_slug()
    resp = await stack.admin.post("/admin/orgs", json={"slug": slug, "name": "New"}, headers=root.auth)
    assert resp.status == 201
    await problem(await stack.admin.post("/admin/orgs", json={"slug": slug, "name": "Dup"}, headers=root.auth), 409)
    listed = await (await stack.admin.get("/admin/orgs", headers=root.auth)).json()
    assert slug in [o["slug"] for o in listed["organizations"]]
    await problem(await stack.admin.delete(f"/admin/orgs/{root.org_slug}", headers=root.auth), 409)
    resp = await stack.admin.delete(f"/admin/orgs/{slug}", headers=root.auth)
    assert resp.status == 200
    await problem(await stack.admin.get(f"/admin/orgs/{slug}", headers=root.auth), 404)


# --- isolation ------------------------------------------------------------------------------------------
async def test_another_orgs_objects_answer_404(stack: Stack) -> None:
    a = await make_tenant(stack.svc.store)
    b = await make_tenant(stack.svc.store)
    created = (await create_channel(stack, a))["channel"]
    pod = await stack.admin.post(
        "/admin/ad-pods", json={"slug": "p", "name": "P", "durationSeconds": 30, "variants": VARIANTS}, headers=a.auth
    )
    pod_id = (await pod.json())["adPod"]["id"]
    for ref in (created["id"], created["slug"]):
        await problem(await stack.admin.get(f"/admin/channels/{ref}", headers=b.auth), 404)
        await problem(await stack.admin.put(f"/admin/channels/{ref}", json={"name": "x"}, headers=b.auth), 404)
        await problem(await stack.admin.delete(f"/admin/channels/{ref}", headers=b.auth), 404)
        await problem(await stack.admin.post(f"/admin/channels/{ref}/invalidate", headers=b.auth), 404)
        await problem(await stack.admin.post(f"/admin/channels/{ref}/warm", headers=b.auth), 404)
    await problem(await stack.admin.get(f"/admin/ad-pods/{pod_id}", headers=b.auth), 404)
    # Referring to another org's pod is the same "not found" as asking for it, naming the field.
    body = await problem(
        await stack.admin.post("/admin/channels", json=channel_body(adPodId=pod_id), headers=b.auth), 404
    )
    assert body["errors"][0]["field"] == "adPodId" and body["errors"][0]["code"] == "reference"
    assert (await (await stack.admin.get("/admin/channels", headers=b.auth)).json())["channels"] == []
    # A's channel is untouched.
    still = await (await stack.admin.get(f"/admin/channels/{created['id']}", headers=a.auth)).json()
    assert still["channel"]["name"] == "Sports" and still["channel"]["version"] == created["version"]


# --- bad input --------------------------------------------------------------------------------------------
async def test_malformed_json_is_400(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    for raw in (b'{"slug": "x",', b"not json", b"{'a': 1}"):
        resp = await stack.admin.post(
            "/admin/channels", data=raw, headers={**t.auth, "Content-Type": "application/json"}
        )
        body = await problem(resp, 400)
        assert "JSON" in body["detail"]
    body = await problem(
        await stack.admin.post("/admin/channels", data=b"", headers={**t.auth, "Content-Type": "application/json"}), 400
    )
    assert "empty" in body["detail"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (channel_body(mode=3), "mode", "literal_error"),
        (channel_body(vastTimeoutMs="2000"), "vastTimeoutMs", "int_type"),
        (channel_body(scte35Enabled=1), "scte35Enabled", "bool_type"),
        (channel_body(originUrl="ftp://x/y.m3u8"), "originUrl", "value_error"),
        (channel_body(originUrl="http://a b/"), "originUrl", "value_error"),
        (channel_body(interstitialSnap=""), "interstitialSnap", "string_pattern_mismatch"),
        (channel_body(name="   "), "name", "string_pattern_mismatch"),
        (channel_body(name="a\u0000b"), "name", "string_pattern_mismatch"),
        (channel_body(vastTimeoutMs=2000.5), "vastTimeoutMs", "int_type"),
        (channel_body(slug="Bad Slug"), "slug", "string_pattern_mismatch"),
        (channel_body(vastEnabled=True), "vastUrl", "value_error"),
        (channel_body(bogus=True), "bogus", "extra_forbidden"),
        (channel_body(scheduleBreakSeconds=0), "scheduleBreakSeconds", "greater_than_equal"),
        ({"name": "x", "originUrl": "http://o.test/m.m3u8"}, "slug", "missing"),
        ([1, 2], "(body)", "model_type"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(stack: Stack, body: Any, field: str, code: str) -> None:
    t = await make_tenant(stack.svc.store)
    resp = await stack.admin.post("/admin/channels", json=body, headers=t.auth)
    problem_body = await problem(resp, 422)
    assert any(e["field"] == field and e["code"] == code for e in problem_body["errors"]), problem_body
    assert problem_body["detail"].startswith(field) or field == "(body)"


async def test_nested_fields_are_named_with_pointers(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    resp = await stack.admin.post(
        "/admin/ad-pods",
        json={
            "slug": "p",
            "name": "P",
            "durationSeconds": 30,
            "variants": [{"bitrateBps": -1, "playlistUrl": "http://a.test/x.m3u8"}],
        },
        headers=t.auth,
    )
    body = await problem(resp, 422)
    assert body["errors"][0]["field"] == "variants[0].bitrateBps"
    assert body["errors"][0]["pointer"] == "#/variants/0/bitrateBps"


async def test_put_validates_the_merged_result(stack: Stack) -> None:
    """A patch whose fields are each valid but which leaves the channel invalid conflicts with
    the channel's state (409, naming the field); null clears only what may be empty."""
    t = await make_tenant(stack.svc.store)
    await create_channel(stack, t, vastUrl="http://ads.test/vast")
    body = await problem(
        await stack.admin.put("/admin/channels/sports1", json={"vastEnabled": True, "vastUrl": None}, headers=t.auth),
        409,
    )
    assert body["errors"][0]["field"] == "vastUrl"
    body = await problem(await stack.admin.put("/admin/channels/sports1", json={"name": None}, headers=t.auth), 422)
    assert body["errors"][0]["field"] == "name"
    resp = await stack.admin.patch("/admin/channels/sports1", json={"vastUrl": None, "slateId": None}, headers=t.auth)
    assert resp.status == 200 and (await resp.json())["channel"]["vastUrl"] is None


async def test_integers_written_as_json_floats_are_integers(stack: Stack) -> None:
    """JSON has one number type; JSON Schema's integer accepts 30.0, and so does the API."""
    t = await make_tenant(stack.svc.store)
    created = (await create_channel(stack, t, vastTimeoutMs=2500.0))["channel"]
    assert created["vastTimeoutMs"] == 2500 and isinstance(created["vastTimeoutMs"], int)
    resp = await stack.admin.post("/admin/tokens", json={"expiresInSeconds": 5369331.0}, headers=t.auth)
    assert resp.status == 201, await resp.text()
    resp = await stack.admin.put(
        "/admin/channels/sports1", json={"name": "n", "version": float(created["version"])}, headers=t.auth
    )
    assert resp.status == 200, await resp.text()


async def test_oversized_body_is_413(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    huge = json.dumps(channel_body(name="x" * (stack.svc.settings.max_body_bytes + 10)))
    resp = await stack.admin.post("/admin/channels", data=huge, headers={**t.auth, "Content-Type": "application/json"})
    body = await problem(resp, 413)
    assert str(stack.svc.settings.max_body_bytes) in body["detail"]


async def test_wrong_content_type_is_415(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    resp = await stack.admin.post(
        "/admin/channels", data="slug=x", headers={**t.auth, "Content-Type": "application/x-www-form-urlencoded"}
    )
    await problem(resp, 415)


async def test_conflicts_are_409(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    created = (await create_channel(stack, t))["channel"]
    body = await problem(await stack.admin.post("/admin/channels", json=channel_body(), headers=t.auth), 409)
    assert body["errors"][0]["field"] == "slug"
    body = await problem(
        await stack.admin.put(
            "/admin/channels/sports1", json={"name": "x", "version": created["version"] - 1}, headers=t.auth
        ),
        409,
    )
    assert body["errors"][0]["field"] == "version"


async def test_unknown_routes_and_methods_are_problems(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    await problem(await stack.admin.get("/admin/nothing-here", headers=t.auth), 404)
    resp = await stack.admin.request("PATCH", "/admin/channels", headers=t.auth)
    await problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


GARBAGE: list[Any] = [
    None,
    0,
    -1,
    1e308,
    "x",
    "",
    [],
    {},
    [{}],
    {"slug": None},
    {"a": {"b": {"c": []}}},
    {"slug": "s", "name": "n", "durationSeconds": float("1e999"), "variants": "x"},
    {"slug": "\u0000", "name": "\ud7ff" * 3},
    {"variants": [None]},
    {"role": "god"},
]


async def test_no_body_on_any_route_causes_a_500(stack: Stack) -> None:
    root = await make_tenant(stack.svc.store, role="super-admin")
    await create_channel(stack, root)
    for route in ROUTES:
        if route.body is None:
            continue
        path = route.path.format(channel="sports1", org=root.org_slug, pod="p", slate="s", token="tok_x")
        for value in GARBAGE:
            raw = json.dumps(value, allow_nan=True)
            resp = await stack.admin.request(
                route.method, path, data=raw, headers={**root.auth, "Content-Type": "application/json"}
            )
            assert resp.status < 500, (route.method, path, raw, await resp.text())
            if resp.status >= 400:
                await problem(resp, resp.status)


# --- invalidation on every write --------------------------------------------------------------------------
async def _cached_versions(stack: Stack, org_slug: str, channel: dict[str, Any]) -> list[tuple[str, int]]:
    result = []
    for key in (slug_key(org_slug, channel["slug"]), id_key(channel["id"])):
        entry = await stack.svc.kv.get(key)
        assert entry is not None
        result.append((entry.kind, entry.version))
    return result


async def test_put_channel_as_in_the_seed_reports_invalidation(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    channel = (await create_channel(stack, t))["channel"]
    assert await stack.svc.cache.get(t.org_slug, "sports1") is not None
    resp = await stack.admin.put(
        f"/admin/channels/{channel['id']}", json={"originUrl": "https://new-origin.test/s.m3u8"}, headers=t.auth
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["channel"]["originUrl"] == "https://new-origin.test/s.m3u8"
    cache = body["cache"]
    assert cache["ok"] and cache["keysDropped"] == 2 and cache["invalidationMs"] >= 0
    assert set(cache["keys"]) == {slug_key(t.org_slug, "sports1"), id_key(channel["id"])}
    assert cache["warmed"] is True
    seen = await stack.svc.cache.get(t.org_slug, "sports1")
    assert seen is not None and seen.origin_url == "https://new-origin.test/s.m3u8"


Scenario = Callable[[Stack, Tenant, dict[str, Any]], Awaitable[Any]]


def _pod(slug: str = "p") -> dict[str, Any]:
    return {"slug": slug, "name": "P", "durationSeconds": 30, "variants": VARIANTS}


def _slate(slug: str = "s") -> dict[str, Any]:
    return {"slug": slug, "name": "S", "durationSeconds": 4, "variants": VARIANTS}


async def test_every_write_to_channel_config_invalidates(stack: Stack) -> None:
    """Sweep the route table: each route that can change a channel's config is exercised and
    must leave the channel's cache entries at (or tombstoned at) a version newer than before.
    A new mutating route without a scenario here fails the test."""
    root = await make_tenant(stack.svc.store, role="super-admin")
    covered: set[tuple[str, str]] = set()

    async def setup(org: Tenant) -> dict[str, Any]:
        pod = await (await stack.admin.post("/admin/ad-pods", json=_pod(), headers=org.auth)).json()
        slate = await (await stack.admin.post("/admin/slates", json=_slate(), headers=org.auth)).json()
        ch = await create_channel(
            stack, org, unique_slug("c"), adPodId=pod["adPod"]["id"], slateId=slate["slate"]["id"]
        )
        return ch["channel"]

    async def check(
        method: str, path: str, send: Callable[[Tenant, dict[str, Any]], Awaitable[Any]], bump: bool = True
    ) -> None:
        """bump: the route changes the config, so entries must now carry a newer version;
        otherwise (explicit invalidation) they must at least be tombstoned."""
        org = await make_tenant(stack.svc.store, role="admin")
        channel = await setup(org)
        if "/admin/orgs" in path:  # org routes are the super-admin's, acting on this org
            org = Tenant(org.org_id, org.org_slug, root.token)
        await stack.svc.cache.get(org.org_slug, channel["slug"])
        await stack.svc.cache.get_by_id(channel["id"])
        before = await _cached_versions(stack, org.org_slug, channel)
        assert all(kind != TOMBSTONE for kind, _ in before)
        resp = await send(org, channel)
        assert resp.status == 200, (method, path, await resp.text())
        after = await _cached_versions(stack, org.org_slug, channel)
        for (_, v0), (kind, v1) in zip(before, after, strict=True):
            assert (v1 > v0) if bump else (kind == TOMBSTONE and v1 == v0), (method, path, before, after)
        covered.add((method, path))

    a = stack.admin
    await check(
        "PUT",
        "/admin/channels/{channel}",
        lambda o, c: a.put(f"/admin/channels/{c['id']}", json={"name": "n"}, headers=o.auth),
    )
    await check(
        "PATCH",
        "/admin/channels/{channel}",
        lambda o, c: a.patch(f"/admin/channels/{c['slug']}", json={"status": "paused"}, headers=o.auth),
    )
    await check(
        "DELETE", "/admin/channels/{channel}", lambda o, c: a.delete(f"/admin/channels/{c['id']}", headers=o.auth)
    )
    await check(
        "POST",
        "/admin/channels/{channel}/invalidate",
        lambda o, c: a.post(f"/admin/channels/{c['id']}/invalidate", headers=o.auth),
        bump=False,
    )
    for base, param, body in (
        ("/admin/ad-pods", "pod", {"durationSeconds": 20}),
        ("/admin/slates", "slate", {"durationSeconds": 6}),
    ):
        slug = "p" if param == "pod" else "s"
        await check(
            "PUT",
            f"{base}/{{{param}}}",
            lambda o, c, base=base, slug=slug, body=body: a.put(f"{base}/{slug}", json=body, headers=o.auth),
        )
        await check(
            "PATCH",
            f"{base}/{{{param}}}",
            lambda o, c, base=base, slug=slug: a.patch(f"{base}/{slug}", json={"name": "m"}, headers=o.auth),
        )
        await check(
            "DELETE",
            f"{base}/{{{param}}}",
            lambda o, c, base=base, slug=slug: a.delete(f"{base}/{slug}", headers=o.auth),
        )
    await check(
        "POST", "/admin/org/invalidate", lambda o, c: a.post("/admin/org/invalidate", headers=o.auth), bump=False
    )
    await check(
        "PUT",
        "/admin/orgs/{org}",
        lambda o, c: a.put(f"/admin/orgs/{o.org_slug}", json={"name": "Renamed"}, headers=o.auth),
    )
    await check(
        "PATCH",
        "/admin/orgs/{org}",
        lambda o, c: a.patch(f"/admin/orgs/{o.org_slug}", json={"status": "suspended"}, headers=o.auth),
    )
    await check("DELETE", "/admin/orgs/{org}", lambda o, c: a.delete(f"/admin/orgs/{o.org_slug}", headers=o.auth))
    await check(
        "POST",
        "/admin/orgs/{org}/invalidate",
        lambda o, c: a.post(f"/admin/orgs/{o.org_slug}/invalidate", headers=o.auth),
        bump=False,
    )

    # Creating a channel must replace a cached "no such channel" at once.
    org = await make_tenant(stack.svc.store)
    assert await stack.svc.cache.get(org.org_slug, "fresh") is None
    await create_channel(stack, org, "fresh")
    assert await stack.svc.cache.get(org.org_slug, "fresh") is not None
    covered.add(("POST", "/admin/channels"))

    # Routes that cannot change any channel's config (new objects nothing embeds yet, tokens, warm).
    exempt = {
        ("POST", "/admin/orgs"),
        ("POST", "/admin/ad-pods"),
        ("POST", "/admin/slates"),
        ("POST", "/admin/tokens"),
        ("DELETE", "/admin/tokens/{token}"),
        ("POST", "/admin/channels/{channel}/warm"),
        # Cues change ad-break state, which lives in the channel actor, not in the config.
        ("POST", "/admin/channels/{channel}/cue"),
    }
    mutating = {(r.method, r.path) for r in ROUTES if r.method != "GET"}
    assert mutating - exempt == covered


async def test_warm_fills_the_cache_without_older_versions(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    resp = await stack.admin.post("/admin/channels?warm=false", json=channel_body(), headers=t.auth)
    channel = (await resp.json())["channel"]
    assert (await resp.json())["cache"]["warmed"] is None
    assert await stack.svc.kv.get(slug_key(t.org_slug, channel["slug"])) is None or (
        (await stack.svc.kv.get(slug_key(t.org_slug, channel["slug"]))).kind == TOMBSTONE
    )  # type: ignore[union-attr]
    resp = await stack.admin.post(f"/admin/channels/{channel['slug']}/warm", headers=t.auth)
    assert resp.status == 200
    entry = await stack.svc.kv.get(slug_key(t.org_slug, channel["slug"]))
    assert entry is not None and entry.version == channel["version"] and entry.kind == "d"


async def test_create_with_warm_param_validated(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    for value in ("maybe", "1", "TRUE"):  # the schema says boolean: true or false
        resp = await stack.admin.post(f"/admin/channels?warm={value}", json=channel_body(), headers=t.auth)
        body = await problem(resp, 400)
        assert body["errors"][0]["field"] == "warm"


# --- OpenAPI, secrets ---------------------------------------------------------------------------------------
async def test_openapi_document_is_valid_and_complete(stack: Stack) -> None:
    resp = await stack.admin.get("/admin/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    for route in ROUTES:
        assert route.method.lower() in doc["paths"][route.path]
    schema = doc["components"]["schemas"]["ChannelIn"]
    assert "originUrl" in schema["properties"] and schema["additionalProperties"] is False


async def test_tokens_never_reach_logs_or_metrics(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    t = await make_tenant(stack.svc.store)
    caplog.set_level(logging.DEBUG)
    resp = await stack.admin.post("/admin/tokens", json={"name": "x", "role": "viewer"}, headers=t.auth)
    secret = (await resp.json())["secret"]
    await create_channel(stack, t)
    await stack.admin.get("/admin/channels", headers={"Authorization": f"Bearer {secret}"})
    metrics = await (await stack.admin.get("/metrics")).text()
    for needle in (secret, t.token, t.token.rsplit("_", 1)[-1]):
        assert needle not in caplog.text
        assert needle not in metrics
    assert 'ssai_admin_requests_total{method="POST",route="/admin/tokens",status="201"}' in metrics
