"""Admin API: organizations, channels, ad pods, slates, tokens, cache control, the audit trail.

Routes are declared once in ``ROUTES``; the aiohttp router, the OpenAPI document (bodies, query
parameters, replies, links), the audit trail's action names and the tests' sweeps (every write
invalidates, the authorization matrix, the schema fuzzer) are all built from that table.

Every write that changes what a channel's config holds runs, after its transaction commits,
``Invalidator.after_write``: the channel's keys (by slug and by id; old and new slug on a
rename) are tombstoned at the new version, L1s everywhere are told, the entry is optionally
re-warmed, and the response reports keys dropped and time taken under ``cache``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from sidecar.config import schema as t
from sidecar.config.audit import AuditEvent, AuditFilter
from sidecar.config.invalidation import InvalidationReport
from sidecar.config.models import (
    SLUG_PATTERN,
    AdPod,
    AdPodIn,
    AdPodPatch,
    ApiModel,
    Channel,
    ChannelIn,
    ChannelPatch,
    Org,
    OrgIn,
    OrgPatch,
    Slate,
    SlateIn,
    SlatePatch,
    Token,
    TokenIn,
    Tracking,
)
from sidecar.config.store import AuthContext, ChannelKeyRef
from sidecar.net.client import report
from sidecar.services import Services
from sidecar.web.audit import action_of, changed, note
from sidecar.web.auth import RANK
from sidecar.web.body import parse_body
from sidecar.web.cue import CueIn, get_break, post_cue
from sidecar.web.keys import SERVICES
from sidecar.web.problem import Problem, from_validation
from sidecar.web.query import Query

RouteHandler = Callable[[web.Request, AuthContext], Awaitable[web.Response]]

WARM = Query("warm", "boolean", "Re-read the changed channels into the cache (default: the service's setting)")


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
    query: tuple[Query, ...] = ()
    # The success body: property -> model (or [model] for a list, or a JSON schema); a name
    # ending in "?" may be absent.
    reply: Mapping[str, Any] | None = None
    # The answer names an object that the item routes with path parameter ``link[0]`` take:
    # OpenAPI links pass its id (JSON pointer ``link[1]`` into the body) to each of them.
    link: tuple[str, str] | None = None


def services(request: web.Request) -> Services:
    svc: Services = request.app[SERVICES]
    return svc


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


# --- tenant-supplied URLs ----------------------------------------------------------------------------
URL_FIELDS = frozenset({"origin_url", "vast_url", "ad_pod_base_url", "playlist_url"})


def tenant_urls(data: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(wire field name, URL) of every URL a channel, pod or slate body sets."""
    for name in sorted(data.model_fields_set):  # errors in a stable order
        value = getattr(data, name)
        wire = f"{prefix}{to_camel(name)}"
        is_url = name in URL_FIELDS or isinstance(data, Tracking)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            where = wire if index is None else f"{wire}[{index}]"
            if isinstance(item, BaseModel):
                yield from tenant_urls(item, f"{where}.")
            elif is_url and isinstance(item, str):
                yield where, item


def check_urls(request: web.Request, data: BaseModel) -> None:
    """403 ``url-denied`` naming every field whose URL's host is an address the policy denies
    (names are judged when fetched: what they resolve to can change)."""
    policy = services(request).url_policy
    errors = []
    for field, url in tenant_urls(data):
        denial = policy.literal_denial(url)
        if denial is not None:
            report(denial, "admin_write")
            detail = f"the URL policy does not allow {denial}"
            pointer = "#/" + field.replace(".", "/").replace("[", "/").replace("]", "")
            errors.append({"field": field, "pointer": pointer, "detail": detail, "code": "url_denied"})
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise Problem(403, "url-denied", f"{first['field']}: {first['detail']}{more}", errors=errors)


def merge_conflict(kind: str, exc: ValidationError) -> Problem:
    """A partial update whose fields are each valid but leave the object invalid (vastEnabled
    without a vastUrl): the request conflicts with the object's current state."""
    problem = from_validation(exc)
    return Problem(409, "conflict", f"the update would leave the {kind} invalid: {problem.detail}",
                   errors=problem.errors)


