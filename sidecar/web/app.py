"""The two HTTP apps of ``sidecar serve``: viewers (manifests) and admin (API, /metrics)."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from sidecar.config.migrate import schema_state
from sidecar.config.models import SLUG_PATTERN
from sidecar.config.store import AuthContext
from sidecar.services import Services
from sidecar.telemetry import catalogue as m
from sidecar.web import audit, openapi
from sidecar.web.admin import ROUTES, Route
from sidecar.web.auth import Authenticator, require
from sidecar.web.keys import MAX_BODY, OPENAPI, SERVICES
from sidecar.web.problem import Handler, Problem, outcome_of, problem_middleware


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


_REF = re.compile(SLUG_PATTERN)

#: Config objects by route tag, and what each method does to them (ssai_config_writes_total).
WRITE_KINDS = {"channels": "channel", "organizations": "org", "ad-pods": "ad_pod", "slates": "slate"}
WRITE_OPERATIONS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


def config_write_counter(route: Route) -> Any:
    """The ``ssai_config_writes_total`` child a successful call of ``route`` counts, if it writes config."""
    kind, operation = WRITE_KINDS.get(route.tag), WRITE_OPERATIONS.get(route.method)
    return m.config_writes_total.labels(kind, operation) if kind and operation else None


def _guarded(route: Route, auth: Authenticator) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Authenticate, authorize, check path parameters, run; record every write in the audit trail."""
    write = route.method != "GET"
    written = config_write_counter(route)

    async def handler(request: web.Request) -> web.StreamResponse:
        ctx: AuthContext = await auth(request)
        try:
            require(ctx, route.role)
            for name, value in request.match_info.items():
                if not _REF.fullmatch(value):  # every id and slug has this shape: nothing else exists
                    raise Problem(404, "not-found", f"no {name} {value[:80]!r}")
            unknown = sorted(set(request.query) - {q.name for q in route.query})
            if unknown:  # as unknown body fields are: a typo must not pass silently
                raise Problem(
                    400,
                    "bad-query",
                    f"unknown query parameter {unknown[0][:80]!r}",
                    errors=[{"field": u[:80], "pointer": f"?{u[:80]}", "detail": "unknown query parameter",
                             "code": "extra_forbidden"} for u in unknown],
                )
            response = await route.handler(request, ctx)
        except Exception as exc:
            if write:
                status, kind = outcome_of(exc)
                await audit.record(request, request.app[SERVICES].store, route.method, route.path, ctx, status, kind)
            raise
        if write:
            store = request.app[SERVICES].store
            await audit.record(request, store, route.method, route.path, ctx, response.status, None)
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
    """Ready for traffic: every listener bound, the SQL store answering, its schema migrated.
    Redis is reported but does not make the process unready: without it the service serves from
    the SQL store (a documented fallback), and failing every pod at once would be an outage."""
    svc: Services = request.app[SERVICES]
    if not svc.listening:
        raise Problem(503, "not-ready", "the service is starting: not every listener is bound yet")
    try:
        schema = await schema_state(svc.store.engine)
    except Exception as exc:
        raise Problem(503, "not-ready", f"SQL store unreachable: {type(exc).__name__}") from None
    if not schema.ready:
        raise Problem(503, "not-ready", f"SQL store schema: {schema.detail} (run `sidecar migrate`)")
    return web.json_response({"status": "ready", "schema": schema.revision, "bus": svc.bus.connected})


def _loopback_for(host: str) -> str:
    """Where this machine reaches a listener bound to ``host`` (the wildcard means loopback)."""
    try:
        ip = ipaddress.ip_address(host or "0.0.0.0")  # noqa: S104 - parsing, not binding
    except ValueError:
        return host
    return ("::1" if ip.version == 6 else "127.0.0.1") if ip.is_unspecified else host


def _metrics_handler(svc: Services) -> Handler:
    """The admin port's /metrics. A worker of several answers with the whole process tree's
    series, fetched from the supervisor's endpoint, rather than its own (the kernel picks which
    worker answers a connection on the shared port; ADR 0014)."""
    settings = svc.settings
    address = settings.metrics_address
    if settings.worker_index is None or address is None:
        return make_aiohttp_handler()
    host = _loopback_for(address.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{address.port}/metrics"

    async def pod_metrics(request: web.Request) -> web.Response:
        forwarded = {k: request.headers[k] for k in ("Accept", "Accept-Encoding") if k in request.headers}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), auto_decompress=False) as http,
                http.get(url, headers=forwarded) as resp,
            ):
                body = await resp.read()
                headers = {k: resp.headers[k] for k in ("Content-Type", "Content-Encoding") if k in resp.headers}
                return web.Response(body=body, status=resp.status, headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Problem(503, "not-ready", f"the supervisor's /metrics ({address}) did not answer: {exc}") from None

    return pod_metrics


def build_admin_app(svc: Services) -> web.Application:
    # Metrics outermost so problem responses (4xx/5xx) are counted with their real status.
    app = web.Application(
        client_max_size=svc.settings.max_body_bytes,
        middlewares=[admin_metrics_middleware, problem_middleware],
    )
    app[SERVICES] = svc
    app[MAX_BODY] = svc.settings.max_body_bytes
    app[OPENAPI] = openapi.build(svc.settings)
    auth = Authenticator(svc.store)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _guarded(route, auth))
    app.router.add_get("/admin/openapi.json", _openapi)
    app.router.add_get("/metrics", _metrics_handler(svc))
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
    """This process's own /metrics: the single process's scrape endpoint, or a worker's private
    one that the supervisor merges into the pod's (ADR 0014)."""
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler())
    app.router.add_get("/healthz", _healthz)
    return app


async def run_apps(svc: Services, *, ready: Callable[[list[str]], None] | None = None) -> None:
    """Serve the apps until cancelled. With several workers the viewer and admin ports are shared
    (SO_REUSEPORT: the kernel spreads connections) and each worker's own /metrics is a Unix socket
    its supervisor reads; a single process serves SIDECAR_METRICS_LISTEN itself, if set."""
    settings = svc.settings
    await svc.start()
    runners = []
    urls = []
    sites: list[tuple[web.Application, Any, bool]] = [
        (build_viewer_app(svc), settings.viewer_address, settings.workers > 1),
        (build_admin_app(svc), settings.admin_address, settings.workers > 1),
    ]
    if settings.worker_metrics_socket is not None:
        sites.append((build_metrics_app(), settings.worker_metrics_socket, False))
    elif settings.metrics_address is not None and settings.worker_index is None:
        sites.append((build_metrics_app(), settings.metrics_address, False))
    try:
        for app, address, shared in sites:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site: web.BaseSite
            if isinstance(address, str):
                site = web.UnixSite(runner, address)
                urls.append(f"unix:{address}")
            else:
                site = web.TCPSite(runner, address.host, address.port, reuse_address=True, reuse_port=shared or None)
                urls.append(f"http://{address}")
            await site.start()
            for bound in runner.addresses:  # the real ports (port 0 binds a free one)
                if isinstance(bound, tuple):  # a Unix socket (a worker's metrics) is no fetch target
                    svc.url_policy.add_listener(str(bound[0]), int(bound[1]))
            runners.append(runner)
        svc.listening = True
        if ready is not None:
            ready(urls)
        # Everything allocated so far (imports, apps, caches) lives as long as the process: keep
        # it out of the cyclic collector's scans, which otherwise walk it on every full collection.
        gc.freeze()
        await asyncio.Event().wait()
    finally:
        svc.listening = False
        for runner in runners:
            await runner.cleanup()
        await svc.close()
