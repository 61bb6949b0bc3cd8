"""Variant-endpoint throughput with a break active, against the from-memory ceiling.

Same machine, same load client (wrk), server and client pinned to different cores:

* baseline: an aiohttp handler returning the same playlist bytes from memory;
* sidecar: ``GET /{org}/{channel}/{variant}.m3u8?mode=ssai`` on ``sidecar serve`` (metrics on,
  SQLite, no Redis) while an ad break is stitched into the window.

Also reports the render cost (parse + splice + write) of a typical 8-segment window.

    .venv/bin/python -m bench.manifest_throughput [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.environment import write_result
from tests.conftest import free_port, wait_http

RESULTS = Path(__file__).parent / "results" / "manifest_throughput.json"
ROUNDS = 5
ROOT = Path(__file__).resolve().parent.parent

BASELINE = """
import json, sys
from aiohttp import web
body = open(sys.argv[1], "rb").read()
headers = json.loads(open(sys.argv[1] + ".headers").read())
async def handler(request):
    return web.Response(body=body, headers=headers)
app = web.Application()
app.router.add_get("/{tail:.*}", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None)
"""


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(pinned(1, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]),
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)  # type: ignore[union-attr]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_second": rps, "p50_ms": ms("50"), "p99_ms": ms("99"),
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def render_cost_us() -> float:
    """parse + splice + write of an 8-segment window with a break in it (median of many)."""
    from sidecar.hls.parse import parse_media
    from sidecar.hls.splice import BreakPlan, PlanItem, render_ssai
    from sidecar.hls.write import render_media

    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:100"]
    for n in range(100, 108):
        if n == 104:
            lines.append("#EXT-X-CUE-OUT:DURATION=30")
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{(start + timedelta(seconds=4 * n)).strftime('%Y-%m-%dT%H:%M:%S.000Z')}",
                  "#EXTINF:4.000,", f"https://origin.test/v/{n}.ts"]
    text = "\n".join(lines) + "\n"
    items = tuple(PlanItem(4.0, ((800_000, f"https://ads.test/{i}.ts"),), i == 0) for i in range(8))
    plan = BreakPlan("b", start + timedelta(seconds=416), 30.0, items)
    samples = []
    for _ in range(2000):
        t = time.perf_counter()
        render_media(render_ssai(parse_media(text), [plan], bandwidth=800_000, target_duration=4).playlist)
        samples.append(time.perf_counter() - t)
    return round(statistics.median(samples) * 1e6, 1)


@contextlib.contextmanager
def service_with_break(extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """Origin + ``sidecar serve`` (pinned to CPU 0) with an ad break in the window.
    Yields (variant URL, its current bytes, its response headers)."""
    tmp = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    env = {**os.environ, "SIDECAR_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "SIDECAR_LOG_LEVEL": "WARNING",
           **(extra_env or {})}
    origin_port, viewer, admin = free_port(), free_port(), free_port()
    env.update({"SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}", "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
                "SIDECAR_URL_ALLOW": f"127.0.0.1:{origin_port}"})  # the URL policy denies loopback by default
    try:
        procs.append(subprocess.Popen(pinned(1, [sys.executable, "-m", "sidecar", "origin", "--port", str(origin_port),
                                                 "--cues", "none"]), env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{origin_port}/live/sports1/master.m3u8")
        subprocess.run([sys.executable, "-m", "sidecar", "migrate"], env=env, check=True, capture_output=True)
        seed = (
            "import asyncio,sys\n"
            "from sidecar.config.store import Store\n"
            "from sidecar.demo import seed\n"
            "from sidecar.origin import OriginConfig\n"
            "async def go():\n"
            "    s = Store.from_url(sys.argv[1]); i = await seed(s, sys.argv[2], OriginConfig()); await s.close()\n"
            "    print(i.token)\n"
            "asyncio.run(go())\n"
        )
        token = subprocess.run([sys.executable, "-c", seed, env["SIDECAR_DATABASE_URL"],
                                f"http://127.0.0.1:{origin_port}"], env=env, check=True, capture_output=True,
                               text=True).stdout.strip()
        procs.append(subprocess.Popen(pinned(0, [sys.executable, "-m", "sidecar", "serve"]), env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{admin}/healthz")
        req = urllib.request.Request(f"http://127.0.0.1:{admin}/admin/channels/sports1/cue", method="POST",
                                     data=json.dumps({"action": "start", "duration": 600}).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        url = f"http://127.0.0.1:{viewer}/demo/sports1/800k.m3u8?mode=ssai"
        time.sleep(9)  # let the break's first ad segments reach the window
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = resp.read()
            hop = ("date", "server", "content-length", "connection", "keep-alive", "transfer-encoding")
            headers = {k: v for k, v in resp.headers.items() if k.lower() not in hop}
        assert b"/ads/" in body, "the benchmark needs a break in the window"
        yield url, body, headers
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main(seconds: int, connections: int) -> dict[str, object]:
    with service_with_break() as (url, body, headers):
        # The baseline answers the same bytes with the same headers, from memory.
        tmp = Path(tempfile.mkdtemp(prefix="sidecar-baseline-"))
        (tmp / "playlist.m3u8").write_bytes(body)
        (tmp / "playlist.m3u8.headers").write_text(json.dumps(headers))
        base_port = free_port()
        baseline_proc = subprocess.Popen(pinned(0, [sys.executable, "-c", BASELINE, str(tmp / "playlist.m3u8"),
                                                    str(base_port)]), stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{base_port}/x")
            base_url = f"http://127.0.0.1:{base_port}/demo/sports1/800k.m3u8"
            wrk(url, 2, connections)  # warm-up
            wrk(base_url, 2, connections)
            # Alternate the two, several rounds: the machine's noise hits both alike.
            rounds = [(wrk(url, seconds, connections), wrk(base_url, seconds, connections)) for _ in range(ROUNDS)]
            ratios = sorted(s["requests_per_second"] / b["requests_per_second"] for s, b in rounds)
            sidecar, baseline = sorted(rounds, key=lambda r: r[0]["requests_per_second"] / r[1]["requests_per_second"])[
                ROUNDS // 2
            ]
        finally:
            baseline_proc.terminate()
            baseline_proc.wait(timeout=10)
            shutil.rmtree(tmp, ignore_errors=True)
    return {
        "seconds": seconds, "connections": connections,
        "baseline_from_memory": baseline, "sidecar_variant_with_break": sidecar,
        "ratio_requests_per_second": round(statistics.median(ratios), 3),
        "ratio_per_round": [round(r, 3) for r in ratios],
        "render_8_segment_window_us": render_cost_us(),
        "playlist_bytes": len(body),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=6, help="per round (5 alternating rounds)")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    result = main(args.seconds, args.connections)
    write_result(RESULTS, result)
