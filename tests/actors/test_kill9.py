"""An acknowledged cue is never lost: SIGKILL right after a 2xx, 50 times, 0 lost."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import aiohttp
import pytest

from sidecar.config.migrate import upgrade
from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from tests.conftest import ServiceProcess, sidecar_cmd

REPETITIONS = 50


@pytest.mark.slow
async def test_cue_acknowledged_then_sigkill_is_never_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kill9.db'}"
    upgrade(url)
    store = Store.from_url(url)
    org = await store.create_org("killtest", "Kill test")
    await store.create_channel(
        org.id, ChannelIn.model_validate({"slug": "sports1", "name": "S", "origin_url": "http://127.0.0.1:9/m.m3u8"})
    )
    _, token = await store.create_token(org.id, "operator")
    await store.close()
    auth = {"Authorization": f"Bearer {token}"}
    service = ServiceProcess({"SIDECAR_DATABASE_URL": url, "SIDECAR_AUTO_MIGRATE": "false"})
    lost: list[str] = []
    acknowledged = 0
    async with aiohttp.ClientSession() as http:
        await asyncio.to_thread(service.start)
        try:
            for i in range(REPETITIONS):
                cue = f"{service.admin}/admin/channels/sports1/cue"
                async with http.post(cue, json={"action": "stop"}, headers=auth) as resp:
                    assert resp.status == 200
                async with http.post(
                    cue, json={"action": "start", "duration": 300, "eventId": f"ev-{i}"}, headers=auth
                ) as resp:
                    assert resp.status == 201, await resp.text()
                    acked = await resp.json()
                acknowledged += 1
                service.kill()  # right after the 2xx
                await asyncio.to_thread(service.start)
                async with http.get(f"{service.admin}/admin/channels/sports1/break", headers=auth) as resp:
                    seen = await resp.json()
                if not (
                    seen["active"]
                    and seen["eventId"] == f"ev-{i}"
                    and seen["endsAt"] == acked["endsAt"]
                    and seen["version"] == acked["version"]
                ):
                    lost.append(f"ev-{i}: acked {acked} but the next process served {seen}")
        finally:
            service.stop()
    assert acknowledged == REPETITIONS
    assert lost == []


def test_cli_cue_start_and_stop_against_a_running_service(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)

    async def seed() -> str:
        store = Store.from_url(url)
        org = await store.create_org("demo", "Demo")
        await store.create_channel(
            org.id,
            ChannelIn.model_validate({"slug": "sports1", "name": "S", "origin_url": "http://127.0.0.1:9/m.m3u8"}),
        )
        _, token = await store.create_token(org.id, "operator")
        await store.close()
        return token

    token = asyncio.run(seed())
    service = ServiceProcess({"SIDECAR_DATABASE_URL": url})
    service.start()
    try:
        env = {**service.env, "SIDECAR_TOKEN": token}
        start = subprocess.run(
            sidecar_cmd("cue", "start", "--channel", "sports1", "--duration", "30", "--url", service.admin),
            env=env,
            capture_output=True,
            text=True,
        )
        assert start.returncode == 0, start.stderr
        assert '"active": true' in start.stdout
        bad = subprocess.run(
            sidecar_cmd("cue", "start", "--channel", "sports1", "--duration", "-3", "--url", service.admin),
            env=env,
            capture_output=True,
            text=True,
        )
        assert bad.returncode != 0 and "duration" in bad.stderr and "Traceback" not in bad.stderr
        stop = subprocess.run(
            sidecar_cmd("cue", "stop", "--channel", "sports1", "--url", service.admin),
            env=env,
            capture_output=True,
            text=True,
        )
        assert stop.returncode == 0 and '"active": false' in stop.stdout
        noauth = subprocess.run(
            sidecar_cmd("cue", "stop", "--channel", "sports1", "--url", service.admin),
            env={k: v for k, v in env.items() if k != "SIDECAR_TOKEN"},
            capture_output=True,
            text=True,
        )
        assert noauth.returncode != 0 and "token" in noauth.stderr
    finally:
        service.stop()
