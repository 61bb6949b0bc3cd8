"""One scrape endpoint for all worker processes of ``sidecar serve`` (ADR 0014).

Each worker serves its own ``/metrics`` on a Unix socket only the supervisor talks to. At every
scrape of the pod's endpoint (``SIDECAR_METRICS_LISTEN``) the supervisor reads every worker's
exposition in OpenMetrics (so exemplars survive), adds a ``worker`` label to each sample and
answers with the union, families merged. Nothing is summed here: each worker's counters stay
its own series, so a worker that restarts is a counter reset of *its* series, which ``rate()``
and ``increase()`` handle, and sums across workers stay exact in PromQL. A worker that does not
answer (restarting) is simply absent from that scrape, and ``ssai_worker_up`` says so.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from sidecar.telemetry import catalogue as m

WORKER_LABEL = "worker"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def fetch(path: Path, timeout: float) -> str | None:
    """One worker's exposition in OpenMetrics, or None if it does not answer (restarting)."""
    conn = _UnixConnection(path, timeout)
    try:
        conn.request("GET", "/metrics", headers={"Accept": OPENMETRICS})
        resp = conn.getresponse()
        body = resp.read().decode()
        return body if resp.status == 200 else None
    except (OSError, http.client.HTTPException, UnicodeDecodeError):
        return None
    finally:
        conn.close()


def merge(expositions: Mapping[str, str]) -> list[Metric]:
    """Families of every worker's exposition, each sample labelled with its worker. Families
    keep the order they first appear in; samples keep each worker's order, worker by worker."""
    families: dict[str, Metric] = {}
    for worker, text in expositions.items():
        for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                merged.samples.append(sample._replace(labels={WORKER_LABEL: worker, **sample.labels}))
    return list(families.values())


class WorkerMetrics(Collector):
    """The collector behind the pod's endpoint: the supervisor's own series, then the workers'."""

    def __init__(self, sockets: Mapping[int, Path], timeout: float = 5.0) -> None:
        self.sockets = dict(sockets)
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=min(16, max(1, len(self.sockets))), thread_name_prefix="scrape")

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check for clashes at registration; workers' names vary with traffic

    def collect(self) -> Iterable[Metric]:
        indexes = sorted(self.sockets)
        texts = list(self._pool.map(lambda i: fetch(self.sockets[i], self.timeout), indexes))
        answered: dict[str, str] = {}
        for index, text in zip(indexes, texts, strict=True):
            m.worker_up.labels(str(index)).set(0 if text is None else 1)
            if text is not None:
                answered[str(index)] = text
        yield from m.supervisor_registry.collect()
        yield from merge(answered)


def registry(sockets: Mapping[int, Path], timeout: float = 5.0) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(WorkerMetrics(sockets, timeout))
    return reg


def served(reg: CollectorRegistry, host: str, port: int) -> Any:
    """Serve ``reg`` on HOST:PORT from a daemon thread (content negotiation, gzip: the client
    library's own server); returns the server, whose ``shutdown()`` stops it."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, host, registry=reg)
    return server
