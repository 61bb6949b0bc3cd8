"""Viewer-facing endpoints: master and variant playlists, SGAI asset lists.

* ``GET /{org}/{channel}/master.m3u8``: the origin's master with variant URIs through us (and
  ``?mode=`` pinned for ``auto`` channels, so a session never mixes SSAI and SGAI).
* ``GET /{org}/{channel}/{variant}.m3u8``: the variant with breaks stitched in (SSAI) or
  announced as HLS Interstitials (SGAI); unchanged when no break is near.
* ``GET /{org}/{channel}/assets.json?break=<id>``: the interstitial's asset list.
* ``GET /{org}/{channel}/ad/{break}/{index}.m3u8``: a creative's multivariant playlist.
* ``GET /{org}/{channel}/ad/{break}/{index}/{bandwidth}.m3u8``: the VOD playlist of a slate
  (looped to fill the break) or of a pod cut to fit it: exactly what the asset list says it plays.

Every response carries ``X-Config-Version`` (the channel config version it was served under)
and ``Cache-Control`` from the channel's manifest cache setting. Origin trouble is a 502/504
problem naming the cause, never a half-rewritten playlist. Every response, problems included,
carries ``Access-Control-Allow-Origin: *``: players run on pages of other origins.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from multidict import CIMultiDict
from opentelemetry.trace import Span

from sidecar.actors.channel import ChannelActor, PersistError
from sidecar.config.models import ChannelConfig
from sidecar.services import Services
from sidecar.stitch.engine import NotFoundError, Stitcher
from sidecar.stitch.mode import MODES, choose_mode
from sidecar.stitch.origin import OriginError
from sidecar.telemetry import catalogue as m
from sidecar.telemetry import hot, tracing
from sidecar.web.cue import resolve_colo
from sidecar.web.keys import SERVICES
from sidecar.web.problem import Problem

log = logging.getLogger("sidecar.web.manifest")
HLS = "application/vnd.apple.mpegurl"
ORIGIN_STATUS = {"timeout": 504}


async def channel_config(request: web.Request) -> ChannelConfig:
    svc = request.app[SERVICES]
    org, channel = request.match_info["org"], request.match_info["channel"]
    try:
        config = await svc.cache.get(org, channel)
    except Exception:
        raise Problem(503, "config-unavailable", "channel config could not be read") from None
    if config is None or config.status == "archived" or config.org_status != "active":
        raise Problem(404, "not-found", f"no channel {org}/{channel}")
    return config


def _stitcher(request: web.Request) -> Stitcher:
    stitcher = request.app[SERVICES].stitcher
    if stitcher is None:
        raise Problem(503, "not-ready", "the service is starting")
    return stitcher


async def _actor(request: web.Request, config: ChannelConfig) -> ChannelActor:
    svc = request.app[SERVICES]
    with tracing.span("actor.get"):
        actor = await svc.actors.get(
            resolve_colo(request, svc.settings), config.org_id, config.org_slug, config.id, config.slug
        )
    actor.touch()
    return actor


def _origin_problem(exc: OriginError, config: ChannelConfig) -> Problem:
    m.origin_errors_total.labels(config.org_slug, config.slug, exc.reason).inc()
    return Problem(
        ORIGIN_STATUS.get(exc.reason, 502), f"origin-{exc.reason.replace('_', '-')}", exc.detail, cause=exc.reason
    )


_HEADERS: dict[tuple[str, int, str], CIMultiDict[str]] = {}


def _headers(config: ChannelConfig, mode: str) -> CIMultiDict[str]:
    """Response headers per (channel, config version, mode): built once, not per request."""
    key = (config.id, config.version, mode)
    found = _HEADERS.get(key)
    if found is None:
        if len(_HEADERS) > 10_000:
            _HEADERS.clear()
        found = _HEADERS[key] = CIMultiDict(
            {
                "Content-Type": HLS,
                "X-Config-Version": str(config.version),
                "X-Ad-Mode": mode,
                "Cache-Control": f"max-age={config.manifest_cache_max_age_seconds}",
                # Browser players on any page may read playlists (plain GETs: no preflight needed).
                "Access-Control-Allow-Origin": "*",
            }
        )
    return found


def _playlist(body: str | bytes, config: ChannelConfig, mode: str) -> web.Response:
    return web.Response(body=body.encode() if isinstance(body, str) else body, headers=_headers(config, mode))


Handler = Callable[[web.Request, ChannelConfig], Awaitable[tuple[web.StreamResponse, str]]]


def _measured(kind: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Config lookup, error mapping and the manifest metrics, for every viewer endpoint."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        with tracing.server_span(f"GET {kind}", request.headers) as span:
            try:
                return await _serve(request, span)
            except Problem as problem:
                return _cors(problem.response(request.path))
            except Exception:
                log.exception("unhandled error", extra={"event": "unhandled_error", "path": request.path})
                return _cors(Problem(500, "internal", "internal error; see the service log").response(request.path))

    async def _serve(request: web.Request, span: Span | None) -> web.StreamResponse:
        started = time.perf_counter()
        org, channel, mode, status = m.NO_CHANNEL, m.NO_CHANNEL, "none", 500
        try:
            with tracing.span("config.lookup"):
                config = await channel_config(request)
            org, channel = config.org_slug, config.slug
            if span is not None and span.is_recording():
                span.set_attributes({"sidecar.org": org, "sidecar.channel": channel, "sidecar.kind": kind})
            try:
                response, mode = await handler(request, config)
            except OriginError as exc:
                raise _origin_problem(exc, config) from None
            except NotFoundError as exc:
                raise Problem(404, "not-found", str(exc)) from None
            except PersistError as exc:
                raise Problem(503, "persist-failed", f"break state could not be saved: {exc}") from None
            status = response.status
            return response
        except Problem as problem:
            status = problem.status
            raise
        finally:
            m.child(m.manifest_requests_total, org, channel, kind, mode, str(status)).inc()
            m.child(m.manifest_request_seconds, kind).observe(time.perf_counter() - started, tracing.exemplar())
            if span is not None and span.is_recording():
                span.set_attributes({"http.response.status_code": status, "sidecar.mode": mode})

    return wrapped


async def master(request: web.Request, config: ChannelConfig) -> tuple[web.StreamResponse, str]:
    await _actor(request, config)
    mode = choose_mode(config.mode, request.query, request.headers)
    pinned = mode if config.mode == "auto" else None
    text = await _stitcher(request).master(config, pinned)
    return _playlist(text, config, mode), mode


async def media(request: web.Request, config: ChannelConfig) -> tuple[web.StreamResponse, str]:
    actor = await _actor(request, config)
    mode = choose_mode(config.mode, request.query, request.headers)
    text, used = await _stitcher(request).media(config, actor, request.match_info["variant"], mode)
    return _playlist(text, config, used), used


async def assets(request: web.Request, config: ChannelConfig) -> tuple[web.StreamResponse, str]:
    break_id = request.query.get("break", "")
    if not break_id:
        raise Problem(
            400,
            "bad-query",
            "break: the break id is required",
            errors=[{"field": "break", "pointer": "?break", "detail": "required", "code": "missing"}],
        )
    actor = await _actor(request, config)
    base = f"{public_base(request)}/{config.org_slug}/{config.slug}"
    # One player session: hls.js and AVFoundation send these; else the client as best we can tell.
    session = (
        request.query.get("_HLS_primary_id")
        or request.headers.get("X-Playback-Session-Id")
        or hashlib.blake2b(
            f"{request.remote}|{request.headers.get('User-Agent', '')}".encode(), digest_size=8
        ).hexdigest()
    )[:64]
    body = await _stitcher(request).asset_list(config, actor, break_id, base, session)
    return web.json_response(
        body,
        headers={
            "Cache-Control": "max-age=60",
            "X-Config-Version": str(config.version),
            "Access-Control-Allow-Origin": "*",
        },
    ), "sgai"


def public_base(request: web.Request) -> str:
    """Where viewers reach this service: ``public_url`` when configured, else the host the request
    came to, scheme-relative (``//host:port``) so a player keeps its own scheme behind a proxy that
    terminates TLS. Players resolve an asset list's URIs against their page, not the list (hls.js
    does), so the URIs must carry the host."""
    configured = request.app[SERVICES].settings.public_url
    return configured if configured else f"//{request.host}"


async def ad_asset(request: web.Request, config: ChannelConfig) -> tuple[web.StreamResponse, str]:
    try:
        index = int(request.match_info["index"])
    except ValueError:
        raise Problem(404, "not-found", "no such asset") from None
    actor = await _actor(request, config)
    text = _stitcher(request).asset_master(actor, request.match_info["break"], index)
    return _playlist(text, config, "sgai"), "sgai"


async def ad_asset_media(request: web.Request, config: ChannelConfig) -> tuple[web.StreamResponse, str]:
    """A slate (looped) or cut-pod asset's VOD media playlist in one bandwidth."""
    try:
        index, bandwidth = int(request.match_info["index"]), int(request.match_info["bandwidth"])
    except ValueError:
        raise Problem(404, "not-found", "no such asset playlist") from None
    actor = await _actor(request, config)
    text = _stitcher(request).asset_media(actor, request.match_info["break"], index, bandwidth)
    return _playlist(text, config, "sgai"), "sgai"


