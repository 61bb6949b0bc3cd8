"""End to end with a real Prometheus and Alertmanager.

The service runs as 2 worker processes (PostgreSQL + Redis), the synthetic origin and the probe
beside it; Prometheus scrapes the service's one endpoint (every worker's series, labelled
``worker``) and the probe with the project's rules loaded, and
Alertmanager routes to a webhook receiver in this test. Scrape and evaluation intervals are
short and ``for:`` durations are shortened (thresholds stay as shipped), so alerts fire in
seconds rather than minutes.

(a) Every PromQL expression of every dashboard panel and every rule parses on the live
Prometheus and returns data (for an alert, its expression without the threshold comparison),
and no dashboard variable offers a pseudo-value.
(b) A healthy run pages nobody. Then worker 0 is SIGKILLed three times within a minute under
traffic: Prometheus' increase of the churn counter equals the churns the service logged
(ADR 0010: the counts come from the durable ledger, so they survive the kills), and the churn
and crash-loop alerts reach the webhook, as does a slow config propagation (a target that never
hears about invalidations) as SidecarConfigUpdateLatencyHigh.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import promql_parser
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from alerts import alertmanager
from sidecar.config.store import Store
from sidecar.demo import seed
from sidecar.origin import OriginConfig
from sidecar.telemetry.catalogue import metric_names
from tests.conftest import REDIS_URL, RedisServer, free_port, sidecar_cmd, unique_slug, wait_http
from tests.observability.exprs import RULE_FILES, dashboard_exprs, rule_exprs

pytestmark = pytest.mark.slow
FOR = "2s"  # every rule's `for:` in this test (thresholds are untouched)
KILLS = 3  # SIGKILLs of worker 0, within one minute
BUSY = 3.0  # seconds of viewers on a restarted worker before it is killed again


@dataclass
class Hooks:
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["labels"].get("alertname") == name and a["status"] == "firing"]


@dataclass
class Stack:
    tmp: Path
    procs: dict[str, subprocess.Popen[bytes]]
    viewer: str
    admin: str
    prometheus: str
    token: str
    org: str
    hooks: Hooks
    metrics: int

    async def query(self, http: aiohttp.ClientSession, expr: str) -> dict[str, Any]:
        async with http.get(f"{self.prometheus}/api/v1/query", params={"query": expr}) as resp:
            return dict(await resp.json())

    async def by_channel(self, http: aiohttp.ClientSession, expr: str) -> dict[tuple[str, str], float]:
        result = (await self.query(http, expr))["data"]["result"]
        return {(r["metric"]["org"], r["metric"]["channel"]): float(r["value"][1]) for r in result}

    def logged(self, event: str) -> list[dict[str, Any]]:
        """The service's JSON log events of one kind (both workers and their successors)."""
        out = []
        for line in (self.tmp / "service.log").read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == event:
                    out.append(record)
        return out

    async def serving(self, http: aiohttp.ClientSession, index: int, *, instead_of: int, timeout: float = 30.0) -> None:
        """Until a new process for worker ``index`` (not pid ``instead_of``) answers the pod's scrape."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.worker_pid(index) != instead_of:
                    async with http.get(f"http://127.0.0.1:{self.metrics}/metrics") as resp:
                        if resp.status == 200 and f'ssai_worker_up{{worker="{index}"}} 1.0' in await resp.text():
                            return
            except (aiohttp.ClientError, LookupError):
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"worker {index} did not come back within {timeout:g} s")

    def worker_pid(self, index: int) -> int:
        """The live worker process with SIDECAR_WORKER_INDEX=index (the supervisor's child)."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.procs["service"].pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in children:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:  # gone meanwhile
                continue
            if f"SIDECAR_WORKER_INDEX={index}".encode() in environ:
                return int(pid)
        raise LookupError(f"no worker {index} among {children}")


def _spawn(
    procs: dict[str, subprocess.Popen[bytes]], name: str, cmd: list[str], env: dict[str, str], log: Path
) -> None:
    procs[name] = subprocess.Popen(
        cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _short_rules(tmp: Path) -> list[str]:
    paths = []
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = FOR
        out = tmp / path.name
        out.write_text(yaml.safe_dump(doc))
        paths.append(str(out))
    return paths


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Hooks, int]]:
    received = Hooks()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        for alert in body.get("alerts", []):
            alert["receiver"] = request.match_info["receiver"]
            received.alerts.append(alert)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks/{receiver}", hook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield received, int(server.port)  # type: ignore[arg-type]
    await server.close()


