"""``sidecar probe``: the user-level probes beside the service, with their own ``/metrics``.

The probe is deliberately a separate process that sees the service only as viewers and
operators do (viewer URLs, the admin API). What it measures is therefore what users get, which
the service's own metrics cannot show: the time until a config change is visible everywhere,
and playlists that are valid one by one but inconsistent across reloads or workers.

Its series come from ``catalogue.probe_registry`` (never the service's registry, so a probe in
the same process as a test service does not mix with it) and are served on ``--listen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import aiohttp
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from sidecar.probe.admin import AdminClient
from sidecar.probe.config import ProbeConfig
from sidecar.probe.propagation import Propagation
from sidecar.probe.validity import Validity
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.probe")


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_metrics_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(registry=m.probe_registry))
    app.router.add_get("/healthz", _healthz)
    return app


async def start_metrics_server(host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the probe's /metrics; returns the runner and the bound port (``port`` may be 0)."""
    runner = web.AppRunner(build_metrics_app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner, int(runner.addresses[0][1])


class Probe:
    """Both probes sharing one HTTP client; :meth:`run` until cancelled."""

    def __init__(self, config: ProbeConfig) -> None:
        self.config = config

    async def run(self) -> None:
        cfg = self.config
        timeout = aiohttp.ClientTimeout(total=cfg.request_timeout)
        connector = aiohttp.TCPConnector(limit=100)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers=cfg.extra_headers) as http:
            admin = AdminClient(http, cfg.admin_url, cfg.token) if cfg.token else None

            async def org_channels() -> list[tuple[str, str]]:
                assert admin is not None  # ProbeConfig requires a token when no channels are given
                org = await admin.org_slug()
                return [
                    (org, str(c["slug"]))
                    for c in await admin.channels()
                    if c.get("status") != "archived" and c.get("slug") != cfg.canary
                ]

            tasks: list[asyncio.Task[None]] = []
            if cfg.propagation and admin is not None:
                tasks.append(asyncio.create_task(Propagation(cfg, http, admin).run_forever(), name="propagation"))
            if cfg.validity:
                tasks.append(asyncio.create_task(Validity(cfg, http, org_channels).run_forever(), name="validity"))
            log_event(
                log,
                "probe_started",
                f"Probing {len(cfg.targets)} target(s)",
                targets=[t.name for t in cfg.targets],
                admin=cfg.admin_url,
                channels=["/".join(c) for c in cfg.channels] or "all of the token's organization",
            )
            try:
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


async def serve_probe(config: ProbeConfig, host: str, port: int, ready: Callable[[int], None] | None = None) -> None:
    """Metrics server plus probes until SIGTERM/SIGINT or cancellation."""
    runner, bound = await start_metrics_server(host, port)
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if main is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, main.cancel)
                installed.append(sig)
    if ready is not None:
        ready(bound)
    try:
        await Probe(config).run()
    except asyncio.CancelledError:
        log_event(log, "probe_stopped", "Probe stopped")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
