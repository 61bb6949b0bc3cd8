"""The two HTTP apps of ``sidecar serve``: viewers (manifests) and admin (API, /metrics)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial

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


def _guarded(route: Route, auth: Authenticator) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        ctx: AuthContext = await auth(request)
        require(ctx, route.role)
        return await route.handler(request, ctx)

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

    app = web.Application(middlewares=[problem_middleware])
    app[SERVICES] = svc
    app[MAX_BODY] = svc.settings.max_body_bytes
    app.router.add_get("/healthz", _healthz)
    manifest.setup(app)
    return app


async def run_apps(svc: Services, *, ready: Callable[[list[str]], None] | None = None) -> None:
    """Serve both apps until cancelled."""
    import asyncio

    await svc.start()
    runners = []
    urls = []
    try:
        for app, address in (
            (build_viewer_app(svc), svc.settings.viewer_address),
            (build_admin_app(svc), svc.settings.admin_address),
        ):
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, address.host, address.port, reuse_address=True)
            await site.start()
            runners.append(runner)
            urls.append(f"http://{address}")
        if ready is not None:
            ready(urls)
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()
        await svc.close()


__all__ = ["build_admin_app", "build_viewer_app", "partial", "run_apps"]
