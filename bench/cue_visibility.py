"""Cue-to-visible latency across two processes (issue: location hints without split state).

Two ``sidecar serve`` processes share PostgreSQL and Redis, in colos SJC and LHR. A cue is
accepted by SJC's admin API; we poll LHR until its instance serves the new break. Measured
twice in the same run: with Redis pub/sub (the normal path) and with Redis unreachable for the
reader (the version-check backstop, checked at most every SIDECAR_ACTOR_VERSION_CHECK_SECONDS).

    .venv/bin/python -m bench.cue_visibility [--cues 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import aiohttp

from bench.environment import write_result
from sidecar.config.migrate import upgrade
from sidecar.config.models import ChannelIn
from sidecar.config.store import Store
from tests.conftest import REDIS_URL, ServiceProcess, _pg_exec, free_port

RESULTS = Path(__file__).parent / "results" / "cue_visibility.json"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(writer: ServiceProcess, reader: ServiceProcess, token: str, cues: int) -> list[float]:
    auth = {"Authorization": f"Bearer {token}"}
    latencies = []
    async with aiohttp.ClientSession() as http:
        for i in range(cues):
            event = f"bench-{time.time_ns()}-{i}"
            async with http.post(f"{writer.admin}/admin/channels/sports1/cue", json={"action": "stop"},
                                 headers=auth) as resp:
                assert resp.status == 200
            started = time.perf_counter()
            async with http.post(f"{writer.admin}/admin/channels/sports1/cue",
                                 json={"action": "start", "duration": 60, "eventId": event}, headers=auth) as resp:
                assert resp.status == 201, await resp.text()
            while True:
                async with http.get(f"{reader.admin}/admin/channels/sports1/break", headers=auth) as resp:
                    seen = await resp.json()
                if seen.get("eventId") == event:
                    latencies.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 10:
                    raise RuntimeError("cue never became visible")
    return latencies


async def main(cues: int) -> dict[str, object]:
    name = f"sidecar_bench_{int(time.time())}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        store = Store.from_url(url)
        org = await store.create_org("bench", "Bench")
        await store.create_channel(org.id, ChannelIn.model_validate(
            {"slug": "sports1", "name": "S", "origin_url": "http://127.0.0.1:9/m.m3u8"}))
        _, token = await store.create_token(org.id, "operator")
        await store.close()
        report: dict[str, object] = {"cues": cues}
        dead_redis = f"redis://127.0.0.1:{free_port()}/0"
        for label, reader_redis in (("bus", REDIS_URL), ("version_check", dead_redis)):
            common = {"SIDECAR_DATABASE_URL": url, "SIDECAR_AUTO_MIGRATE": "false"}
            writer = ServiceProcess({**common, "SIDECAR_REDIS_URL": REDIS_URL, "SIDECAR_COLO": "SJC"})
            reader = ServiceProcess({**common, "SIDECAR_REDIS_URL": reader_redis, "SIDECAR_COLO": "LHR"})
            writer.start()
            reader.start()
            try:
                values = await measure(writer, reader, token, cues)
            finally:
                writer.stop()
                reader.stop()
            report[label] = {"p50_ms": round(pct(values, 0.5) * 1000, 2), "p99_ms": round(pct(values, 0.99) * 1000, 2),
                             "mean_ms": round(statistics.mean(values) * 1000, 2)}
        bus, check = report["bus"], report["version_check"]
        report["ratio_version_check_to_bus_p50"] = round(check["p50_ms"] / bus["p50_ms"], 1)  # type: ignore[index]
        return report
    finally:
        _pg_exec(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        _pg_exec(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cues", type=int, default=50)
    result = asyncio.run(main(parser.parse_args().cues))
    write_result(RESULTS, result)
