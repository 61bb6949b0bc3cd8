"""Viewer-facing manifest endpoints.

Foundation stage: the master playlist is fetched from the channel's origin (looked up through
the config cache) and returned with ``X-Config-Version``, the channel config version it was
served under. Stitching arrives with the HLS engine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from sidecar.config.models import ChannelConfig
from sidecar.services import Services
from sidecar.web.cue import resolve_colo
from sidecar.web.keys import SERVICES
from sidecar.web.problem import Problem

MAX_PLAYLIST_BYTES = 2 * 1024 * 1024


ORIGIN_SESSION = web.AppKey("origin_session", aiohttp.ClientSession)


async def _origin_session(app: web.Application) -> AsyncIterator[None]:
    app[ORIGIN_SESSION] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    yield
    await app[ORIGIN_SESSION].close()


async def channel_config(request: web.Request) -> ChannelConfig:
    svc: Services = request.app[SERVICES]
    org, channel = request.match_info["org"], request.match_info["channel"]
    try:
        config = await svc.cache.get(org, channel)
    except Exception:
        raise Problem(503, "config-unavailable", "channel config could not be read") from None
    if config is None or config.status == "archived" or config.org_status != "active":
        raise Problem(404, "not-found", f"no channel {org}/{channel}")
    return config


async def master(request: web.Request) -> web.Response:
    config = await channel_config(request)
    svc = request.app[SERVICES]
    actor = await svc.actors.get(
        resolve_colo(request, svc.settings), config.org_id, config.org_slug, config.id, config.slug
    )
    actor.touch()
    session = request.app[ORIGIN_SESSION]
    try:
        async with session.get(config.origin_url) as resp:
            if resp.status >= 400:
                raise Problem(502, "origin-error", f"origin answered HTTP {resp.status}")
            body = await resp.content.read(MAX_PLAYLIST_BYTES + 1)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Problem(502, "origin-unreachable", f"origin fetch failed: {type(exc).__name__}") from None
    if len(body) > MAX_PLAYLIST_BYTES:
        raise Problem(502, "origin-oversized", "origin playlist exceeds the size limit")
    return web.Response(
        body=body,
        content_type="application/vnd.apple.mpegurl",
        headers={
            "X-Config-Version": str(config.version),
            "Cache-Control": f"max-age={config.manifest_cache_max_age_seconds}",
        },
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/{org}/{channel}/master.m3u8", master)
    app.cleanup_ctx.append(_origin_session)
