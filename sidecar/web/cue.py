"""Cue API: start and stop ad breaks through the channel's actor (the seed's ``/cue``).

``POST /admin/channels/{channel}/cue`` with ``{"action": "start", "duration": 30}`` (optional
``pod``, optional ``eventId`` as an idempotency key) or ``{"action": "stop"}``. The answer comes
only after the new state is durably written: a 2xx is never lost, whatever process dies next.

The colo of the instance that takes the cue is the process's ``SIDECAR_COLO``, or the
``X-Sidecar-Colo`` request header when ``SIDECAR_TRUST_COLO_HEADER`` is set (only behind a
proxy that sets or strips that header).
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from sidecar.actors.channel import ChannelActor, PersistError
from sidecar.actors.state import BreakActive, describe, stop_break
from sidecar.config.models import ApiModel
from sidecar.config.store import AuthContext, Invalid, NotFound
from sidecar.settings import COLO_RE, Settings
from sidecar.telemetry import catalogue as m
from sidecar.web.body import parse_body
from sidecar.web.keys import SERVICES
from sidecar.web.problem import Problem

COLO_HEADER = "X-Sidecar-Colo"


class CueIn(ApiModel):
    action: Literal["start", "stop"]
    duration: float | None = Field(default=None, description="Seconds; start only (default: the channel's)")
    pod: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None


def resolve_colo(request: web.Request, settings: Settings) -> str:
    if settings.trust_colo_header:
        header = request.headers.get(COLO_HEADER, "").strip().upper()
        if header:
            if not COLO_RE.match(header):
                raise Problem(400, "bad-header", f"{COLO_HEADER} must look like SJC (got {header[:40]!r})")
            return header
    return settings.colo


def _field_error(field: str, detail: str, code: str) -> Problem:
    return Problem(
        422,
        "validation",
        f"{field}: {detail}",
        errors=[{"field": field, "pointer": f"#/{field}", "detail": detail, "code": code}],
    )


async def channel_actor(request: web.Request, ctx: AuthContext) -> tuple[ChannelActor, Any]:
    svc = request.app[SERVICES]
    channel = await svc.store.get_channel(ctx.org_id, request.match_info["channel"])
    actor = await svc.actors.get(
        resolve_colo(request, svc.settings), ctx.org_id, ctx.org_slug, channel.id, channel.slug
    )
    return actor, channel


def _duration(body: CueIn, default: float, maximum: float) -> float:
    duration = body.duration if body.duration is not None else default
    if not math.isfinite(duration) or duration <= 0:
        m.cue_requests_total.labels("start", "rejected").inc()
        raise _field_error("duration", "must be a number of seconds greater than 0", "greater_than")
    if duration > maximum:
        m.cue_requests_total.labels("start", "rejected").inc()
        raise _field_error("duration", f"must be at most {maximum:g} seconds", "less_than_equal")
    return duration


async def _start(request: web.Request, ctx: AuthContext, actor: ChannelActor, channel: Any, body: CueIn) -> bool:
    """Anchor the break at the origin's live edge (media time), fill it, persist it."""
    svc = request.app[SERVICES]
    duration = _duration(body, float(channel.default_ad_duration_seconds), svc.settings.max_break_seconds)
    pod = None
    if body.pod is not None:
        try:
            pod = await svc.store.get_pod(ctx.org_id, body.pod)
        except NotFound:
            raise Invalid("pod", f"no ad pod {body.pod!r} in this organization") from None
    config = await svc.cache.get_by_id(channel.id)
    stitcher = svc.stitcher
    if config is None or stitcher is None:
        raise Problem(503, "not-ready", "channel config or stitcher unavailable; try again")
    # Where the break splices: the end of the origin's current window. If the origin cannot be
    # read now, the wall clock stands in (origin PDTs follow it closely).
    live_edge = await stitcher.live_edge(config) or time.time()
    start_pdt = live_edge + svc.settings.cue_lead_seconds
    event_id = body.event_id or f"manual-{secrets.token_hex(6)}"
    _, changed = await stitcher.create_break(
        config, actor, source="manual", event_id=event_id, start_pdt=start_pdt, duration=duration, pod=pod
    )
    return changed


async def post_cue(request: web.Request, ctx: AuthContext) -> web.Response:
    body = await parse_body(request, CueIn)
    actor, channel = await channel_actor(request, ctx)
    if channel.status == "archived":
        raise Problem(409, "conflict", "channel is archived")
    label = body.action
    try:
        if body.action == "stop":
            _, changed = await actor.mutate(lambda state, now: stop_break(state, now=now))
        else:
            changed = await _start(request, ctx, actor, channel, body)
    except BreakActive as exc:
        m.cue_requests_total.labels(label, "rejected").inc()
        raise Problem(
            409, "break-active", str(exc), current=exc.current.model_dump(mode="json", by_alias=True)
        ) from None
    except PersistError as exc:
        m.cue_requests_total.labels(label, "error").inc()
        raise Problem(503, "persist-failed", f"ad state was not saved (nothing changed): {exc}") from None
    m.cue_requests_total.labels(label, "ok" if changed else "noop").inc()
    stored = actor.stored
    payload = describe(stored.state, stored.version, stored.updated_at, time.time())
    payload.update(changed=changed, persisted=True, instance=actor.name)
    return web.json_response(payload, status=201 if (changed and label == "start") else 200)


async def get_break(request: web.Request, ctx: AuthContext) -> web.Response:
    actor, _ = await channel_actor(request, ctx)
    stored = actor.stored
    payload = describe(stored.state, stored.version, stored.updated_at, time.time())
    payload.update(instance=actor.name, instanceId=actor.instance_id)
    return web.json_response(payload)
