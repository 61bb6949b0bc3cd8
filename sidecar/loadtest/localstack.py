"""A local stack to load: origin, ``sidecar serve``, ``sidecar probe`` and Prometheus, then
``sidecar loadtest`` against it, then everything stopped again.

``python -m sidecar.loadtest.localstack [stack options] -- [loadtest options]``

It is how ``docs/loadtest/`` was made, and a quick way to see the whole loop (server KPIs from
Prometheus, the probe's series, alerts) without Docker. Every process gets free ports and a
scratch directory; the load test is given the URLs, the token, every worker's ``/metrics``,
Prometheus and the supervisor's PID file (so ``--restart-every`` can kill workers). Prometheus
scrapes and evaluates the project's rules (``alerts/``) every second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = (ROOT / "alerts" / "sidecar-rules.yml", ROOT / "alerts" / "sidecar-alerts.yml")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own local URL
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def wait_scraped(prometheus: str, targets: int, timeout: float = 30.0) -> None:
    """Until every target has been scraped (Prometheus applies new targets only every 5 s)."""
    query = urllib.parse.quote("count(up == 1)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{prometheus}/api/v1/query?query={query}", timeout=2) as resp:  # noqa: S310
            result = json.loads(resp.read())["data"]["result"]
        if result and float(result[0]["value"][1]) >= targets:
            return
        time.sleep(0.25)
    raise RuntimeError(f"Prometheus did not scrape all {targets} targets within {timeout:g} s")


def prometheus_config(metrics: int, probe: int, rules: tuple[Path, ...]) -> str:
    targets = f"'127.0.0.1:{metrics}'"
    rule_lines = "\n".join(f"  - {r}" for r in rules)
    return f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
{rule_lines}
scrape_configs:
  - job_name: sidecar
    honor_labels: true
    static_configs:
      - targets: [{targets}]
        labels:
          colo: LOCAL
  - job_name: sidecar-probe
    static_configs:
      - targets: ['127.0.0.1:{probe}']
"""


@dataclass(frozen=True)
class Endpoints:
    """Where the started stack listens, and what the load test needs to know about it."""

    token: str
    origin: str
    viewer: str
    admin: str
    metrics: tuple[str, ...]
    prometheus: str | None
    pid_file: Path

    def loadtest_args(self, extra: list[str]) -> list[str]:
        args = ["--viewer-url", self.viewer, "--admin-url", self.admin, "--origin", self.origin]
        for url in self.metrics:
            args += ["--metrics-url", url]
        if self.prometheus:
            args += ["--prometheus", self.prometheus]
        if "--restart-every" in extra and "--restart-cmd" not in extra:
            args += ["--kill-worker-of", str(self.pid_file)]
        return [*args, *extra]


class Stack:
    """Processes started in order and stopped in reverse; logs go to the scratch directory."""

    def __init__(self, scratch: Path, env: dict[str, str]) -> None:
        self.scratch = scratch
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.scratch / f"{name}.log").open("wb")
        proc = subprocess.Popen(args, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@contextmanager
def running(opts: argparse.Namespace, scratch: Path) -> Iterator[Endpoints]:
    sidecar = [sys.executable, "-m", "sidecar"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    env["SIDECAR_DATABASE_URL"] = opts.database_url or f"sqlite:///{scratch}/sidecar.db"
    if opts.redis_url:
        env["SIDECAR_REDIS_URL"] = opts.redis_url
    stack = Stack(scratch, env)
    try:
        origin_port = free_port()
        origin = stack.start("origin", [*sidecar, "origin", "--port", str(origin_port), *opts.origin_args])
        origin_url = f"http://127.0.0.1:{origin_port}"
        env["SIDECAR_URL_ALLOW"] = f"127.0.0.1:{origin_port}"  # the URL policy denies loopback by default
        wait_http(origin_url + "/", origin)
        seeded = subprocess.run(
            [*sidecar, "seed", "--origin-url", origin_url], env=env, capture_output=True, text=True, check=False
        )
        if seeded.returncode:
            raise RuntimeError(f"sidecar seed failed: {seeded.stderr[-2000:]}")
        token = seeded.stdout.strip()
        viewer, admin, metrics = free_port(), free_port(), free_port()
        serve_env = {
            "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}",
            "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}",
            "SIDECAR_WORKERS": str(opts.workers),
            "SIDECAR_INSTANCE_SLOT": "loadtest",
        }
        # One scrape endpoint whatever the number of workers (ADR 0014): the admin port's, or
        # with several workers the supervisor's SIDECAR_METRICS_LISTEN (series labelled worker).
        metrics_port = admin
        if opts.workers > 1:
            serve_env["SIDECAR_METRICS_LISTEN"] = f"127.0.0.1:{metrics}"
            metrics_port = metrics
        serve = stack.start("serve", [*sidecar, "serve", "--no-migrate"], serve_env)
        pid_file = scratch / "serve.pid"
        pid_file.write_text(f"{serve.pid}\n")
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics", serve)
        wait_http(f"http://127.0.0.1:{admin}/readyz", serve)
        probe_port = free_port()
        probe = stack.start(
            "probe",
            [
                *sidecar,
                "probe",
                "--target",
                f"LOCAL=http://127.0.0.1:{viewer}",
                "--admin-url",
                f"http://127.0.0.1:{admin}",
                "--listen",
                f"127.0.0.1:{probe_port}",
                "--interval",
                str(opts.probe_interval),
                "--timeout",
                "5",
                "--channel",
                "demo/sports1",
            ],
            {"SIDECAR_TOKEN": token},
        )
        wait_http(f"http://127.0.0.1:{probe_port}/metrics", probe)
        prometheus_url = None
        binary = shutil.which("prometheus")
        if binary and not opts.no_prometheus:
            prom_port = free_port()
            config = scratch / "prometheus.yml"
            config.write_text(prometheus_config(metrics_port, probe_port, RULES))
            prom = stack.start(
                "prometheus",
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={scratch / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
            )
            prometheus_url = f"http://127.0.0.1:{prom_port}"
            wait_http(prometheus_url + "/-/ready", prom)
            wait_scraped(prometheus_url, 2)
        time.sleep(opts.warmup)  # a few scrapes and probe rounds before the load starts
        yield Endpoints(
            token=token,
            origin=origin_url,
            viewer=f"http://127.0.0.1:{viewer}",
            admin=f"http://127.0.0.1:{admin}",
            metrics=(f"http://127.0.0.1:{metrics_port}/metrics",),
            prometheus=prometheus_url,
            pid_file=pid_file,
        )
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    loadtest_args: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, loadtest_args = args[:at], args[at + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.loadtest.localstack", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--workers", type=int, default=1, help="sidecar serve workers (more than 1 needs Redis)")
    parser.add_argument("--database-url", default=None, help="SQL store (default: SQLite in the scratch dir)")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--probe-interval", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="Seconds between stack start and load")
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory (logs, TSDB)")
    parser.add_argument(
        "--origin-args",
        default="--segment-duration 2 --break-interval 20 --break-duration 8",
        help="Options of `sidecar origin`",
    )
    opts = parser.parse_args(args)
    opts.origin_args = opts.origin_args.split()
    scratch = Path(tempfile.mkdtemp(prefix="sidecar-localstack-"))
    try:
        with running(opts, scratch) as stack:
            command = [sys.executable, "-m", "sidecar", "loadtest", *stack.loadtest_args(loadtest_args)]
            env = {**os.environ, "SIDECAR_TOKEN": stack.token}
            return subprocess.run(command, env=env, check=False).returncode
    finally:
        if opts.keep:
            print(f"scratch directory kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
