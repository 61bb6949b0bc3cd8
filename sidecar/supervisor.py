"""``sidecar serve`` with ``SIDECAR_WORKERS`` > 1: a small supervisor over worker processes.

Each worker is a full service process sharing the viewer and admin ports (SO_REUSEPORT) and
serving its own /metrics on a private Unix socket; the supervisor answers the pod's one scrape
endpoint (``SIDECAR_METRICS_LISTEN``) with every worker's series, labelled ``worker`` (ADR 0014).
Workers hold nothing that is not also in PostgreSQL/Redis, so a crashed worker is simply started
again; its actors' successors find their state durable (and churn monitoring will say it happened).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sidecar.settings import Settings
from sidecar.telemetry import aggregate
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.supervisor")
RESTART_BACKOFF = 1.0


def _spawn(index: int, metrics_socket: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SIDECAR_WORKER_INDEX": str(index),
        "SIDECAR_AUTO_MIGRATE": "false",
        "SIDECAR_WORKER_METRICS_SOCKET": str(metrics_socket),
    }
    return subprocess.Popen([sys.executable, "-m", "sidecar", "serve", "--no-migrate"], env=env)


def supervise(settings: Settings) -> int:
    """Run the workers until SIGTERM/SIGINT. Raises OSError when the scrape endpoint cannot be
    bound (before any worker starts)."""
    address = settings.metrics_address
    assert address is not None, "workers > 1 always have a metrics address"
    runtime = Path(tempfile.mkdtemp(prefix="sidecar-workers-"))
    sockets = {i: runtime / f"worker-{i}.sock" for i in range(settings.workers)}
    try:
        server = aggregate.served(aggregate.registry(sockets), address.host, address.port)
    except OSError:
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    try:
        return _supervise(settings, sockets)
    finally:
        server.shutdown()
        shutil.rmtree(runtime, ignore_errors=True)


def _supervise(settings: Settings, sockets: dict[int, Path]) -> int:
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in sockets:
        m.worker_restarts_total.labels(str(index))  # every worker's series exists from the start
    workers = {i: _spawn(i, sockets[i]) for i in sockets}
    last_start = {i: time.monotonic() for i in workers}
    log_event(
        log,
        "workers_started",
        f"Started {settings.workers} workers; /metrics for all of them on {settings.metrics_address}",
        workers=settings.workers,
    )
    try:
        while not stopping:
            time.sleep(0.2)
            for index, proc in list(workers.items()):
                code = proc.poll()
                if code is None or stopping:
                    continue
                log_event(
                    log,
                    "worker_exited",
                    f"Worker {index} exited with {code}; restarting",
                    level=logging.WARNING,
                    worker=index,
                    code=code,
                )
                time.sleep(max(0.0, RESTART_BACKOFF - (time.monotonic() - last_start[index])))
                workers[index] = _spawn(index, sockets[index])
                m.worker_restarts_total.labels(str(index)).inc()
                last_start[index] = time.monotonic()
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in workers.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0
