"""The local-stack script that made docs/loadtest/: `sidecar seed`, serve, probe, load test, stop."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import sidecar_cmd


def test_seed_writes_a_private_token_file(tmp_path: Path) -> None:
    env = {**os.environ, "SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/seed.db"}
    token_file = tmp_path / "token"
    for _ in range(2):  # re-running refreshes the demo rather than failing on existing slugs
        proc = subprocess.run(
            sidecar_cmd("seed", "--origin-url", "http://127.0.0.1:9", "--token-file", str(token_file)),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    assert token_file.read_text().startswith("sct_tok_")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_localstack_runs_a_load_test_and_stops_everything(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar.loadtest.localstack",
            "--no-prometheus",
            "--warmup",
            "0.5",
            "--keep",
            "--",
            "--duration",
            "2",
            "--viewers",
            "4",
            "--channels",
            "2",
            "--cue-every",
            "0",
            "--config-every",
            "0",
            "--no-progress",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["client"]["overall"]["ok"] >= 4 and summary["client"]["overall"]["errors"] == 0
    assert summary["server_scraped"]["client_matches_server"] is True
    assert summary["run"]["org"] == "demo" and summary["run"]["channels"] == ["lt0", "lt1"]
    scratch = Path(proc.stderr.rsplit("scratch directory kept: ", 1)[1].strip())
    try:
        supervisor = int((scratch / "serve.pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(supervisor, 0)  # stopped and reaped
        assert "probe_started" in (scratch / "probe.log").read_text()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
