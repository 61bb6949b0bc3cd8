"""``sidecar loadtest``: prepare channels, run viewers and actions, then measure and report.

Order matters for the exact client/server comparison: the service's counters are scraped
after the channels are prepared and before the first viewer starts, during the run (each second
and just before each kill), and last only after the last viewer's last answer has arrived.
Thresholds are checked last, against the summary (the report shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

import aiohttp

from sidecar.loadtest import scrape
from sidecar.loadtest.channels import prepare, slate_prefixes
from sidecar.loadtest.config import LoadConfig
from sidecar.loadtest.outcomes import aggregate
from sidecar.loadtest.report import write
from sidecar.loadtest.samples import latency_stats, summarise, timeline
from sidecar.loadtest.thresholds import evaluate
from sidecar.loadtest.workload import Actions, Audience, Recorder
from sidecar.probe.admin import AdminClient
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.loadtest")


async def _progress(cfg: LoadConfig, rec: Recorder, audience: Audience, stop: asyncio.Event) -> None:
    """A tqdm bar over the run's seconds, with viewers, the last second's rate, errors and p99."""
    from tqdm import tqdm

    duration = cfg.run_seconds
    bar_format = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]"
    with tqdm(
        total=round(duration),
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
                now = min(rec.now(), duration)
                recent = [s for s in rec.samples if now - 1.0 <= s.t < now]
                bar.set_postfix(
                    viewers=len(audience.active),
                    req_s=len(recent),
                    errors=sum(not s.ok for s in rec.samples),
                    p99_ms=latency_stats(recent)["p99_ms"],
                    refresh=False,
                )
                bar.update(round(now) - shown)
                shown = round(now)
        finally:
            bar.update(round(duration) - shown)


async def _scrape_every(tracker: scrape.Tracker, sample: Callable[[], Awaitable[None]], every: float,
                        stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if not stop.is_set():
            await sample()


def threshold_values(summary: dict[str, Any]) -> dict[str, float | None]:
    """The numbers thresholds are checked against, in their units (seconds, ratios)."""
    overall = summary["client"]["overall"]
    ads = summary["ads"]
    values: dict[str, float | None] = {
        f"p{p}": (None if overall[f"p{p}_ms"] is None else overall[f"p{p}_ms"] / 1000) for p in (50, 90, 95, 99)
    }
    values["max"] = None if overall["max_ms"] is None else overall["max_ms"] / 1000
    values["errors"] = overall["error_ratio"] if overall["requests"] else None
    values["rps"] = overall["requests"] / summary["run"]["duration_s"] if summary["run"]["duration_s"] else None
    values["fill"] = ads["fill"]
    values["viewers_with_ads"] = ads["viewers_with_ads"] / ads["viewers"] if ads["viewers"] else None
    return values


async def run(cfg: LoadConfig) -> dict[str, Any]:
    """The whole load test; returns the summary (also written to ``cfg.out``)."""
    timeout = aiohttp.ClientTimeout(total=cfg.request_timeout)
    connector = aiohttp.TCPConnector(limit=cfg.max_viewers + 20)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers={"User-Agent": "sidecar-loadtest"}
    ) as http:
        admin = AdminClient(http, cfg.admin_url, cfg.token)
        org, slugs = await prepare(cfg, admin)
        if not cfg.slate_prefixes:
            cfg = replace(cfg, slate_prefixes=await slate_prefixes(admin))
        log_event(
            log,
            "loadtest_prepared",
            f"Loading {len(slugs)} channels of {org} with up to {cfg.max_viewers} viewers",
            org=org,
            channels=slugs,
        )
        tracker = scrape.Tracker()

        async def sample() -> None:
            await tracker.sample(http, cfg.metrics_urls, org, slugs)

        if cfg.metrics_urls:
            await sample()  # the baseline: before the first viewer

        rec = Recorder()
        wall_start = time.time()
        stop = asyncio.Event()
        audience = Audience(http, rec, cfg, org, slugs)
        crowd = asyncio.create_task(audience.run(stop))
        actions = asyncio.create_task(
            Actions(cfg, admin, rec, slugs, before_kill=sample if cfg.metrics_urls else None).run(stop)
        )
        scraping = (
            asyncio.create_task(_scrape_every(tracker, sample, cfg.scrape_interval, stop)) if cfg.metrics_urls else None
        )
        progress = asyncio.create_task(_progress(cfg, rec, audience, stop))
        await asyncio.sleep(cfg.run_seconds)
        stop.set()
        await crowd
        await audience.finish()  # let every request in flight finish: exact counts
        await asyncio.gather(actions, *([scraping] if scraping else []))
        progress.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress
        elapsed = rec.now()
        wall_end = time.time()

        per_viewer = [
            {
                "viewer": v.index,
                "channel": v.channel,
                "joined_s": round(v.joined, 3),
                "left_s": round(v.left if v.left is not None else elapsed, 3),
                **v.outcome.summary(),
            }
            for v in audience.viewers
        ]
        summary: dict[str, Any] = {
            "run": {
                "command": cfg.command,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall_start)),
                "duration_s": round(elapsed, 3),
                "viewers": cfg.max_viewers,
                "profile": [{"seconds": s.seconds, "viewers": s.target} for s in cfg.profile],
                "reload_jitter": cfg.jitter,
                "channels": slugs,
                "org": org,
                "mode": cfg.mode,
                "viewer_url": cfg.viewer_url,
            },
            "client": summarise(rec.samples),
            "ads": {**aggregate(per_viewer), "slate_prefixes": list(cfg.slate_prefixes)},
            "per_viewer": per_viewer,
            "events": [{**asdict(e), "t": round(e.t, 3), "latency_ms": round(e.latency * 1000, 2)} for e in rec.events],
        }
        for e in summary["events"]:
            e.pop("latency")
        if cfg.metrics_urls:
            await sample()  # after the last answer
            increase = tracker.increase()
            server = scrape.manifest_counts(increase)
            client_ok = summary["client"]["overall"]["ok"]
            summary["server_scraped"] = {
                "urls": list(cfg.metrics_urls),
                "scrapes": tracker.scrapes,
                "errors": tracker.errors,
                "increase": increase,
                "counter_reset": bool(tracker.resets),
                "restarted": [f"{url} worker {w}" if w else url for url, w in tracker.resets],
                "client_ok": client_ok,
                "server_ok": server.get("200", 0),
                "server_by_status": server,
                "client_matches_server": client_ok == server.get("200", 0),
            }
        series = None
        if cfg.prometheus:
            from sidecar.loadtest.prom import collect

            await asyncio.sleep(cfg.prometheus_settle)  # the last scrape after the run
            prom = await collect(http, cfg.prometheus, wall_start, wall_end, org, slugs)
            series = prom.pop("series")
            summary["prometheus"] = prom
        results = evaluate(cfg.thresholds, threshold_values(summary))
        summary["thresholds"] = [
            {"threshold": r.threshold.text, "metric": r.threshold.metric, "actual": r.actual, "passed": r.passed,
             "line": r.line()}
            for r in results
        ]
        line = timeline(rec.samples, cfg.run_seconds)  # a request sent at the very end counts in the last second
        for row, watching in zip(line, audience.per_second(cfg.run_seconds), strict=False):
            row["viewers"] = watching
        summary["files"] = write(cfg.out, summary, line, rec.events, series)
        return summary
