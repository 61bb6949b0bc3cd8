"""Several worker processes behind one scrape endpoint (ADR 0014): every worker's series, labelled
``worker``, from ``SIDECAR_METRICS_LISTEN`` and from the admin port alike; counters that add up;
a killed worker is a counter reset of its own series only."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from tests.conftest import REDIS_URL, free_port, sidecar_cmd, unique_slug


def scrape(port: int, accept: str | None = None) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(resp.read().decode())


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def label_values(text: str, name: str, label: str) -> set[str]:
    return {
        s.labels[label]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and label in s.labels
    }


@dataclass
class Pod:
    proc: subprocess.Popen[bytes]
    org: str
    viewer: int
    admin: int
    metrics: int

    def workers_up(self) -> dict[str, float]:
        text = scrape(self.metrics)
        return {w: value(text, "ssai_worker_up", worker=w) for w in label_values(text, "ssai_worker_up", "worker")}

    def wait_workers_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.workers_up() == {"0": 1.0, "1": 1.0}:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "workers did not come up"
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            time.sleep(0.2)

    def worker_pid(self, index: int) -> int:
        for pid in subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split():
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if f"SIDECAR_WORKER_INDEX={index}".encode() in fh.read().split(b"\0"):
                    return int(pid)
        raise AssertionError(f"no worker {index}")

    async def requests(self, n: int) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(n):  # new connection each time so the kernel spreads them
                async with http.get(
                    f"http://127.0.0.1:{self.viewer}/{self.org}/c/master.m3u8", headers={"Connection": "close"}
                ) as resp:
                    assert resp.status == 502  # the origin is down; the request is still counted


@pytest.fixture
async def pod(pg_url: str) -> AsyncIterator[Pod]:
    store = Store.from_url(pg_url)
    org = await store.create_org(unique_slug(), "Org")
    await store.create_channel(
        org.id, ChannelIn.model_validate({"slug": "c", "name": "C", "origin_url": "http://127.0.0.1:9/master.m3u8"})
    )
    await store.close()
    viewer, admin, metrics = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SIDECAR_DATABASE_URL": pg_url,
        "SIDECAR_REDIS_URL": REDIS_URL,
        "SIDECAR_WORKERS": "2",
        "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}",
        "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
        "SIDECAR_METRICS_LISTEN": f"127.0.0.1:{metrics}",
        # every request sampled, so latency observations carry trace-id exemplars
        "SIDECAR_OTEL_EXPORTER": "console",
        "SIDECAR_OTEL_SAMPLE_RATIO": "1",
    }
    proc = subprocess.Popen(sidecar_cmd("serve"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    running = Pod(proc, org.slug, viewer, admin, metrics)
    try:
        running.wait_workers_up()
        yield running
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0


async def test_one_endpoint_serves_every_workers_series(pod: Pod) -> None:
    requests = 40
    await pod.requests(requests)
    text = scrape(pod.metrics)
    assert value(text, "ssai_manifest_requests_total", org=pod.org, channel="c") == requests
    per_worker = [value(text, "ssai_manifest_requests_total", org=pod.org, worker=w) for w in ("0", "1")]
    assert sum(per_worker) == requests and all(per_worker), f"both workers served: {per_worker}"
    # Gauges are per process and mean something summed: live actor instances of this channel.
    assert value(text, "ssai_actor_instances") >= 1
    assert label_values(text, "process_start_time_seconds", "worker") == {"0", "1"}
    # The admin port answers with the same whole-pod numbers whichever worker the kernel picks
    # (issue 17: it used to answer from one worker, 7 of 8 scrapes from the same one).
    for _ in range(8):
        admin_text = scrape(pod.admin)
        assert value(admin_text, "ssai_manifest_requests_total", org=pod.org) == requests
        assert label_values(admin_text, "ssai_worker_up", "worker") == {"0", "1"}
    # The exposition passes promtool's lint.
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # OpenMetrics (needed for exemplars) is served on request, and the workers' exemplars survive.
    om = scrape(pod.metrics, accept="application/openmetrics-text; version=1.0.0")
    assert om.rstrip().endswith("# EOF") and om.count("# EOF") == 1
    exemplars = [line for line in om.splitlines() if line.startswith("ssai_manifest_request_seconds_bucket")]
    assert any('worker="' in line and "# {trace_id=" in line for line in exemplars), exemplars[:5]


async def test_a_killed_worker_is_a_counter_reset_of_its_own_series(pod: Pod) -> None:
    await pod.requests(40)
    before = scrape(pod.metrics)
    counts = {w: value(before, "ssai_manifest_requests_total", org=pod.org, worker=w) for w in ("0", "1")}
    started = {w: value(before, "process_start_time_seconds", worker=w) for w in ("0", "1")}
    assert all(counts.values()), counts
    os.kill(pod.worker_pid(0), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        text = scrape(pod.metrics)
        restarted = value(text, "ssai_worker_restarts_total", worker="0") == 1
        if restarted and value(text, "ssai_worker_up", worker="0") == 1:
            break
        assert time.monotonic() < deadline, "worker 0 was not restarted"
        time.sleep(0.2)
    assert value(text, "ssai_worker_restarts_total", worker="1") == 0
    # Worker 0 is a new process with its own counters from zero: a reset of worker 0's series...
    assert value(text, "process_start_time_seconds", worker="0") > started["0"]
    assert value(text, "ssai_manifest_requests_total", org=pod.org, worker="0") < counts["0"]
    # ... while worker 1's series go on untouched, so sums stay exact under rate()/increase().
    assert value(text, "process_start_time_seconds", worker="1") == started["1"]
    assert value(text, "ssai_manifest_requests_total", org=pod.org, worker="1") == counts["1"]


def test_serve_names_a_busy_metrics_port(pg_url: str) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            **os.environ,
            "SIDECAR_DATABASE_URL": pg_url,
            "SIDECAR_REDIS_URL": REDIS_URL,
            "SIDECAR_WORKERS": "2",
            "SIDECAR_AUTO_MIGRATE": "false",
            "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{free_port()}",
            "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{free_port()}",
            "SIDECAR_METRICS_LISTEN": f"127.0.0.1:{port}",
        }
        proc = subprocess.run(sidecar_cmd("serve"), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert f"SIDECAR_METRICS_LISTEN: cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_one_process_serves_the_metrics_port_too(tmp_path: Path) -> None:
    """SIDECAR_WORKERS=1 with SIDECAR_METRICS_LISTEN (as the Kubernetes Deployment runs it): the
    dedicated port and the admin port's /metrics are the same process's series, no worker label."""
    from tests.conftest import ServiceProcess

    metrics = free_port()
    service = ServiceProcess(
        {"SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/one.db", "SIDECAR_METRICS_LISTEN": f"127.0.0.1:{metrics}"}
    )
    service.start()
    try:
        text = scrape(metrics)
        assert label_values(text, "process_start_time_seconds", "worker") == set()
        started = value(text, "process_start_time_seconds")
        assert started > 0 and started == value(scrape(service.admin_port), "process_start_time_seconds")
        assert "ssai_worker_up" not in text
    finally:
        service.stop()
