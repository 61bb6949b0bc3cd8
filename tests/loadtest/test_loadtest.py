"""A short ``sidecar loadtest`` against a real ``sidecar serve``, origin and Prometheus.

The report must agree with the service's own numbers: the successful requests the client
counted equal the increase of ``ssai_manifest_requests_total`` that this test scrapes itself
from the service (independently of the load test's own scrape), and the Prometheus section is
filled by queries that this Prometheus accepts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidecar.config.store import Store
from tests.conftest import ServiceProcess, Tenant, free_port, make_tenant, sidecar_cmd
from tests.test_workers import scrape, value


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args} exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def origin() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        sidecar_cmd("origin", "--port", str(port), "--segment-duration", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Running:
    service: ServiceProcess
    prometheus: str


def up_targets(prometheus: str) -> float:
    url = f"{prometheus}/api/v1/query?query=" + urllib.parse.quote("sum(up)")
    with urllib.request.urlopen(url, timeout=2) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture
def running(sqlite_url: str, tmp_path: Path) -> Iterator[Running]:
    """``sidecar serve`` and a Prometheus scraping it every second, started side by side
    (Prometheus applies new targets only every 5 s, so it starts first)."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is required (scripts/system-deps.sh installs it)"
    # Cue-API breaks splice at the live edge (not 4 s after it), so a 4 s run sees them.
    service = ServiceProcess({"SIDECAR_DATABASE_URL": sqlite_url, "SIDECAR_CUE_LEAD_SECONDS": "0"})
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sidecar\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{service.admin_port}']\n"
    )
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        service.start()
        wait_for(f"{url}/-/ready", prom)
        deadline = time.monotonic() + 20
        while up_targets(url) < 1:
            assert time.monotonic() < deadline, "Prometheus never scraped the service"
            time.sleep(0.2)
        yield Running(service, url)
    finally:
        prom.terminate()
        prom.wait(timeout=10)
        service.stop()


async def editor(sqlite_url: str) -> Tenant:
    store = Store.from_url(sqlite_url)
    try:
        return await make_tenant(store, role="editor")
    finally:
        await store.close()


def manifest_ok(text: str, org: str) -> float:
    return value(text, "ssai_manifest_requests_total", org=org, status="200")


