"""Admin API: organizations, channels, ad pods, slates, tokens, cache control.

Routes are declared once in ``ROUTES``; the aiohttp router, the OpenAPI document and the tests'
"every write invalidates" sweep are all built from that table.

Every write that changes what a channel's config holds runs, after its transaction commits,
``Invalidator.after_write``: the channel's keys (by slug and by id; old and new slug on a
rename) are tombstoned at the new version, L1s everywhere are told, the entry is optionally
re-warmed, and the response reports keys dropped and time taken under ``cache``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from sidecar.config import schema as t
from sidecar.config.invalidation import InvalidationReport
from sidecar.config.models import (
    AdPod,
    AdPodIn,
    AdPodPatch,
    ApiModel,
    Channel,
    ChannelIn,
    ChannelPatch,
    OrgIn,
    OrgPatch,
    Slate,
    SlateIn,
    SlatePatch,
    TokenIn,
)
from sidecar.config.store import AuthContext, ChannelKeyRef
from sidecar.services import Services
from sidecar.web.auth import RANK
from sidecar.web.body import parse_body
from sidecar.web.cue import CueIn, get_break, post_cue
from sidecar.web.keys import SERVICES
from sidecar.web.problem import Problem

RouteHandler = Callable[[web.Request, AuthContext], Awaitable[web.Response]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: RouteHandler
    role: str
    summary: str
    body: type[BaseModel] | None = None
    status: int = 200
    tag: str = "channels"
    warm: bool = False  # accepts ?warm=true|false


def services(request: web.Request) -> Services:
    svc: Services = request.app[SERVICES]
    return svc


def warm_param(request: web.Request) -> bool | None:
    value = request.query.get("warm")
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise Problem(
        400,
        "bad-query",
        "warm must be true or false",
        errors=[{"field": "warm", "pointer": "?warm", "detail": "must be true or false", "code": "bool_parsing"}],
    )


def reply(status: int = 200, cache: InvalidationReport | None = None, **payload: Any) -> web.Response:
    return reply_with(payload, status, cache)


def reply_with(payload: dict[str, Any], status: int = 200, cache: InvalidationReport | None = None) -> web.Response:
    body = dict(payload)
    if cache is not None:
        body["cache"] = cache.api()
    return web.json_response(body, status=status)


def changes_of(patch: BaseModel) -> tuple[dict[str, Any], int | None]:
    data = patch.model_dump(exclude_unset=True)
    expected = data.pop("version", None)
    return data, expected


# --- own organization ----------------------------------------------------------------------------
async def get_own_org(request: web.Request, ctx: AuthContext) -> web.Response:
    org = await services(request).store.get_org(ctx.org_id)
    return reply(organization=org.api())


async def invalidate_own_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    refs = await svc.store.channel_refs_of_org(ctx.org_id)
    report = await svc.invalidator.invalidate(refs, scope="org")
    return reply(cache=report, channels=len(refs))


# --- organizations (super-admin) -----------------------------------------------------------------
async def list_orgs(request: web.Request, ctx: AuthContext) -> web.Response:
    return reply(organizations=[o.api() for o in await services(request).store.list_orgs()])


async def create_org(request: web.Request, ctx: AuthContext) -> web.Response:
    data = await parse_body(request, OrgIn)
    org = await services(request).store.create_org(data.slug, data.name, data.status)
    return reply(201, organization=org.api())


async def get_org(request: web.Request, ctx: AuthContext) -> web.Response:
    org = await services(request).store.get_org(request.match_info["org"])
    return reply(organization=org.api())


async def update_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    changes, expected = changes_of(await parse_body(request, OrgPatch))
    _, after, refs = await svc.store.update_org(request.match_info["org"], changes, expected)
    report = await svc.invalidator.after_write(refs, scope="org", warm=False)
    return reply(organization=after.api(), cache=report)


async def delete_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    if request.match_info["org"] in (ctx.org_id, ctx.org_slug):
        raise Problem(409, "conflict", "a token cannot delete its own organization")
    org, refs = await svc.store.delete_org(request.match_info["org"])
    report = await svc.invalidator.after_write(refs, scope="org", exists=False)
    return reply(deleted=org.api(), cache=report)


async def invalidate_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    org = await svc.store.get_org(request.match_info["org"])
    refs = await svc.store.channel_refs_of_org(org.id)
    report = await svc.invalidator.invalidate(refs, scope="org")
    return reply(cache=report, channels=len(refs))


# --- channels --------------------------------------------------------------------------------------
def channel_ref(ctx: AuthContext, channel: Channel, version: int | None = None) -> ChannelKeyRef:
    return ChannelKeyRef(channel.id, ctx.org_slug, channel.slug, version or channel.version)


async def list_channels(request: web.Request, ctx: AuthContext) -> web.Response:
    return reply(channels=[c.api() for c in await services(request).store.list_channels(ctx.org_id)])


async def create_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    data = await parse_body(request, ChannelIn)
    channel, ref = await svc.store.create_channel(ctx.org_id, data)
    report = await svc.invalidator.after_write([ref], warm=warm_param(request))
    return reply(201, channel=channel.api(), cache=report)


async def get_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    channel = await services(request).store.get_channel(ctx.org_id, request.match_info["channel"])
    return reply(channel=channel.api())


async def update_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    changes, expected = changes_of(await parse_body(request, ChannelPatch))
    ref = request.match_info["channel"]
    if not changes:
        channel = await svc.store.get_channel(ctx.org_id, ref)
        if expected is not None and expected != channel.version:
            raise Problem(409, "conflict", f"channel is at version {channel.version}, not {expected}")
        return reply(channel=channel.api())
    _, after, refs = await svc.store.update_channel(ctx.org_id, ref, changes, expected)
    report = await svc.invalidator.after_write(refs, warm=warm_param(request))
    return reply(channel=after.api(), cache=report)


async def delete_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    channel, ref = await svc.store.delete_channel(ctx.org_id, request.match_info["channel"])
    report = await svc.invalidator.after_write([ref], exists=False)
    return reply(deleted=channel.api(), cache=report)


async def invalidate_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    channel = await svc.store.get_channel(ctx.org_id, request.match_info["channel"])
    report = await svc.invalidator.invalidate([channel_ref(ctx, channel)])
    return reply(cache=report)


async def warm_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    channel = await svc.store.get_channel(ctx.org_id, request.match_info["channel"])
    ok = await svc.invalidator.warm(channel_ref(ctx, channel))
    if not ok:
        raise Problem(503, "warm-failed", "the cache could not be warmed; reads fall back to the store")
    return reply(warmed=True, version=channel.version)


# --- ad pods and slates: one implementation, two tables ------------------------------------------
@dataclass(frozen=True)
class AssetKind:
    table: Any
    model: type[ApiModel]
    create: type[ApiModel]
    patch: type[BaseModel]
    one: str
    many: str
    param: str


PODS = AssetKind(t.ad_pods, AdPod, AdPodIn, AdPodPatch, "adPod", "adPods", "pod")
SLATES = AssetKind(t.slates, Slate, SlateIn, SlatePatch, "slate", "slates", "slate")


def asset_handlers(kind: AssetKind) -> dict[str, RouteHandler]:
    async def list_(request: web.Request, ctx: AuthContext) -> web.Response:
        store = services(request).store
        items = await (store.list_pods(ctx.org_id) if kind is PODS else store.list_slates(ctx.org_id))
        return reply_with({kind.many: [i.api() for i in items]})

    async def create(request: web.Request, ctx: AuthContext) -> web.Response:
        data = await parse_body(request, kind.create)
        item = await services(request).store.create_asset(kind.table, ctx.org_id, data, kind.model)
        return reply_with({kind.one: item.api()}, 201)

    async def get(request: web.Request, ctx: AuthContext) -> web.Response:
        store = services(request).store
        ref = request.match_info[kind.param]
        item = await (store.get_pod(ctx.org_id, ref) if kind is PODS else store.get_slate(ctx.org_id, ref))
        return reply_with({kind.one: item.api()})

    async def update(request: web.Request, ctx: AuthContext) -> web.Response:
        svc = services(request)
        changes, expected = changes_of(await parse_body(request, kind.patch))
        item, refs = await svc.store.update_asset(
            kind.table, ctx.org_id, request.match_info[kind.param], changes, kind.model, kind.create, expected
        )
        report = await svc.invalidator.after_write(refs, warm=warm_param(request))
        return reply_with({kind.one: item.api(), "affectedChannels": len(refs)}, cache=report)

    async def delete(request: web.Request, ctx: AuthContext) -> web.Response:
        svc = services(request)
        item, refs = await svc.store.delete_asset(kind.table, ctx.org_id, request.match_info[kind.param], kind.model)
        report = await svc.invalidator.after_write(refs, warm=warm_param(request))
        return reply(cache=report, affectedChannels=len(refs), deleted=item.api())

    return {"list": list_, "create": create, "get": get, "update": update, "delete": delete}


# --- tokens ------------------------------------------------------------------------------------------
async def list_tokens(request: web.Request, ctx: AuthContext) -> web.Response:
    return reply(tokens=[tok.api() for tok in await services(request).store.list_tokens(ctx.org_id)])


async def create_token(request: web.Request, ctx: AuthContext) -> web.Response:
    data = await parse_body(request, TokenIn)
    if RANK[data.role] > RANK[ctx.role]:
        raise Problem(403, "forbidden", f"a {ctx.role!r} token cannot create a {data.role!r} token")
    token, plaintext = await services(request).store.create_token(
        ctx.org_id, data.role, data.name, data.expires_in_seconds
    )
    return reply(201, token=token.api(), secret=plaintext)


async def revoke_token(request: web.Request, ctx: AuthContext) -> web.Response:
    token = await services(request).store.revoke_token(ctx.org_id, request.match_info["token"])
    return reply(token=token.api())


def _routes() -> list[Route]:
    pods, slates = asset_handlers(PODS), asset_handlers(SLATES)
    routes = [
        Route("GET", "/admin/org", get_own_org, "viewer", "The token's own organization", tag="organizations"),
        Route(
            "POST",
            "/admin/org/invalidate",
            invalidate_own_org,
            "editor",
            "Invalidate the cached config of every channel of the token's organization",
            tag="cache",
        ),
        Route("GET", "/admin/orgs", list_orgs, "super-admin", "List organizations", tag="organizations"),
        Route(
            "POST", "/admin/orgs", create_org, "super-admin", "Create an organization", OrgIn, 201, tag="organizations"
        ),
        Route("GET", "/admin/orgs/{org}", get_org, "super-admin", "Get an organization", tag="organizations"),
        Route(
            "PUT",
            "/admin/orgs/{org}",
            update_org,
            "super-admin",
            "Update an organization (partial)",
            OrgPatch,
            tag="organizations",
        ),
        Route(
            "DELETE",
            "/admin/orgs/{org}",
            delete_org,
            "super-admin",
            "Delete an organization and everything in it",
            tag="organizations",
        ),
        Route(
            "POST",
            "/admin/orgs/{org}/invalidate",
            invalidate_org,
            "super-admin",
            "Invalidate the cached config of every channel of an organization",
            tag="cache",
        ),
        Route("GET", "/admin/channels", list_channels, "viewer", "List channels"),
        Route("POST", "/admin/channels", create_channel, "editor", "Create a channel", ChannelIn, 201, warm=True),
        Route("GET", "/admin/channels/{channel}", get_channel, "viewer", "Get a channel by id or slug"),
        Route(
            "PUT",
            "/admin/channels/{channel}",
            update_channel,
            "editor",
            "Update a channel (partial, as in the seed); invalidates its cache keys",
            ChannelPatch,
            warm=True,
        ),
        Route("DELETE", "/admin/channels/{channel}", delete_channel, "editor", "Delete a channel"),
        Route(
            "POST",
            "/admin/channels/{channel}/invalidate",
            invalidate_channel,
            "editor",
            "Invalidate a channel's cached config (by slug and by id)",
            tag="cache",
        ),
        Route(
            "POST",
            "/admin/channels/{channel}/warm",
            warm_channel,
            "editor",
            "Re-read a channel into the cache (version-checked)",
            tag="cache",
        ),
        Route(
            "POST",
            "/admin/channels/{channel}/cue",
            post_cue,
            "operator",
            "Start or stop an ad break; answered only once the state is durable",
            CueIn,
            tag="cue",
        ),
        Route(
            "GET",
            "/admin/channels/{channel}/break",
            get_break,
            "viewer",
            "The channel's current ad-break state",
            tag="cue",
        ),
        Route("GET", "/admin/tokens", list_tokens, "admin", "List API tokens", tag="tokens"),
        Route(
            "POST",
            "/admin/tokens",
            create_token,
            "admin",
            "Create an API token (secret shown once)",
            TokenIn,
            201,
            tag="tokens",
        ),
        Route("DELETE", "/admin/tokens/{token}", revoke_token, "admin", "Revoke an API token", tag="tokens"),
    ]
    for kind, handlers in ((PODS, pods), (SLATES, slates)):
        base = "/admin/ad-pods" if kind is PODS else "/admin/slates"
        item = f"{base}/{{{kind.param}}}"
        label = "ad pod" if kind is PODS else "slate"
        tag = "ad-pods" if kind is PODS else "slates"
        routes += [
            Route("GET", base, handlers["list"], "viewer", f"List {label}s", tag=tag),
            Route("POST", base, handlers["create"], "editor", f"Create a {label}", kind.create, 201, tag=tag),
            Route("GET", item, handlers["get"], "viewer", f"Get a {label} by id or slug", tag=tag),
            Route(
                "PUT",
                item,
                handlers["update"],
                "editor",
                f"Update a {label} (partial); channels embedding it are invalidated",
                kind.patch,
                tag=tag,
                warm=True,
            ),
            Route(
                "DELETE",
                item,
                handlers["delete"],
                "editor",
                f"Delete a {label}; channels embedding it are invalidated",
                tag=tag,
                warm=True,
            ),
        ]
    # PATCH is accepted wherever PUT is: both are partial updates.
    routes += [
        Route("PATCH", r.path, r.handler, r.role, r.summary, r.body, r.status, r.tag, r.warm)
        for r in list(routes)
        if r.method == "PUT"
    ]
    return routes


ROUTES: list[Route] = _routes()