# --- own organization ----------------------------------------------------------------------------
async def get_own_org(request: web.Request, ctx: AuthContext) -> web.Response:
    org = await services(request).store.get_org(ctx.org_id)
    return reply(organization=org.api())


async def invalidate_own_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    note(request, object_id=ctx.org_id)
    refs = await svc.store.channel_refs_of_org(ctx.org_id)
    report_ = await svc.invalidator.invalidate(refs, scope="org")
    return reply(cache=report_, channels=len(refs))


# --- organizations (super-admin) -----------------------------------------------------------------
async def list_orgs(request: web.Request, ctx: AuthContext) -> web.Response:
    return reply(organizations=[o.api() for o in await services(request).store.list_orgs()])


async def create_org(request: web.Request, ctx: AuthContext) -> web.Response:
    data = await parse_body(request, OrgIn)
    note(request, fields=data.model_fields_set)
    org = await services(request).store.create_org(data.slug, data.name, data.status)
    note(request, object_id=org.id, target_org_id=org.id)
    return reply(201, organization=org.api())


async def get_org(request: web.Request, ctx: AuthContext) -> web.Response:
    org = await services(request).store.get_org(request.match_info["org"])
    return reply(organization=org.api())


async def update_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    changes, expected = changes_of(await parse_body(request, OrgPatch))
    before, after, refs = await svc.store.update_org(request.match_info["org"], changes, expected)
    note(request, object_id=after.id, target_org_id=after.id, fields=changed(before, after, changes))
    report_ = await svc.invalidator.after_write(refs, scope="org", warm=False)
    return reply(organization=after.api(), cache=report_)


async def delete_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    if request.match_info["org"] in (ctx.org_id, ctx.org_slug):
        raise Problem(409, "conflict", "a token cannot delete its own organization")
    org, refs = await svc.store.delete_org(request.match_info["org"])
    note(request, object_id=org.id, target_org_id=org.id)
    report_ = await svc.invalidator.after_write(refs, scope="org", exists=False)
    return reply(deleted=org.api(), cache=report_)