async def test_report_matches_the_services_own_counters(
    sqlite_url: str, origin: str, running: Running, tmp_path: Path
) -> None:
    service, prometheus = running.service, running.prometheus
    tenant = await editor(sqlite_url)
    out = tmp_path / "report"
    before = manifest_ok(scrape(service.admin_port), tenant.org_slug)
    proc = subprocess.run(
        sidecar_cmd(
            "loadtest",
            "--viewer-url",
            service.viewer,
            "--admin-url",
            service.admin,
            "--origin",
            origin,
            "--channels",
            "3",
            "--viewers",
            "12",
            "--duration",
            "4",
            "--poll-interval",
            "0.5",
            "--cue-every",
            "2",
            "--cue-duration",
            "4",
            "--config-every",
            "1.5",
            "--metrics-url",
            f"{service.admin}/metrics",
            "--prometheus",
            prometheus,
            "--no-progress",
            "--seed",
            "7",
            "--threshold",
            "errors<0.001",
            "--threshold",
            "p99 < 2s",
            "--out",
            str(out),
        ),
        env={**os.environ, "SIDECAR_TOKEN": tenant.token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "threshold ok: errors<0.001 (errors = 0 %)" in proc.stderr
    after = manifest_ok(scrape(service.admin_port), tenant.org_slug)
    summary = json.loads((out / "summary.json").read_text())

    # The client's count is the service's count, exactly (this test's own scrape)...
    overall = summary["client"]["overall"]
    assert overall["ok"] > 12 * 4, "every viewer reloaded several times"
    assert overall["ok"] == after - before
    assert overall["errors"] == 0, overall["error_causes"]
    # ... and the load test's scrape, which the report shows, agrees.
    scraped = summary["server_scraped"]
    assert scraped["client_matches_server"] is True and scraped["server_ok"] == after - before
    assert scraped["increase"]["ssai_state_persist_total"]["result=confirmed"] >= 1, "the cues were persisted"

    # Latency percentiles are there and ordered; the timeline adds up to the total.
    assert 0 < overall["p50_ms"] <= overall["p90_ms"] <= overall["p99_ms"] <= overall["max_ms"]
    assert set(summary["client"]["by_kind"]) == {"master", "media"}
    assert sum(row["requests"] for row in summary["timeline"]) == overall["requests"]
    assert len(summary["timeline"]) == 4
    watching = [row["viewers"] for row in summary["timeline"]]
    assert watching[0] < watching[1] < 12 and watching[2:] == [12, 12], f"a 2 s ramp to 12, then all: {watching}"
    assert [t["passed"] for t in summary["thresholds"]] == [True, True]

    # Viewers saw the cued breaks, filled with the pod's ads (the load test's own pod and slate).
    ads = summary["ads"]
    assert len(summary["per_viewer"]) == 12 and ads["viewers"] == 12
    assert ads["viewers_with_breaks"] >= 1 and 0 < ads["ad_seconds"] <= ads["break_seconds"]
    assert ads["fill"] == round(ads["ad_seconds"] / ads["break_seconds"], 4)
    assert ads["ad_seconds"] == round(sum(v["ad_seconds"] for v in summary["per_viewer"]), 3)
    assert ads["slate_prefixes"] == [f"{origin}/ads/slate/"]

    # The scheduled actions ran and went through the admin API.
    kinds = [e["kind"] for e in summary["events"]]
    assert kinds.count("config") >= 2 and kinds.count("cue") >= 1
    assert all(e["ok"] for e in summary["events"] if e["kind"] == "config")
    versions = [int(e["detail"].split()[-1]) for e in summary["events"] if e["kind"] == "config"]
    assert versions == sorted(versions), "each update got a newer config version"

    # Prometheus accepted every query and saw the same traffic.
    prom = summary["prometheus"]
    assert prom["errors"] == []
    assert prom["kpis"]["manifest_requests_per_second"] > 0
    assert prom["kpis"]["targets_up"] == 1
    assert 0 <= prom["kpis"]["config_cache_hit_ratio"] <= 1

    # Prometheus' counts of the same channels sit beside the scraped ones.
    assert set(prom["crosscheck"]) >= {"ssai_manifest_requests_total{status=200}", "ssai_actor_churn_total"}

    # The files a person opens, with values written for people.
    for name in ("viewers.png", "latency.png", "throughput.png", "server.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    page = (out / "index.html").read_text()
    assert "<img src='viewers.png'" in page and "<img src='server.png'" in page
    assert "<span class='good'>match</span>" in page and "passed: all 2 thresholds" in page
    cells = [c for c in re.findall(r"<td>(.*?)</td>", page) if not c.startswith("<code>")]  # code is code
    assert len(cells) > 100
    raw = [c for c in cells if re.search(r"\{|\}|\[|\]|\bTrue\b|\bFalse\b|\bNone\b|\bnan\b", c)]
    assert raw == [], "Python values on the page"
    assert tenant.token not in page and tenant.token not in (out / "summary.json").read_text()


def test_bad_options_are_usage_errors() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "loadtest", "--token", "t", "--restart-every", "5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "--restart-cmd or --kill-worker-of" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_failed_threshold_fails_the_run(sqlite_url: str, tmp_path: Path) -> None:
    """A run whose every request fails (the channels' origin does not answer) must not exit 0."""
    import asyncio

    service = ServiceProcess({"SIDECAR_DATABASE_URL": sqlite_url, "SIDECAR_ORIGIN_TIMEOUT_SECONDS": "0.5"})
    service.start()
    try:
        tenant = asyncio.run(editor(sqlite_url))
        proc = subprocess.run(
            sidecar_cmd(
                "loadtest",
                "--viewer-url",
                service.viewer,
                "--admin-url",
                service.admin,
                "--origin",
                f"http://127.0.0.1:{free_port()}",  # nothing listens there
                "--channels",
                "1",
                "--viewers",
                "2",
                "--duration",
                "2",
                "--cue-every",
                "0",
                "--config-every",
                "0",
                "--no-progress",
                "--threshold",
                "errors<0.001",
                "--threshold",
                "p99<10s",
                "--out",
                str(tmp_path / "report"),
            ),
            env={**os.environ, "SIDECAR_TOKEN": tenant.token},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        service.stop()
    assert proc.returncode == 99, proc.stderr[-3000:]
    assert "threshold failed: errors<0.001 (errors = 100 %)" in proc.stderr
    assert "threshold failed: p99<10s (no data)" in proc.stderr, "no successful request: p99 cannot pass"
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert [t["passed"] for t in summary["thresholds"]] == [False, False], "the report is written all the same"
    assert "FAILED: 2 of 2 thresholds" in (tmp_path / "report" / "index.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "p99<<0.15"], "--threshold 'p99<<0.15': '<0.15' is not a number"),
        (["--threshold", "p98<0.15"], "--threshold 'p98<0.15': unknown metric 'p98'; one of p50, p90"),
        (["--threshold", "errors<5ms"], "unit 'ms' does not apply to errors"),
        (["--threshold", "fill"], "--threshold 'fill': expected METRIC OP VALUE"),
        (["--stage", "30x:10"], "--stage '30x:10': expected DURATION:VIEWERS"),
        (["--stage", "30s:10", "--duration", "60"], "--stage replaces --duration"),
    ],
)
def test_bad_thresholds_and_stages_are_usage_errors(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar", "loadtest", "--token", "t", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in " ".join(proc.stderr.split()), proc.stderr
    assert "Traceback" not in proc.stderr