@pytest.fixture
def stack(pg_url: str, hooks: tuple[Hooks, int], tmp_path: Path) -> Iterator[Stack]:
    received, hook_port = hooks
    procs: dict[str, subprocess.Popen[bytes]] = {}
    origin_port, viewer, admin, metrics, probe_port = (free_port() for _ in range(5))
    slow_viewer, slow_admin = free_port(), free_port()
    prom_port, am_port = free_port(), free_port()
    base_env = {**os.environ, "SIDECAR_LOG_LEVEL": "WARNING"}
    lonely_redis = RedisServer(tmp_path)  # the slow target's own Redis: it hears no invalidations
    lonely_redis.start()
    try:
        _spawn(
            procs,
            "origin",
            sidecar_cmd("origin", "--port", str(origin_port), "--segment-duration", "2", "--cues", "none"),
            base_env,
            tmp_path / "origin.log",
        )
        wait_http(f"http://127.0.0.1:{origin_port}/live/sports1/master.m3u8")

        async def seeded() -> tuple[str, str]:
            store = Store.from_url(pg_url)
            info = await seed(store, f"http://127.0.0.1:{origin_port}", OriginConfig(), org_slug=unique_slug("e2e"))
            await store.close()
            return info.token, info.org

        token, org = asyncio.run(seeded())
        service_env = {
            **base_env,
            "SIDECAR_DATABASE_URL": pg_url,
            "SIDECAR_REDIS_URL": REDIS_URL,
            "SIDECAR_WORKERS": "2",
            "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}",
            "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
            "SIDECAR_METRICS_LISTEN": f"127.0.0.1:{metrics}",
            "SIDECAR_ACTOR_HEARTBEAT_SECONDS": "1",
            "SIDECAR_COLO": "SJC",
        }
        _spawn(procs, "service", sidecar_cmd("serve"), service_env, tmp_path / "service.log")
        # A third process that shares the store but not Redis: config changes reach it only when
        # its cache entries expire (5 s), which is the slow propagation the alert must catch.
        slow_env = {
            **base_env,
            "SIDECAR_DATABASE_URL": pg_url,
            "SIDECAR_REDIS_URL": lonely_redis.url,
            "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{slow_viewer}",
            "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{slow_admin}",
            "SIDECAR_CONFIG_CACHE_TTL_SECONDS": "5",
            "SIDECAR_CONFIG_L1_TTL_SECONDS": "5",
            "SIDECAR_COLO": "LHR",
            "SIDECAR_AUTO_MIGRATE": "false",
        }
        _spawn(procs, "slow", sidecar_cmd("serve"), slow_env, tmp_path / "slow.log")
        wait_http(f"http://127.0.0.1:{metrics}/metrics")
        wait_http(f"http://127.0.0.1:{admin}/readyz")
        wait_http(f"http://127.0.0.1:{slow_admin}/healthz")
        _spawn(
            procs,
            "probe",
            sidecar_cmd(
                "probe",
                "--target",
                f"fast=http://127.0.0.1:{viewer}",
                "--target",
                f"slow=http://127.0.0.1:{slow_viewer}",
                "--admin-url",
                f"http://127.0.0.1:{admin}",
                "--listen",
                f"127.0.0.1:{probe_port}",
                "--interval",
                "3",
                "--timeout",
                "15",
                "--channel",
                f"{org}/sports1",
            ),
            {**base_env, "SIDECAR_TOKEN": token},
            tmp_path / "probe.log",
        )
        wait_http(f"http://127.0.0.1:{probe_port}/metrics")

        am_config = tmp_path / "alertmanager.yml"
        am_config.write_text(
            alertmanager.render(
                f"http://127.0.0.1:{hook_port}/hooks", group_wait="1s", group_interval="1s", repeat_interval="1h"
            )
        )
        _spawn(
            procs,
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={am_config}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            base_env,
            tmp_path / "alertmanager.log",
        )
        wait_http(f"http://127.0.0.1:{am_port}/-/ready")
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": _short_rules(tmp_path),
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                    "scrape_configs": [
                        {
                            "job_name": "sidecar",
                            "static_configs": [
                                {
                                    "targets": [f"127.0.0.1:{metrics}"],
                                    "labels": {"colo": "SJC"},
                                }
                            ],
                        },
                        {"job_name": "sidecar-probe", "static_configs": [{"targets": [f"127.0.0.1:{probe_port}"]}]},
                    ],
                }
            )
        )
        check = subprocess.run(["promtool", "check", "config", str(prom_config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        _spawn(
            procs,
            "prometheus",
            [
                "prometheus",
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--enable-feature=exemplar-storage",
            ],
            base_env,
            tmp_path / "prometheus.log",
        )
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
        yield Stack(
            tmp_path,
            procs,
            f"http://127.0.0.1:{viewer}",
            f"http://127.0.0.1:{admin}",
            f"http://127.0.0.1:{prom_port}",
            token,
            org,
            received,
            metrics,
        )
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        lonely_redis.stop()


def data_form(expr: str) -> str:
    """The part of an expression that must return data even when nothing is wrong: an alert's
    left-hand side (without its threshold), the operand of absent()."""
    node = promql_parser.parse(expr)
    while True:
        if isinstance(node, promql_parser.BinaryExpr):
            if str(node.op) in ("and", "unless", "or") or isinstance(node.rhs, promql_parser.NumberLiteral):
                node = node.lhs
                continue
        if isinstance(node, promql_parser.Call) and node.func.name in ("absent", "absent_over_time"):
            node = node.args[0]
            continue
        if isinstance(node, promql_parser.ParenExpr):
            node = node.expr
            continue
        return str(node)


async def traffic(stack: Stack, http: aiohttp.ClientSession, seconds: float) -> None:
    """Viewers on both variants and modes, a cue, an unknown channel: what an SRE's panels show."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in (
            "sports1/master.m3u8",
            "sports1/800k.m3u8?mode=ssai",
            "sports1/1600k.m3u8?mode=sgai",
            "no-such-channel/master.m3u8",
        ):
            try:
                async with http.get(f"{stack.viewer}/{stack.org}/{path}", headers={"Connection": "close"}) as resp:
                    await resp.read()
            except aiohttp.ClientError:
                pass  # a worker we just killed; the next connection lands on a live one
        await asyncio.sleep(0.1)


async def test_prometheus_alertmanager_end_to_end(stack: Stack) -> None:
    auth = {"Authorization": f"Bearer {stack.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{stack.admin}/admin/channels/sports1/cue", json={"action": "start", "duration": 20}, headers=auth
        ) as resp:
            assert resp.status == 201, await resp.text()
        await traffic(stack, http, 25)

        # (a) every expression parses on the live Prometheus and returns data.
        catalogue = metric_names()
        empty, failed = [], []
        for expr in rule_exprs() + dashboard_exprs():
            result = await stack.query(http, expr.promql)
            if result.get("status") != "success":
                failed.append(f"{expr.where}: {result.get('error')}")
                continue
            form = data_form(expr.promql)
            data = await stack.query(http, form)
            if not data["data"]["result"]:
                empty.append(f"{expr.where}: {form}")
            for name in re.findall(r"(?<![:\w])(ssai_[a-z0-9_]+)(?![:\w])", expr.promql):
                assert name in catalogue, f"{expr.where} names {name}, which the service does not export"
        assert failed == []
        assert empty == [], "\n".join(empty)

        # (a') dashboard variables offer real orgs and channels only.
        for expr in dashboard_exprs():
            if ": variable " in expr.where:
                label = expr.where.rsplit(" ", 1)[-1]
                values = {r["metric"].get(label, "") for r in (await stack.query(http, expr.promql))["data"]["result"]}
                assert "UNKNOWN" not in values and "" not in values, f"{expr.where}: {values}"
                if label == "org":
                    assert stack.org in values

        # (b1) a healthy run pages nobody.
        paged = [a for a in stack.hooks.alerts if a["receiver"] == "pager"]
        assert paged == [], json.dumps(paged, indent=1)[:4000]

        # (b2) SIGKILL worker 0 three times within a minute while viewers keep its actors busy:
        # each time it is back (the supervisor restarts it) and has served a few seconds.
        killed_at = []
        for _ in range(KILLS):
            killed_at.append(time.monotonic())
            pid = stack.worker_pid(0)
            os.kill(pid, signal.SIGKILL)
            await stack.serving(http, 0, instead_of=pid)
            await traffic(stack, http, BUSY)
        assert killed_at[-1] - killed_at[0] < 60

        # The alerts reach the webhook (checked below, after the counts).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            churn = stack.hooks.firing("SidecarActorChurnHigh")
            looping = stack.hooks.firing("SidecarProcessCrashLooping")
            slow = stack.hooks.firing("SidecarConfigUpdateLatencyHigh")
            if churn and looping and any(a["labels"].get("target") == "slow" for a in slow):
                break
            await traffic(stack, http, 2)

        # Every churn the service logged is in Prometheus' increase over the alert window (and the
        # recorded whole number the alert reads), every crash restart in the process starts.
        churns = 'sum by (org, channel) (increase(ssai_actor_churn_total{job="sidecar"}[1h]))'
        crashes = 'sum by (job) (increase(ssai_process_starts_total{job="sidecar",reason="crash"}[1h]))'

        async def measured() -> tuple[dict[tuple[str, str], float], ...]:
            logged: dict[tuple[str, str], float] = {}
            for record in stack.logged("instance_churn"):
                key = (record["org"], record["channel"])
                logged[key] = logged.get(key, 0) + 1
            seen = {k: v for k, v in (await stack.by_channel(http, churns)).items() if v > 0}
            recorded = await stack.by_channel(http, "org_channel:ssai_actor_churn:increase1h > 0")
            result = (await stack.query(http, crashes))["data"]["result"]
            restarts = {("crash", "starts"): float(result[0]["value"][1]) if result else 0.0}
            return logged, seen, recorded, restarts

        def agree(logged: dict[Any, float], seen: dict[Any, float]) -> bool:
            return set(seen) == set(logged) and all(abs(seen[k] - logged[k]) <= 0.1 for k in logged)

        deadline = time.monotonic() + 30
        while True:
            logged, seen, recorded, restarts = await measured()
            kills = {("crash", "starts"): float(len(stack.logged("process_crash_detected")))}
            if (agree(logged, seen) and recorded == logged and agree(kills, restarts)) or time.monotonic() > deadline:
                break
            await traffic(stack, http, 1)
        print(f"churns logged {logged}; Prometheus increase {seen}; recorded {recorded}; crash restarts {restarts}")
        assert logged.get((stack.org, "sports1"), 0) >= KILLS, logged  # one churn per kill at least
        assert agree(logged, seen), (seen, logged)
        assert recorded == logged, "the alert reads the whole number"
        assert kills == {("crash", "starts"): KILLS} and agree(kills, restarts), (kills, restarts)

        churn = stack.hooks.firing("SidecarActorChurnHigh")
        assert churn, json.dumps(stack.hooks.alerts, indent=1)[:3000]
        # Through the one scrape endpoint, Prometheus saw worker 0's restarts (one per kill).
        worker_restarts = await stack.query(http, "sum by (worker) (ssai_worker_restarts_total)")
        by_worker = {r["metric"]["worker"]: float(r["value"][1]) for r in worker_restarts["data"]["result"]}
        assert by_worker.get("0") == KILLS and by_worker.get("1", 0.0) == 0.0, by_worker
        assert (stack.org, "sports1") in {(a["labels"]["org"], a["labels"]["channel"]) for a in churn}
        assert all(a["labels"]["severity"] == "warning" and a["receiver"] == "ticket" for a in churn)
        assert churn[0]["annotations"]["runbook_url"].endswith("#sidecaractorchurnhigh")
        looping = stack.hooks.firing("SidecarProcessCrashLooping")
        assert looping, json.dumps(stack.hooks.alerts, indent=1)[:3000]
        assert {a["labels"]["instance"] for a in looping} == {f"127.0.0.1:{stack.metrics}"}
        assert all(a["receiver"] == "ticket" for a in looping)
        slow = [a for a in stack.hooks.firing("SidecarConfigUpdateLatencyHigh") if a["labels"].get("target") == "slow"]
        assert slow, json.dumps(stack.hooks.alerts, indent=1)[:3000]
        assert not [
            a for a in stack.hooks.firing("SidecarConfigUpdateLatencyHigh") if a["labels"].get("target") == "fast"
        ], "the healthy target propagates in time"