async def invalidate_org(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    org = await svc.store.get_org(request.match_info["org"])
    note(request, object_id=org.id, target_org_id=org.id)
    refs = await svc.store.channel_refs_of_org(org.id)
    report_ = await svc.invalidator.invalidate(refs, scope="org")
    return reply(cache=report_, channels=len(refs))


# --- channels --------------------------------------------------------------------------------------
def channel_ref(ctx: AuthContext, channel: Channel, version: int | None = None) -> ChannelKeyRef:
    return ChannelKeyRef(channel.id, ctx.org_slug, channel.slug, version or channel.version)


async def list_channels(request: web.Request, ctx: AuthContext) -> web.Response:
    return reply(channels=[c.api() for c in await services(request).store.list_channels(ctx.org_id)])


async def create_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    warm = WARM.get(request)  # a bad query changes nothing
    data = await parse_body(request, ChannelIn)
    note(request, fields=data.model_fields_set)
    check_urls(request, data)
    channel, ref = await svc.store.create_channel(ctx.org_id, data)
    note(request, object_id=channel.id)
    report_ = await svc.invalidator.after_write([ref], warm=warm)
    return reply(201, channel=channel.api(), cache=report_)


async def get_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    channel = await services(request).store.get_channel(ctx.org_id, request.match_info["channel"])
    return reply(channel=channel.api())


async def update_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    patch = await parse_body(request, ChannelPatch)
    check_urls(request, patch)
    changes, expected = changes_of(patch)
    warm = WARM.get(request)
    ref = request.match_info["channel"]
    if not changes:
        channel = await svc.store.get_channel(ctx.org_id, ref)
        note(request, object_id=channel.id, fields=[])
        if expected is not None and expected != channel.version:
            raise Problem(409, "conflict", f"channel is at version {channel.version}, not {expected}")
        return reply(channel=channel.api())
    try:
        before, after, refs = await svc.store.update_channel(ctx.org_id, ref, changes, expected)
    except ValidationError as exc:
        raise merge_conflict("channel", exc) from None
    note(request, object_id=after.id, fields=changed(before, after, changes))
    report_ = await svc.invalidator.after_write(refs, warm=warm)
    return reply(channel=after.api(), cache=report_)


async def delete_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    channel, ref = await svc.store.delete_channel(ctx.org_id, request.match_info["channel"])
    note(request, object_id=channel.id)
    report_ = await svc.invalidator.after_write([ref], exists=False)
    return reply(deleted=channel.api(), cache=report_)


async def invalidate_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    channel = await svc.store.get_channel(ctx.org_id, request.match_info["channel"])
    note(request, object_id=channel.id)
    report_ = await svc.invalidator.invalidate([channel_ref(ctx, channel)])
    return reply(cache=report_)


async def warm_channel(request: web.Request, ctx: AuthContext) -> web.Response:
    svc = services(request)
    channel = await svc.store.get_channel(ctx.org_id, request.match_info["channel"])
    note(request, object_id=channel.id)
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
        note(request, fields=data.model_fields_set)
        check_urls(request, data)
        item = await services(request).store.create_asset(kind.table, ctx.org_id, data, kind.model)
        note(request, object_id=getattr(item, "id"))  # noqa: B009 - generic over the model
        return reply_with({kind.one: item.api()}, 201)

    async def get(request: web.Request, ctx: AuthContext) -> web.Response:
        store = services(request).store
        ref = request.match_info[kind.param]
        item = await (store.get_pod(ctx.org_id, ref) if kind is PODS else store.get_slate(ctx.org_id, ref))
        return reply_with({kind.one: item.api()})

    async def update(request: web.Request, ctx: AuthContext) -> web.Response:
        svc = services(request)
        patch = await parse_body(request, kind.patch)
        check_urls(request, patch)
        changes, expected = changes_of(patch)
        warm = WARM.get(request)
        try:
            before, item, refs = await svc.store.update_asset(
                kind.table, ctx.org_id, request.match_info[kind.param], changes, kind.model, kind.create, expected
            )
        except ValidationError as exc:
            raise merge_conflict(kind.one, exc) from None
        note(request, object_id=getattr(item, "id"), fields=changed(before, item, changes))  # noqa: B009
        report_ = await svc.invalidator.after_write(refs, warm=warm)
        return reply_with({kind.one: item.api(), "affectedChannels": len(refs)}, cache=report_)

    async def delete(request: web.Request, ctx: AuthContext) -> web.Response:
        svc = services(request)
        warm = WARM.get(request)
        item, refs = await svc.store.delete_asset(kind.table, ctx.org_id, request.match_info[kind.param], kind.model)
        note(request, object_id=getattr(item, "id"))  # noqa: B009
        report_ = await svc.invalidator.after_write(refs, warm=warm)
        return reply(cache=report_, affectedChannels=len(refs), deleted=item.api())

    return {"list": list_, "create": create, "get": get, "update": update, "delete": delete}


# --- tokens ------------------------------------------------------------------------------------------
async def list_tokens(request: web.Request, ctx: AuthContext) -> web.Response:
    return reply(tokens=[tok.api() for tok in await services(request).store.list_tokens(ctx.org_id)])


async def create_token(request: web.Request, ctx: AuthContext) -> web.Response:
    data = await parse_body(request, TokenIn)
    note(request, fields=data.model_fields_set)
    if RANK[data.role] > RANK[ctx.role]:
        raise Problem(403, "forbidden", f"a {ctx.role!r} token cannot create a {data.role!r} token")
    token, plaintext = await services(request).store.create_token(
        ctx.org_id, data.role, data.name, data.expires_in_seconds
    )
    note(request, object_id=token.id)
    return reply(201, token=token.api(), secret=plaintext)


async def revoke_token(request: web.Request, ctx: AuthContext) -> web.Response:
    if request.match_info["token"] == ctx.token_id:  # as with its own organization: use another token
        raise Problem(409, "conflict", "a token cannot revoke itself")
    token = await services(request).store.revoke_token(ctx.org_id, request.match_info["token"])
    note(request, object_id=token.id)
    return reply(token=token.api())


# --- the audit trail ---------------------------------------------------------------------------------
def audit_query(actions: tuple[str, ...]) -> tuple[Query, ...]:
    return (
        Query("limit", "integer", "Records per page (default 50)", minimum=1, maximum=500),
        Query("before", "integer", "Cursor: only records with a smaller id (the previous page's nextCursor)",
              minimum=1, maximum=2**62),
        Query("action", "string", "Only this action", enum=actions),
        Query("tokenId", "string", "Only writes by this token", pattern=r"^tok_[0-9a-f]{1,32}$"),
        Query("objectId", "string", "Only writes to this object (its id, or the id or slug the path named)",
              pattern=SLUG_PATTERN),
        Query("result", "string", "Only successful (ok) or failed (error) writes", enum=("ok", "error")),
        Query("since", "number", "Only records at or after this Unix time"),
        Query("until", "number", "Only records before this Unix time"),
    )


async def list_audit(request: web.Request, ctx: AuthContext) -> web.Response:
    query = next(r.query for r in ROUTES if r.handler is list_audit)
    q = {p.name: p.get(request) for p in query}
    where = AuditFilter(q["action"], q["tokenId"], q["objectId"], q["result"], q["since"], q["until"])
    events, cursor = await services(request).store.audit.query(
        ctx.org_id, where, limit=q["limit"] or 50, before=q["before"]
    )
    return reply(events=[e.api() for e in events], nextCursor=cursor)


CACHE_REPORT: dict[str, Any] = {
    "type": "object",
    "description": "What the write did to the config cache",
    "required": ["scope", "keys", "keysDropped", "invalidationMs", "ok", "warmed", "error"],
    "properties": {
        "scope": {"type": "string", "enum": ["channel", "org"]},
        "keys": {"type": "array", "items": {"type": "string"}},
        "keysDropped": {"type": "integer", "minimum": 0},
        "invalidationMs": {"type": "number", "minimum": 0},
        "ok": {"type": "boolean"},
        "warmed": {"type": ["boolean", "null"]},
        "error": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}


def _routes() -> list[Route]:
    pods, slates = asset_handlers(PODS), asset_handlers(SLATES)
    org_link = ("org", "/organization/id")
    routes = [
        Route("GET", "/admin/org", get_own_org, "viewer", "The token's own organization", tag="organizations",
              reply={"organization": Org}),
        Route(
            "POST",
            "/admin/org/invalidate",
            invalidate_own_org,
            "editor",
            "Invalidate the cached config of every channel of the token's organization",
            tag="cache",
            reply={"cache": CACHE_REPORT, "channels": COUNT},
        ),
        Route("GET", "/admin/orgs", list_orgs, "super-admin", "List organizations", tag="organizations",
              reply={"organizations": [Org]}),
        Route(
            "POST", "/admin/orgs", create_org, "super-admin", "Create an organization", OrgIn, 201, tag="organizations",
            reply={"organization": Org}, link=org_link,
        ),
        Route("GET", "/admin/orgs/{org}", get_org, "super-admin", "Get an organization", tag="organizations",
              reply={"organization": Org}),
        Route(
            "PUT",
            "/admin/orgs/{org}",
            update_org,
            "super-admin",
            "Update an organization (partial)",
            OrgPatch,
            tag="organizations",
            reply={"organization": Org, "cache": CACHE_REPORT},
        ),
        Route(
            "DELETE",
            "/admin/orgs/{org}",
            delete_org,
            "super-admin",
            "Delete an organization and everything in it",
            tag="organizations",
            reply={"deleted": Org, "cache": CACHE_REPORT},
        ),
        Route(
            "POST",
            "/admin/orgs/{org}/invalidate",
            invalidate_org,
            "super-admin",
            "Invalidate the cached config of every channel of an organization",
            tag="cache",
            reply={"cache": CACHE_REPORT, "channels": COUNT},
        ),
        Route("GET", "/admin/channels", list_channels, "viewer", "List channels", reply={"channels": [Channel]}),
        Route("POST", "/admin/channels", create_channel, "editor", "Create a channel", ChannelIn, 201, query=(WARM,),
              reply={"channel": Channel, "cache": CACHE_REPORT}, link=("channel", "/channel/id")),
        Route("GET", "/admin/channels/{channel}", get_channel, "viewer", "Get a channel by id or slug",
              reply={"channel": Channel}),
        Route(
            "PUT",
            "/admin/channels/{channel}",
            update_channel,
            "editor",
            "Update a channel (partial, as in the seed); invalidates its cache keys",
            ChannelPatch,
            query=(WARM,),
            reply={"channel": Channel, "cache?": CACHE_REPORT},
        ),
        Route("DELETE", "/admin/channels/{channel}", delete_channel, "editor", "Delete a channel",
              reply={"deleted": Channel, "cache": CACHE_REPORT}),
        Route(
            "POST",
            "/admin/channels/{channel}/invalidate",
            invalidate_channel,
            "editor",
            "Invalidate a channel's cached config (by slug and by id)",
            tag="cache",
            reply={"cache": CACHE_REPORT},
        ),
        Route(
            "POST",
            "/admin/channels/{channel}/warm",
            warm_channel,
            "editor",
            "Re-read a channel into the cache (version-checked)",
            tag="cache",
            reply={"warmed": {"type": "boolean", "const": True}, "version": COUNT},
        ),
        Route(
            "POST",
            "/admin/channels/{channel}/cue",
            post_cue,
            "operator",
            "Start or stop an ad break; answered only once the state is durable (201: a break started, "
            "200: nothing to change or stopped)",
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
        Route("GET", "/admin/tokens", list_tokens, "admin", "List API tokens", tag="tokens", reply={"tokens": [Token]}),
        Route(
            "POST",
            "/admin/tokens",
            create_token,
            "admin",
            "Create an API token (secret shown once)",
            TokenIn,
            201,
            tag="tokens",
            reply={"token": Token, "secret": {"type": "string", "pattern": r"^sct_tok_[0-9a-f]+_[A-Za-z0-9_-]+$"}},
            link=("token", "/token/id"),
        ),
        Route("DELETE", "/admin/tokens/{token}", revoke_token, "admin", "Revoke an API token", tag="tokens",
              reply={"token": Token}),
    ]
    for kind, handlers in ((PODS, pods), (SLATES, slates)):
        base = "/admin/ad-pods" if kind is PODS else "/admin/slates"
        item = f"{base}/{{{kind.param}}}"
        label = "ad pod" if kind is PODS else "slate"
        tag = "ad-pods" if kind is PODS else "slates"
        routes += [
            Route("GET", base, handlers["list"], "viewer", f"List {label}s", tag=tag, reply={kind.many: [kind.model]}),
            Route("POST", base, handlers["create"], "editor", f"Create a {label}", kind.create, 201, tag=tag,
                  reply={kind.one: kind.model}, link=(kind.param, f"/{kind.one}/id")),
            Route("GET", item, handlers["get"], "viewer", f"Get a {label} by id or slug", tag=tag,
                  reply={kind.one: kind.model}),
            Route(
                "PUT",
                item,
                handlers["update"],
                "editor",
                f"Update a {label} (partial); channels embedding it are invalidated",
                kind.patch,
                tag=tag,
                query=(WARM,),
                reply={kind.one: kind.model, "affectedChannels": COUNT, "cache": CACHE_REPORT},
            ),
            Route(
                "DELETE",
                item,
                handlers["delete"],
                "editor",
                f"Delete a {label}; channels embedding it are invalidated",
                tag=tag,
                query=(WARM,),
                reply={"deleted": kind.model, "affectedChannels": COUNT, "cache": CACHE_REPORT},
            ),
        ]
    # PATCH is accepted wherever PUT is: both are partial updates.
    routes += [
        Route("PATCH", r.path, r.handler, r.role, r.summary, r.body, r.status, r.tag, r.query, r.reply, r.link)
        for r in list(routes)
        if r.method == "PUT"
    ]
    # The audit trail records the writes above; its action filter takes their actions.
    actions = tuple(sorted({action_of(r.method, r.path)[1] for r in routes if r.method != "GET"}))
    routes.append(
        Route(
            "GET",
            "/admin/audit",
            list_audit,
            "admin",
            "The audit trail of admin writes by or on the token's organization (newest first, paginated)",
            tag="audit",
            query=audit_query(actions),
            reply={"events": [AuditEvent], "nextCursor": {"type": ["integer", "null"], "minimum": 1}},
        )
    )
    return routes


ROUTES: list[Route] = _routes()
