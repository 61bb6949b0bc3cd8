"""`sidecar dashboards push` on the command line: uploads, then clear errors without tracebacks."""

from __future__ import annotations

import subprocess

from tests.conftest import free_port, sidecar_cmd
from tests.observability.fake_grafana import FakeGrafana


def push(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sidecar_cmd("dashboards", "push", *args), capture_output=True, text=True, timeout=60)


def test_push_uploads_and_reports() -> None:
    with FakeGrafana() as grafana:
        ok = push("--url", grafana.url, "--token", "admin-token")
        assert ok.returncode == 0, ok.stderr
        assert "sidecar-overview" in ok.stdout and "created" in ok.stdout
        again = push("--url", grafana.url, "--token", "admin-token")
        assert again.returncode == 0 and "created" not in again.stdout, "a second push changes nothing"
        bad = push("--url", grafana.url, "--token", "wrong-token")
        assert bad.returncode != 0 and "401" in bad.stderr and "Traceback" not in bad.stderr


def test_unreachable_grafana_is_a_clear_error() -> None:
    gone = push("--url", f"http://127.0.0.1:{free_port()}", "--token", "t")
    assert gone.returncode != 0 and "Traceback" not in gone.stderr
    assert "127.0.0.1" in gone.stderr
