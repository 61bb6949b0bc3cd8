"""``sidecar loadtest``: prepare channels, run viewers and actions, then measure and report.

Order matters for the exact client/server comparison: the service's counters are scraped
after the channels are prepared and before the first viewer starts, and again only after the
last viewer's last answer has arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from dataclasses import asdict
from typing import Any

import aiohttp

from sidecar.loadtest import scrape
from sidecar.loadtest.channels import prepare
from sidecar.loadtest.config import LoadConfig
from sidecar.loadtest.report import write
from sidecar.loadtest.samples import latency_stats, summarise, timeline
from sidecar.loadtest.workload import Actions, Recorder, viewer
from sidecar.probe.admin import AdminClient
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.loadtest")


async def _progress(cfg: LoadConfig, rec: Recorder, stop: asyncio.Event) -> None:
    """A tqdm bar over the run's seconds, with the last second's rate, errors and p99."""
    from tqdm import tqdm

    bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]"
    with tqdm(
        total=round(cfg.duration),
        desc="load test",
        disable=not cfg.progress,
        file=sys.stderr,
        dynamic_ncols=True,
        bar_format=bar_format,
    ) as bar:
        shown = 0
        try:
            while not stop.is_set():
                await asyncio.sleep(1.0)
                now = min(rec.now(), cfg.duration)
                recent = [s for s in rec.samples if now - 1.0 <= s.t < now]
                bar.set_postfix(
                    req_s=len(recent),
                    errors=sum(not s.ok for s in rec.samples),
                    p99_ms=latency_stats(recent)["p99_ms"],
                    refresh=False,
                )
                bar.update(round(now) - shown)
                shown = round(now)
        finally:
            bar.update(round(cfg.duration) - shown)


async def run(cfg: LoadConfig) -> dict[str, Any]:
    """The whole load test; returns the summary (also written to ``cfg.out``)."""
    timeout = aiohttp.ClientTimeout(total=cfg.request_timeout)
    connector = aiohttp.TCPConnector(limit=cfg.viewers + 20)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers={"User-Agent": "sidecar-loadtest"}
    ) as http:
        admin = AdminClient(http, cfg.admin_url, cfg.token)
        org, slugs = await prepare(cfg, admin)
        log_event(
            log,
            "loadtest_prepared",
            f"Loading {len(slugs)} channels of {org} with {cfg.viewers} viewers",
            org=org,
            channels=slugs,
        )
        before = await scrape.snapshot(http, cfg.metrics_urls, org, slugs) if cfg.metrics_urls else None

        rec = Recorder()
        wall_start = time.time()
        stop = asyncio.Event()
        base = cfg.viewer_url.rstrip("/")
        viewers = [
            asyncio.create_task(
                viewer(
                    http,
                    rec,
                    cfg,
                    f"{base}/{org}/{slugs[i % len(slugs)]}",
                    slugs[i % len(slugs)],
                    i // len(slugs),
                    stop,
                    cfg.ramp * i / cfg.viewers,
                )
            )
            for i in range(cfg.viewers)
        ]
        actions = asyncio.create_task(Actions(cfg, admin, rec, slugs).run(stop))
        progress = asyncio.create_task(_progress(cfg, rec, stop))
        await asyncio.sleep(cfg.duration)
        stop.set()
        await asyncio.gather(*viewers, actions)  # let every request in flight finish: exact counts
        progress.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress
        elapsed = rec.now()
        wall_end = time.time()

        summary: dict[str, Any] = {
            "run": {
                "command": cfg.command,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_start)),
                "duration_s": round(elapsed, 3),
                "viewers": cfg.viewers,
                "channels": slugs,
                "org": org,
                "mode": cfg.mode,
                "viewer_url": cfg.viewer_url,
            },
            "client": summarise(rec.samples),
            "events": [{**asdict(e), "t": round(e.t, 3), "latency_ms": round(e.latency * 1000, 2)} for e in rec.events],
        }
        for e in summary["events"]:
            e.pop("latency")
        if before is not None:
            after = await scrape.snapshot(http, cfg.metrics_urls, org, slugs)
            increase, reset = scrape.delta(before, after)
            server = scrape.manifest_counts(increase)
            client_ok = summary["client"]["overall"]["ok"]
            summary["server_scraped"] = {
                "urls": list(cfg.metrics_urls),
                "errors": {**before.errors, **after.errors},
                "increase": increase,
                "counter_reset": reset,
                "client_ok": client_ok,
                "server_ok": server.get("200", 0),
                "server_by_status": server,
                "client_matches_server": client_ok == server.get("200", 0) and not reset,
            }
        series = None
        if cfg.prometheus:
            from sidecar.loadtest.prom import collect

            await asyncio.sleep(cfg.prometheus_settle)  # the last scrape after the run
            prom = await collect(http, cfg.prometheus, wall_start, wall_end)
            series = prom.pop("series")
            summary["prometheus"] = prom
        summary["files"] = write(cfg.out, summary, timeline(rec.samples, cfg.duration), rec.events, series)
        return summary
