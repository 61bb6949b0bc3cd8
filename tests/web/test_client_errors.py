"""Requests that are not valid HTTP are one WARNING line per peer per minute, no traceback.

aiohttp logs each one as an ERROR with a traceback: anyone who can reach a port could fill the
disk. Raw sockets send oversized request lines and broken headers to a real ``sidecar serve``,
from two peer addresses; the log and a /metrics scrape are read afterwards.
"""

from __future__ import annotations

import json
import socket
import urllib.request

from tests.conftest import ServiceProcess

REPEATS = 10


def _send(port: int, payload: bytes, source: str) -> int:
    """The status of the answer to raw ``payload`` sent from ``source``."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return int(b"".join(chunks).split(b" ", 2)[1])


def test_malformed_requests_are_one_warning_per_peer(sqlite_url: str) -> None:
    service = ServiceProcess({"SIDECAR_DATABASE_URL": sqlite_url})
    service.start()
    try:
        long_line = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        bad_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"
        for port in (service.admin_port, service.viewer_port):
            for _ in range(REPEATS):
                assert _send(port, long_line, "127.0.0.1") == 400
                assert _send(port, bad_header, "127.0.0.1") == 400
        assert _send(service.admin_port, long_line, "127.0.0.3") == 400  # another peer
        with urllib.request.urlopen(f"{service.admin}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    finally:
        service.stop()
    lines = [json.loads(line) for line in service.output.splitlines() if line.startswith("{")]
    rejected = [line for line in lines if line.get("event") == "http_client_error"]
    assert [(r["level"], r["peer"]) for r in rejected] == [("warning", "127.0.0.1"), ("warning", "127.0.0.3")]
    assert rejected[0]["reason"] == "line_too_long" and rejected[0]["status"] == 400
    assert "exc" not in rejected[0] and "Traceback" not in service.output
    assert not [line for line in lines if line["level"] == "error"]
    assert len(rejected[0]["msg"]) < 400, "the offending bytes are not echoed whole"
    counts = {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("ssai_http_client_errors_total{")
    }
    assert counts.get("line_too_long") == 2 * REPEATS + 1, counts
    assert sum(counts.values()) == 4 * REPEATS + 1, counts