def _cors(response: web.Response) -> web.Response:
    """Errors too are readable by a player on any page: without the header a browser hands the
    player status 0 instead of the problem (a 502 looks like a network failure)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def not_found(request: web.Request) -> web.Response:
    return _cors(Problem(404, "not-found", f"no such resource: {request.path}").response(request.path))


def _mode(config: ChannelConfig, request: web.Request) -> str:
    """``choose_mode`` without parsing the query string in the common case (``?mode=ssai``, the
    form our master pins on every variant URI)."""
    query = request.query_string
    if query.startswith("mode=") and "&" not in query and query[5:] in MODES and config.mode == "auto":
        return query[5:]
    return choose_mode(config.mode, request.query, request.headers)


def _fast_media(
    slow: Callable[[web.Request], Awaitable[web.StreamResponse]], svc: Services
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The variant playlist's fast path: every player reloads it every target duration.

    When the config is a trusted L1 hit, the channel's actor is live and the stitcher holds bytes
    rendered from the current origin fetch and break state, answer without a single await. The
    same metrics and accounting as the full path; anything else (a miss, tracing on, an error)
    takes the full path, which is the reference behaviour.
    """

    settings = svc.settings
    counters: dict[tuple[str, str, str], hot.HotCounter] = {}
    latency = hot.histogram(m.manifest_request_seconds, "media")

    async def handler(request: web.Request) -> web.StreamResponse:
        if tracing.enabled and tracing.wants(request.headers):
            return await slow(request)
        try:
            response = fast(request)
        except Exception:  # never a bare 500: the full path answers (and reports) instead
            log.exception("fast path failed", extra={"event": "fast_path_error", "path": request.path})
            response = None
        return response if response is not None else await slow(request)

    def fast(request: web.Request) -> web.Response | None:
        started = time.perf_counter()
        info = request.match_info
        config = svc.cache.peek(info["org"], info["channel"])
        stitcher = svc.stitcher
        if config is None or stitcher is None or config.status == "archived" or config.org_status != "active":
            return None
        colo = resolve_colo(request, settings) if settings.trust_colo_header else settings.colo
        actor = svc.actors.peek(colo, config.org_slug, config.id, config.slug)
        if actor is None:
            return None
        hit = stitcher.peek(config, actor, info["variant"], _mode(config, request))
        if hit is None:
            return None
        body, mode = hit
        actor.touch()
        response = _playlist(body, config, mode)
        # Keyed by the labels themselves: a renamed channel counts under its new name at once.
        key = (config.org_slug, config.slug, mode)
        counted = counters.get(key)
        if counted is None:
            counted = counters[key] = hot.counter(
                m.manifest_requests_total, config.org_slug, config.slug, "media", mode, "200"
            )
        counted.inc()
        svc.cache.count_hit(config)  # answered: the request's one config-cache count (peek counts none)
        latency.observe(time.perf_counter() - started)
        return response

    return handler


def setup(app: web.Application) -> None:
    # The variant route is the hot one (players reload it every target duration): match it first.
    app.router.add_get(
        "/{org}/{channel}/{variant:(?!master\\.m3u8$)[^{}/]+}.m3u8",
        _fast_media(_measured("media", media), app[SERVICES]),
    )
    app.router.add_get("/{org}/{channel}/master.m3u8", _measured("master", master))
    app.router.add_get("/{org}/{channel}/assets.json", _measured("assets", assets))
    app.router.add_get("/{org}/{channel}/ad/{break}/{index}.m3u8", _measured("asset", ad_asset))
    app.router.add_get(
        "/{org}/{channel}/ad/{break}/{index}/{bandwidth}.m3u8", _measured("asset", ad_asset_media)
    )
    # Anything else is a problem+json 404 (the viewer app has no middleware: every microsecond of
    # the playlist path counts, see bench/manifest_throughput.py).
    app.router.add_route("*", "/{tail:.*}", not_found)
