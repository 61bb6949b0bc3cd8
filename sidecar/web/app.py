"""The two HTTP apps of ``sidecar serve``: viewers (manifests) and admin (API, /metrics)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from sidecar.config.store import AuthContext
from sidecar.services import Services
from sidecar.telemetry import catalogue as m
from sidecar.web import openapi
from sidecar.web.admin import ROUTES, Route
from sidecar.web.auth import Authenticator, require
from sidecar.web.keys import MAX_BODY, OPENAPI, SERVICES
from sidecar.web.problem import Handler, Problem, problem_middleware


def route_template(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def admin_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        template = route_template(request)
        m.admin_requests_total.labels(template, request.method, str(status)).inc()
        m.admin_request_seconds.labels(template).observe(time.perf_counter() - started)


#: Config objects by route tag, and what each method does to them (ssai_config_writes_total).
WRITE_KINDS = {"channels": "channel", "organizations": "org", "ad-pods": "ad_pod", "slates": "slate"}
WRITE_OPERATIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def config_write_counter(route: Route) -> Any:
    """The ``ssai_config_writes_total`` child a successful call of ``route`` counts, if it writes config."""
    kind, operation = WRITE_KINDS.get(route.tag), WRITE_OPERATIONS.get(route.method)
    return m.config_writes_total.labels(kind, operation) if kind and operation else None


def _guarded(route: Route, auth: Authenticator) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    written = config_write_counter(route)

    async def handler(request: web.Request) -> web.StreamResponse:
        ctx: AuthContext = await auth(request)
        require(ctx, route.role)
        response = await route.handler(request, ctx)
        if written is not None and response.status < 300:
            written.inc()
        return response

    handler.__name__ = route.handler.__name__
    return handler


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    svc: Services = request.app[SERVICES]
    try:
        await svc.store.ping()
    except Exception as exc:
        raise Problem(503, "not-ready", f"SQL store unreachable: {type(exc).__name__}") from None
    return web.json_response({"status": "ready", "bus": svc.bus.connected})


def build_admin_app(svc: Services) -> web.Application:
    # Metrics outermost so problem responses (4xx/5xx) are counted with their real status.
    app = web.Application(
        client_max_size=svc.settings.max_body_bytes,
        middlewares=[admin_metrics_middleware, problem_middleware],
    )
    app[SERVICES] = svc
    app[MAX_BODY] = svc.settings.max_body_bytes
    app[OPENAPI] = openapi.build()
    auth = Authenticator(svc.store)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guarded(route, auth))
    app.router.add_get("/admin/openapi.json", _openapi)
    app.router.add_get("/metrics", make_aiohttp_handler())
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app


def build_viewer_app(svc: Services) -> web.Application:
    from sidecar.web import manifest

    app = web.Application()
    app[SERVICES] = svc
    app[MAX_BODY] = svc.settings.max_body_bytes
    app.router.add_get("/healthz", _healthz)
    manifest.setup(app)  # its handlers answer problem+json themselves, unknown paths included
    return app


def build_metrics_app() -> web.Application:
    """A worker's own scrape endpoint (one target per process keeps exemplars; see ADR 0005)."""
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler())
    app.router.add_get("/healthz", _healthz)
    return app


async def run_apps(svc: Services, *, ready: Callable[[list[str]], None] | None = None) -> None:
    """Serve the apps until cancelled. With several workers the viewer and admin ports are shared
    (SO_REUSEPORT: the kernel spreads connections); each worker also has its own metrics port."""
    settings = svc.settings
    await svc.start()
    runners = []
    urls = []
    sites: list[tuple[web.Application, Any, bool]] = [
        (build_viewer_app(svc), settings.viewer_address, settings.workers > 1),
        (build_admin_app(svc), settings.admin_address, settings.workers > 1),
    ]
    if settings.metrics_address is not None:
        sites.append((build_metrics_app(), settings.metrics_address, False))
    try:
        for app, address, shared in sites:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, address.host, address.port, reuse_address=True, reuse_port=shared or None)
            await site.start()
            runners.append(runner)
            urls.append(f"http://{address}")
        if ready is not None:
            ready(urls)
        # Everything allocated so far (imports, apps, caches) lives as long as the process: keep
        # it out of the cyclic collector's scans, which otherwise walk it on every full collection.
        gc.freeze()
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()
        await svc.close()
