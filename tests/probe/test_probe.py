"""``sidecar probe`` against the real service and a real (real-time) synthetic origin.

What a healthy service looks like on the probe's /metrics (propagation observed per target,
well under the 1 s KPI; validity checks all ok), and what each failure looks like: a target
whose manifests never show the change counts timeouts, and invalid playlists count failures by
reason. The metrics are read over HTTP from the probe's own /metrics, as Prometheus does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from sidecar.origin import OriginConfig, build_origin_app
from sidecar.probe.config import ProbeConfig, Target
from sidecar.probe.runner import Probe, start_metrics_server
from tests.conftest import ServiceProcess, Stack, Tenant, free_port, make_tenant, sidecar_cmd, start_stack


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@dataclass
class Live:
    stack: Stack
    origin: TestServer
    tenant: Tenant

    @property
    def origin_base(self) -> str:
        return f"http://127.0.0.1:{self.origin.port}"

    @property
    def viewer(self) -> str:
        return f"http://127.0.0.1:{self.stack.viewer.port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.stack.admin.port}"

    async def channel(self, slug: str) -> None:
        resp = await self.stack.admin.post(
            "/admin/channels",
            json={
                "slug": slug,
                "name": "Probe test",
                "originUrl": f"{self.origin_base}/live/{slug}/master.m3u8",
                "scte35AutoInsert": True,
            },
            headers=self.tenant.auth,
        )
        assert resp.status == 201, await resp.text()


@pytest.fixture
async def live(sqlite_url: str) -> AsyncIterator[Live]:
    # Real time: 2 s segments, a 4 s break every 12 s of wall clock.
    origin = TestServer(
        build_origin_app(OriginConfig(segment_duration=2.0, window=6, break_interval=12.0, break_duration=4.0)),
        host="127.0.0.1",
    )
    await origin.start_server()
    stack = await start_stack(database_url=sqlite_url)
    tenant = await make_tenant(stack.svc.store, role="editor")
    yield Live(stack, origin, tenant)
    await stack.close()
    await origin.close()


async def run_probe(config: ProbeConfig, seconds: float) -> str:
    """Run the probe for ``seconds`` and return its /metrics as Prometheus would scrape it."""
    runner, port = await start_metrics_server("127.0.0.1", 0)
    task = asyncio.create_task(Probe(config).run())
    try:
        await asyncio.sleep(seconds)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            return await resp.text()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.cleanup()


async def test_healthy_service_propagates_fast_and_serves_valid_playlists(live: Live) -> None:
    await live.channel("sports")
    target = f"live-{secrets.token_hex(3)}"
    config = ProbeConfig(
        targets=(Target(target, live.viewer),),
        admin_url=live.admin,
        token=live.tenant.token,
        channels=((live.tenant.org_slug, "sports"),),
        interval=0.5,
        timeout=2.0,
        poll_interval=0.02,
        canary_origin=f"{live.origin_base}/live/canary/master.m3u8",
        validity_interval=0.5,
    )
    text = await run_probe(config, 3.5)

    count = value(text, "ssai_probe_config_propagation_seconds_count", target=target)
    assert count >= 4, "a change every 0.5 s, each seen on the target"
    under_kpi = value(text, "ssai_probe_config_propagation_seconds_bucket", target=target, le="1.0")
    assert under_kpi == count, "every change visible within the 1 s KPI"
    assert value(text, "ssai_probe_propagation_timeouts_total", target=target) == 0
    channel = f"{live.tenant.org_slug}/sports"
    ok = value(text, "ssai_probe_manifest_checks_total", channel=channel, result="ok")
    assert ok >= 2 * 2 * 3, "2 modes x 2 variants, every 0.5 s (about 7 rounds)"
    assert value(text, "ssai_probe_manifest_checks_total", channel=channel, result="failed") == 0
    # Zeros are exported for every reason, so increase() works before the first failure.
    assert f'ssai_probe_manifest_failures_total{{channel="{channel}",reason="markers"}} 0.0' in text
    # The probe created its canary through the admin API, and changed it on every round.
    canary = await live.stack.admin.get("/admin/channels/probe-canary", headers=live.tenant.auth)
    assert canary.status == 200
    assert (await canary.json())["channel"]["version"] >= count


def broken_target() -> web.Application:
    """A viewer endpoint gone wrong: stale config forever, and one bad variant per failure reason."""
    reloads: dict[str, int] = {}

    def media(first: int, tags: dict[int, str] | None = None) -> str:
        lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for n in range(first, first + 3):
            lines += [
                (tags or {}).get(n, ""),
                f"#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:{n * 2:02d}Z",
                "#EXTINF:2.0,",
                f"s{n}.ts",
            ]
        return "\n".join(line for line in lines if line) + "\n"

    async def handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        reloads[name] = reloads.get(name, 0) + 1
        headers = {"X-Config-Version": "1"}
        if name == "master":
            body = "#EXTM3U\n" + "".join(
                f"#EXT-X-STREAM-INF:BANDWIDTH={800_000 + i}\n{v}.m3u8\n"
                for i, v in enumerate(("garbage", "back", "markers", "gone"))
            )
        elif name == "garbage":
            body = "<html>not a playlist</html>"
        elif name == "back":  # media sequence goes back on every other reload
            body = media(10 if reloads[name] % 2 else 5)
        elif name == "markers":  # CONT after the break ended
            body = media(10, {10: "#EXT-X-CUE-OUT:4", 11: "#EXT-X-CUE-IN", 12: "#EXT-X-CUE-OUT-CONT:4/4"})
        else:
            return web.Response(status=404, text="gone", headers=headers)
        return web.Response(text=body, content_type="application/vnd.apple.mpegurl", headers=headers)

    app = web.Application()
    app.router.add_get("/{org}/{channel}/{name}.m3u8", handler)
    return app


async def test_stale_target_times_out_and_invalid_playlists_fail_by_reason(live: Live) -> None:
    await live.channel("sports")
    broken = TestServer(broken_target(), host="127.0.0.1")
    await broken.start_server()
    try:
        target = f"stale-{secrets.token_hex(3)}"
        config = ProbeConfig(
            targets=(Target(target, f"http://127.0.0.1:{broken.port}"),),
            admin_url=live.admin,
            token=live.tenant.token,
            channels=((live.tenant.org_slug, "sports"),),
            interval=0.4,
            timeout=0.6,
            poll_interval=0.05,
            canary_origin=f"{live.origin_base}/live/canary/master.m3u8",
            modes=("ssai",),
            validity_interval=0.3,
        )
        text = await run_probe(config, 2.5)
    finally:
        await broken.close()

    assert value(text, "ssai_probe_propagation_timeouts_total", target=target) >= 2
    assert value(text, "ssai_probe_config_propagation_seconds_count", target=target) == 0
    channel = f"{live.tenant.org_slug}/sports"
    for reason in ("fetch", "parse", "msn", "markers"):
        assert value(text, "ssai_probe_manifest_failures_total", channel=channel, reason=reason) >= 1, reason
    for reason in ("dsn", "pdt", "target_duration"):
        assert value(text, "ssai_probe_manifest_failures_total", channel=channel, reason=reason) == 0, reason
    failed = value(text, "ssai_probe_manifest_checks_total", channel=channel, result="failed")
    assert failed == value(text, "ssai_probe_manifest_failures_total", channel=channel), "one reason per failure"


async def test_the_cli_serves_metrics_logs_json_and_stops_on_sigterm(sqlite_url: str) -> None:
    """`sidecar probe` as a process beside `sidecar serve`: discovery of the org's channels."""
    origin = TestServer(build_origin_app(OriginConfig(segment_duration=2.0)), host="127.0.0.1")
    await origin.start_server()
    service = ServiceProcess({"SIDECAR_DATABASE_URL": sqlite_url})
    await asyncio.to_thread(service.start)
    probe: asyncio.subprocess.Process | None = None
    try:
        from sidecar.config.store import Store

        store = Store.from_url(sqlite_url)
        tenant = await make_tenant(store, role="editor")
        await store.close()
        async with aiohttp.ClientSession() as http:
            resp = await http.post(
                f"{service.admin}/admin/channels",
                headers=tenant.auth,
                json={
                    "slug": "news",
                    "name": "News",
                    "originUrl": f"http://127.0.0.1:{origin.port}/live/news/master.m3u8",
                },
            )
            assert resp.status == 201, await resp.text()
            port = free_port()
            probe = await asyncio.create_subprocess_exec(
                *sidecar_cmd(
                    "probe",
                    "--target",
                    service.viewer,
                    "--admin-url",
                    service.admin,
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--interval",
                    "0.5",
                    "--validity-interval",
                    "0.5",
                ),
                env={**os.environ, "SIDECAR_TOKEN": tenant.token},
                stderr=subprocess.PIPE,
            )
            text = ""
            deadline = time.monotonic() + 15
            channel = f"{tenant.org_slug}/news"
            while time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                        text = await r.text()
                if (
                    value(text, "ssai_probe_config_propagation_seconds_count", target=service.viewer) >= 2
                    and value(text, "ssai_probe_manifest_checks_total", channel=channel, result="ok") >= 4
                ):
                    break
            else:
                raise AssertionError(f"probe metrics never showed propagation and checks:\n{text}")
        probe.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(probe.communicate(), timeout=10)
        assert probe.returncode == 0
        records = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
        events = {r.get("event") for r in records}
        assert {"probe_started", "probe_canary_created", "probe_propagated", "probe_stopped"} <= events, events
        assert value(text, "ssai_probe_manifest_checks_total", channel=channel, result="failed") == 0
    finally:
        if probe is not None and probe.returncode is None:
            probe.kill()
            await probe.wait()
        await asyncio.to_thread(service.stop)
        await origin.close()
