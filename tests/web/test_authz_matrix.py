"""The authorization matrix: every admin route x every role x own organization / another one.

One table says what each combination answers; the test makes every request for real (a fresh
object for each destructive one) and reports every cell that differs. A route missing from the
table fails the test, so a new route cannot ship without its row.

Rules the table encodes (docs/adr/0002): a role below the route's answers 403 whatever the
target; another organization's object is 404 (never 403, which would confirm it exists); only
a super-admin addresses other organizations (``/admin/orgs/...``), and not to delete its own.
Routes without an object in the path act on the token's own organization only: "own-only" means
the answer holds nothing of the other organization.
"""

from __future__ import annotations

import secrets
from typing import Any

from sidecar.config import schema as t
from sidecar.config.models import AdPod, AdPodIn, ChannelIn, Slate, SlateIn
from sidecar.config.store import Store
from sidecar.web.admin import ROUTES
from tests.conftest import Stack

ROLES = ("viewer", "operator", "editor", "admin", "super-admin")
OWN_ONLY = "own-only"
Row = tuple[tuple[int, ...], tuple[int, ...] | str]

# fmt: off
#                                              own org:  viewer operator editor admin super-admin
#                                            other org:  (the same roles, targeting the other org)
MATRIX: dict[str, Row] = {
    "GET /admin/org":                            ((200, 200, 200, 200, 200), OWN_ONLY),
    "POST /admin/org/invalidate":                ((403, 403, 200, 200, 200), OWN_ONLY),
    "GET /admin/orgs":                           ((403, 403, 403, 403, 200), (403, 403, 403, 403, 200)),
    "POST /admin/orgs":                          ((403, 403, 403, 403, 201), (403, 403, 403, 403, 201)),
    "GET /admin/orgs/{org}":                     ((403, 403, 403, 403, 200), (403, 403, 403, 403, 200)),
    "PUT /admin/orgs/{org}":                     ((403, 403, 403, 403, 200), (403, 403, 403, 403, 200)),
    "PATCH /admin/orgs/{org}":                   ((403, 403, 403, 403, 200), (403, 403, 403, 403, 200)),
    "DELETE /admin/orgs/{org}":                  ((403, 403, 403, 403, 409), (403, 403, 403, 403, 200)),
    "POST /admin/orgs/{org}/invalidate":         ((403, 403, 403, 403, 200), (403, 403, 403, 403, 200)),
    "GET /admin/channels":                       ((200, 200, 200, 200, 200), OWN_ONLY),
    "POST /admin/channels":                      ((403, 403, 201, 201, 201), OWN_ONLY),
    "GET /admin/channels/{channel}":             ((200, 200, 200, 200, 200), (404, 404, 404, 404, 404)),
    "PUT /admin/channels/{channel}":             ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "PATCH /admin/channels/{channel}":           ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "DELETE /admin/channels/{channel}":          ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "POST /admin/channels/{channel}/invalidate": ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "POST /admin/channels/{channel}/warm":       ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "POST /admin/channels/{channel}/cue":        ((403, 200, 200, 200, 200), (403, 404, 404, 404, 404)),
    "GET /admin/channels/{channel}/break":       ((200, 200, 200, 200, 200), (404, 404, 404, 404, 404)),
    "GET /admin/ad-pods":                        ((200, 200, 200, 200, 200), OWN_ONLY),
    "POST /admin/ad-pods":                       ((403, 403, 201, 201, 201), OWN_ONLY),
    "GET /admin/ad-pods/{pod}":                  ((200, 200, 200, 200, 200), (404, 404, 404, 404, 404)),
    "PUT /admin/ad-pods/{pod}":                  ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "PATCH /admin/ad-pods/{pod}":                ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "DELETE /admin/ad-pods/{pod}":               ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "GET /admin/slates":                         ((200, 200, 200, 200, 200), OWN_ONLY),
    "POST /admin/slates":                        ((403, 403, 201, 201, 201), OWN_ONLY),
    "GET /admin/slates/{slate}":                 ((200, 200, 200, 200, 200), (404, 404, 404, 404, 404)),
    "PUT /admin/slates/{slate}":                 ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "PATCH /admin/slates/{slate}":               ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "DELETE /admin/slates/{slate}":              ((403, 403, 200, 200, 200), (403, 403, 404, 404, 404)),
    "GET /admin/tokens":                         ((403, 403, 403, 200, 200), OWN_ONLY),
    "POST /admin/tokens":                        ((403, 403, 403, 201, 201), OWN_ONLY),
    "DELETE /admin/tokens/{token}":              ((403, 403, 403, 200, 200), (403, 403, 403, 404, 404)),
    "GET /admin/audit":                          ((403, 403, 403, 200, 200), OWN_ONLY),
}
# fmt: on

