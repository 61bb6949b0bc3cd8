"""The README's run command works: `sidecar demo` serves demo/sports1 from the synthetic origin."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port, sidecar_cmd


def test_demo_serves_a_playable_channel_at_once(tmp_path: Path) -> None:
    viewer, admin, origin = free_port(), free_port(), free_port()
    # No URL allow list: the demo allows its own origin (loopback is denied by default).
    env = {k: v for k, v in os.environ.items() if k != "SIDECAR_URL_ALLOW"}
    env |= {"SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db",
           "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{viewer}", "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{admin}"}
    log = (tmp_path / "demo.log").open("w+")
    proc = subprocess.Popen(sidecar_cmd("demo", "--origin-port", str(origin)), env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        master = None
        while master is None:
            assert time.monotonic() < deadline and proc.poll() is None, Path(log.name).read_text()[-3000:]
            match = re.search(r"master playlist : (\S+)", Path(log.name).read_text())
            master = match.group(1) if match else None
            time.sleep(0.2)
        with urllib.request.urlopen(master, timeout=10) as resp:
            text = resp.read().decode()
        assert resp.status == 200 and "#EXT-X-STREAM-INF" in text
        variant = master.rsplit("/", 1)[0] + "/" + next(line for line in text.splitlines() if line.endswith(
            "mode=ssai"))
        with urllib.request.urlopen(variant, timeout=10) as resp:
            assert "#EXTINF" in resp.read().decode()
        assert re.search(r"admin token\s+: sct_tok_", Path(log.name).read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0, Path(log.name).read_text()[-2000:]
