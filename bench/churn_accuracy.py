"""Churn as Prometheus counts it versus churn as the service logs it, under repeated SIGKILLs.

The acceptance measurement of ADR 0010: ``sidecar serve`` with 2 workers on PostgreSQL and Redis,
a real Prometheus scraping every 5 s with the project's rules, and for N = 1..6 a channel of its
own whose viewers keep worker 0 busy while worker 0 is SIGKILLed N times, 15 s apart (so the
first three kills are within one minute). After each round: Prometheus' increase of
``ssai_actor_churn_total`` over the alert window (1 h) for that channel, the recorded whole
number the alert reads, and the ``instance_churn`` events in the service's log. The crash
restarts (``ssai_process_starts_total{reason="crash"}``) are compared with the kills at the end.

    .venv/bin/python -m bench.churn_accuracy [--rounds 6] [--scrape 5s]

Writes ``bench/results/churn_accuracy.json``. Not a timing benchmark: it counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.environment import write_result
from sidecar.config.migrate import upgrade
from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from sidecar.loadtest.localstack import RULES, Stack, free_port, wait_http, wait_scraped
from tests.conftest import REDIS_URL, _pg_exec

RESULTS = Path(__file__).parent / "results" / "churn_accuracy.json"
KILL_EVERY = 15.0


def worker_pid(supervisor: int, index: int) -> int:
    children = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True).stdout.split()
    for pid in children:
        if f"SIDECAR_WORKER_INDEX={index}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            return int(pid)
    raise RuntimeError(f"no worker {index} among {children}")


def logged(log: Path, event: str, channel: str | None = None) -> int:
    count = 0
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == event and (channel is None or record.get("channel") == channel):
                count += 1
    return count


async def query(http: aiohttp.ClientSession, prometheus: str, expr: str) -> float:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": expr}) as resp:
        result = (await resp.json())["data"]["result"]
    return sum(float(r["value"][1]) for r in result)


async def viewers(http: aiohttp.ClientSession, viewer: str, org: str, channels: list[str], stop: asyncio.Event) -> None:
    """A few requests a second on each channel, one connection each (the kernel spreads them over
    both workers); failures while a worker restarts are expected."""
    while not stop.is_set():
        for channel in channels:
            try:
                async with http.get(f"{viewer}/{org}/{channel}/master.m3u8", headers={"Connection": "close"}) as r:
                    await r.read()
            except aiohttp.ClientError:
                pass
        await asyncio.sleep(0.1)


async def run(rounds: int, scrape: str, scratch: Path) -> dict[str, Any]:
    name = f"sidecar_bench_churn_{int(time.time())}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    database = f"postgresql://postgres@127.0.0.1:5432/{name}"
    stack = Stack(scratch, {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")})
    try:
        upgrade(database)
        store = Store.from_url(database)
        org = await store.create_org("churn", "Churn bench")
        channels = [f"c{n}" for n in range(1, rounds + 1)]
        for slug in channels:
            await store.create_channel(
                org.id, ChannelIn.model_validate({"slug": slug, "name": slug, "origin_url": "http://127.0.0.1:9/m"})
            )
        await store.close()
        viewer, admin, metrics = free_port(), free_port(), free_port()
        serve = stack.start(
            "serve",
            [sys.executable, "-m", "sidecar", "serve", "--no-migrate"],
            {
                "SIDECAR_DATABASE_URL": database,
                "SIDECAR_REDIS_URL": REDIS_URL,
                "SIDECAR_WORKERS": "2",
                "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}",
                "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
                "SIDECAR_METRICS_LISTEN": f"127.0.0.1:{metrics}",
                "SIDECAR_ACTOR_HEARTBEAT_SECONDS": "2",
            },
        )
        for port in (metrics, metrics + 1):
            wait_http(f"http://127.0.0.1:{port}/metrics", serve)
        prom_port = free_port()
        config = scratch / "prometheus.yml"
        targets = f"['127.0.0.1:{metrics}', '127.0.0.1:{metrics + 1}']"
        rules = "\n".join(f"  - {r}" for r in RULES)
        config.write_text(
            f"global:\n  scrape_interval: {scrape}\n  evaluation_interval: {scrape}\nrule_files:\n{rules}\n"
            f"scrape_configs:\n  - job_name: sidecar\n    static_configs:\n      - targets: {targets}\n"
        )
        prom = stack.start(
            "prometheus",
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={scratch / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
        )
        prometheus = f"http://127.0.0.1:{prom_port}"
        wait_http(prometheus + "/-/ready", prom)
        wait_scraped(prometheus, 2)
        log = scratch / "serve.log"
        base = f"http://127.0.0.1:{viewer}"
        results = []
        async with aiohttp.ClientSession() as http:
            # Every channel is served (and its series exist, at zero) before the first kill.
            warm = asyncio.Event()
            task = asyncio.create_task(viewers(http, base, org.slug, channels, warm))
            await asyncio.sleep(60)
            warm.set()
            await task
            kills_total = 0
            for n in range(1, rounds + 1):
                channel = f"c{n}"
                stop = asyncio.Event()
                task = asyncio.create_task(viewers(http, base, org.slug, [channel], stop))
                await asyncio.sleep(5)
                kill_times = []
                for _ in range(n):
                    kill_times.append(time.monotonic())
                    os.kill(worker_pid(serve.pid, 0), signal.SIGKILL)
                    await asyncio.sleep(KILL_EVERY)
                kills_total += n
                await asyncio.sleep(10)  # the last successor serves the channel
                stop.set()
                await task
                await asyncio.sleep(20)  # committed, shown at zero first, recorded, scraped, evaluated
                selector = f'{{job="sidecar",channel="{channel}"}}'
                results.append(
                    {
                        "kills": n,
                        "kills_within_first_minute": sum(1 for t in kill_times if t - kill_times[0] < 60),
                        "logged_churns": logged(log, "instance_churn", channel),
                        "prometheus_increase_1h": round(
                            await query(http, prometheus, f"sum(increase(ssai_actor_churn_total{selector}[1h]))"), 4
                        ),
                        "recorded_for_alert": await query(
                            http, prometheus, f'org_channel:ssai_actor_churn:increase1h{{channel="{channel}"}}'
                        ),
                    }
                )
                print(json.dumps(results[-1]), flush=True)
            crash_restarts = await query(
                http, prometheus, 'sum(increase(ssai_process_starts_total{job="sidecar",reason="crash"}[1h]))'
            )
        for r in results:
            r["difference"] = round(r["prometheus_increase_1h"] - r["logged_churns"], 4)
        return {
            "scrape_interval": scrape,
            "kill_every_seconds": KILL_EVERY,
            "rounds": results,
            "max_abs_difference": max(abs(r["difference"]) for r in results),
            "kills": kills_total,
            "logged_crash_detections": logged(log, "process_crash_detected"),
            "prometheus_crash_restarts_1h": round(crash_restarts, 4),
        }
    finally:
        stack.stop()
        _pg_exec(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--scrape", default="5s", help="Prometheus scrape and evaluation interval")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="sidecar-churn-"))
    try:
        result = asyncio.run(run(args.rounds, args.scrape, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_result(RESULTS, result)


if __name__ == "__main__":
    main()