VARIANTS = [{"bitrate_bps": 800_000, "playlist_url": "http://ads.test/800.m3u8"}]


def _slug(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


class Org:
    """An organization with a token of every role and one object of each kind."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    async def setup(self) -> Org:
        org = await self.store.create_org(_slug("authz"), "Authz")
        self.id, self.slug = org.id, org.slug
        for role in ROLES:
            self.tokens[role] = (await self.store.create_token(org.id, role, role))[1]
        for param in ("channel", "pod", "slate", "token"):
            self.ids[param] = await self.fresh(param)
        return self

    async def fresh(self, param: str) -> str:
        """A new object of this kind (for a request that may delete it)."""
        store, org = self.store, self.id
        if param == "channel":
            body = {"slug": _slug("c"), "name": "C", "origin_url": "http://origin.test/m.m3u8"}
            return (await store.create_channel(org, ChannelIn.model_validate(body)))[0].id
        if param == "pod":
            body = {"slug": _slug("p"), "name": "P", "duration_seconds": 30, "variants": VARIANTS}
            return (await store.create_asset(t.ad_pods, org, AdPodIn.model_validate(body), AdPod)).id
        if param == "slate":
            body = {"slug": _slug("s"), "name": "S", "duration_seconds": 4, "variants": VARIANTS}
            return (await store.create_asset(t.slates, org, SlateIn.model_validate(body), Slate)).id
        if param == "token":
            return (await store.create_token(org, "viewer", "victim"))[0].id
        raise AssertionError(param)


def _body(method: str, path: str) -> dict[str, Any] | None:
    if method in ("PUT", "PATCH"):
        return {"name": "Renamed"}
    if method != "POST":
        return None
    return {
        "/admin/orgs": {"slug": _slug("o"), "name": "New"},
        "/admin/channels": {"slug": _slug("c"), "name": "C", "originUrl": "http://origin.test/m.m3u8"},
        "/admin/ad-pods": {"slug": _slug("p"), "name": "P", "durationSeconds": 30,
                           "variants": [{"bitrateBps": 1, "playlistUrl": "http://ads.test/1.m3u8"}]},
        "/admin/slates": {"slug": _slug("s"), "name": "S", "durationSeconds": 4,
                          "variants": [{"bitrateBps": 1, "playlistUrl": "http://ads.test/1.m3u8"}]},
        "/admin/tokens": {"role": "viewer"},
        "/admin/channels/{channel}/cue": {"action": "stop"},
    }.get(path)


async def test_every_route_role_and_organization(stack: Stack) -> None:
    assert set(MATRIX) == {f"{r.method} {r.path}" for r in ROUTES}, "every route has a row, and only routes do"
    store = stack.svc.store
    own, other = await Org(store).setup(), await Org(store).setup()
    # Objects the other organization made through the API (so its audit trail has them too) and
    # that no request below names: an own-only answer that shows one has leaked it.
    private = []
    for path in ("/admin/channels", "/admin/ad-pods", "/admin/slates", "/admin/tokens"):
        auth = {"Authorization": f"Bearer {other.tokens['admin']}"}
        resp = await stack.admin.post(path, json=_body("POST", path), headers=auth)
        assert resp.status == 201, await resp.text()
        created = await resp.json()
        private.append(next(v["id"] for v in created.values() if isinstance(v, dict)))
    wrong: list[str] = []
    for key, (own_row, other_row) in MATRIX.items():
        method, path = key.split(" ", 1)
        for i, role in enumerate(ROLES):
            for side, row in (("own", own_row), ("other", other_row)):
                target = own if side == "own" or row == OWN_ONLY else other
                url = path
                for param in ("channel", "pod", "slate", "token"):
                    if f"{{{param}}}" in url:
                        ref = await target.fresh(param) if method == "DELETE" else target.ids[param]
                        url = url.replace(f"{{{param}}}", ref)
                if "{org}" in url:
                    victim = target.slug
                    if method == "DELETE" and target is other:
                        victim = (await store.create_org(_slug("v"), "Victim")).slug
                    url = url.replace("{org}", victim)
                resp = await stack.admin.request(
                    method, url, json=_body(method, path), headers={"Authorization": f"Bearer {own.tokens[role]}"}
                )
                text = await resp.text()
                if row == OWN_ONLY:
                    expected = own_row[i]
                    if side == "other" and resp.status < 300 and any(v in text for v in private):
                        wrong.append(f"{key} as {role}: the answer shows the other organization's data")
                else:
                    assert isinstance(row, tuple)
                    expected = row[i]
                if resp.status != expected:
                    wrong.append(f"{key} as {role} on the {side} org: {resp.status}, expected {expected}: {text[:160]}")
    assert wrong == [], "\n".join(wrong)
