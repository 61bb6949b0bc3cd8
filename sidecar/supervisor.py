"""``sidecar serve`` with ``SIDECAR_WORKERS`` > 1: a small supervisor over worker processes.

Each worker is a full service process sharing the viewer and admin ports (SO_REUSEPORT) and
owning a metrics port of its own (``SIDECAR_METRICS_LISTEN`` + index). Workers hold nothing that
is not also in PostgreSQL/Redis, so a crashed worker is simply started again; its actors'
successors find their state durable (and churn monitoring will say it happened).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from sidecar.settings import Settings
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.supervisor")
RESTART_BACKOFF = 1.0


def _spawn(index: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SIDECAR_WORKER_INDEX": str(index), "SIDECAR_AUTO_MIGRATE": "false"}
    return subprocess.Popen([sys.executable, "-m", "sidecar", "serve", "--no-migrate"], env=env)


def supervise(settings: Settings) -> int:
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    workers = {i: _spawn(i) for i in range(settings.workers)}
    last_start = {i: time.monotonic() for i in workers}
    log_event(log, "workers_started", f"Started {settings.workers} workers", workers=settings.workers)
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
                workers[index] = _spawn(index)
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
