"""Several worker processes: shared ports, one scrape target each, counters that add up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.request

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from tests.conftest import REDIS_URL, free_port, sidecar_cmd, unique_slug


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def test_two_workers_each_scraped_and_counters_sum(pg_url: str) -> None:
    store = Store.from_url(pg_url)
    org = await store.create_org(unique_slug(), "Org")
    await store.create_channel(org.id, ChannelIn.model_validate(
        {"slug": "c", "name": "C", "origin_url": "http://127.0.0.1:9/master.m3u8"}))
    await store.close()
    viewer, admin, metrics = free_port(), free_port(), free_port()
    env = {**os.environ, "SIDECAR_DATABASE_URL": pg_url, "SIDECAR_REDIS_URL": REDIS_URL, "SIDECAR_WORKERS": "2",
           "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}", "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
           "SIDECAR_METRICS_LISTEN": f"127.0.0.1:{metrics}"}
    proc = subprocess.Popen(sidecar_cmd("serve"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(metrics), scrape(metrics + 1)
                break
            except OSError:
                assert time.monotonic() < deadline, "workers did not come up"
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.2)
        requests = 40
        async with aiohttp.ClientSession() as http:
            for _ in range(requests):  # new connection each time so the kernel spreads them
                async with http.get(f"http://127.0.0.1:{viewer}/{org.slug}/c/master.m3u8",
                                    headers={"Connection": "close"}) as resp:
                    assert resp.status == 502  # the origin is down; the request is still counted
        texts = [scrape(metrics), scrape(metrics + 1)]
        per_worker = [value(t, "ssai_manifest_requests_total", org=org.slug, channel="c") for t in texts]
        assert sum(per_worker) == requests, per_worker
        # Gauges are per process and mean something summed: live actor instances of this channel.
        assert sum(value(t, "ssai_actor_instances") for t in texts) >= 1
        # Every worker's exposition passes promtool's lint.
        for text in texts:
            lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            assert lint.returncode == 0, lint.stdout + lint.stderr
        # OpenMetrics (needed for exemplars) is served on request.
        req = urllib.request.Request(f"http://127.0.0.1:{metrics}/metrics",
                                     headers={"Accept": "application/openmetrics-text"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            assert resp.read().decode().rstrip().endswith("# EOF")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0
    await asyncio.sleep(0)
