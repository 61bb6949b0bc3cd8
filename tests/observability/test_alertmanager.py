"""Alertmanager routing and inhibition, with amtool and with a real Alertmanager process.

amtool proves which receiver each alert reaches; the real Alertmanager (started here with
the config rendered for a local webhook and 1 s timings, the way an end-to-end test would)
proves the inhibition rules and that notifications arrive at the templated receiver URLs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import alertmanager
from tests.conftest import free_port
from tests.observability.exprs import ALERTS_DIR, alerts

CONFIG = ALERTS_DIR / "alertmanager.yml"


def route(config: Path, *labels: str, expect: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["amtool", "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={expect}", *labels],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_amtool_check_config() -> None:
    result = subprocess.run(["amtool", "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_committed_config_is_the_default_rendering() -> None:
    assert CONFIG.read_text() == alertmanager.render()
    assert alertmanager.DEFAULT_WEBHOOK_BASE_URL in CONFIG.read_text()


@pytest.mark.parametrize(
    "name,severity",
    sorted({(a["alert"], a["labels"]["severity"]) for a in alerts()}),
)
def test_every_alert_reaches_the_receiver_of_its_severity(name: str, severity: str) -> None:
    expect = {"critical": "pager", "warning": "ticket", "info": "null"}[severity]
    result = route(CONFIG, f"alertname={name}", f"severity={severity}", "channel=sports1", expect=expect)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "labels,expect",
    [
        (("alertname=SidecarWhatever", "severity=info"), "null"),
        (("alertname=SidecarWhatever",), "ticket"),  # no severity: never dropped
        (("alertname=SidecarWhatever", "severity=page-me"), "ticket"),
    ],
)
def test_info_goes_nowhere_and_unknown_severities_get_a_ticket(labels: tuple[str, ...], expect: str) -> None:
    assert route(CONFIG, *labels, expect=expect).returncode == 0


def test_a_wrong_routing_expectation_fails() -> None:
    result = route(CONFIG, "alertname=SidecarTargetDown", "severity=critical", expect="ticket")
    assert result.returncode != 0


def test_group_by_and_timings() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["route"]["group_by"] == ["alertname", "org", "channel"]
    assert (config["route"]["group_wait"], config["route"]["group_interval"]) == ("30s", "5m")
    short = alertmanager.config("http://127.0.0.1:1/x", group_wait="1s", group_interval="1s")
    assert short["route"]["group_wait"] == "1s"
    assert {r["webhook_configs"][0]["url"] for r in short["receivers"] if "webhook_configs" in r} == {
        "http://127.0.0.1:1/x/pager",
        "http://127.0.0.1:1/x/ticket",
    }


def test_inhibition_names_only_existing_alerts() -> None:
    names = {a["alert"] for a in alerts()}
    used = set(alertmanager.SERVICE_TARGET_ALERTS + alertmanager.PROBE_TARGET_ALERTS) | {"SidecarMetricsAbsent"}
    assert used <= names


# --- a real Alertmanager ------------------------------------------------------------------------------
@dataclass
class Webhook:
    """Collects Alertmanager webhook posts by path ("/pager", "/ticket")."""

    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alertnames(self, path: str) -> set[str]:
        with self.lock:
            return {a["labels"]["alertname"] for post in self.received.get(path, []) for a in post["alerts"]}


@pytest.fixture
def webhook() -> Iterator[tuple[str, Webhook]]:
    sink = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with sink.lock:
                sink.received.setdefault(self.path.rsplit("/", 1)[-1], []).append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", sink
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def running_alertmanager(tmp_path: Path, webhook: tuple[str, Webhook]) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "prometheus-alertmanager is installed by scripts/system-deps.sh"
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager.render(webhook[0], group_wait="1s", group_interval="1s", repeat_interval="1h"))
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise AssertionError(f"alertmanager did not start: {Path(log.name).read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _post_alerts(url: str, alerts_: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels, "annotations": {"summary": "test."}} for labels in alerts_]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 200


def _statuses(url: str) -> dict[tuple[str, str], dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as resp:
        found = json.load(resp)
    return {(a["labels"]["alertname"], a["labels"].get("instance") or a["labels"].get("channel", "")): a for a in found}


SCENARIO = [
    # one sidecar process down: inhibits its own per-instance alert and the job's "absent" alert
    {"alertname": "SidecarTargetDown", "severity": "critical", "job": "sidecar", "instance": "a:8791"},
    {"alertname": "SidecarConfigBusDisconnected", "severity": "warning", "job": "sidecar", "instance": "a:8791"},
    {"alertname": "SidecarConfigBusDisconnected", "severity": "warning", "job": "sidecar", "instance": "b:8791"},
    {"alertname": "SidecarMetricsAbsent", "severity": "warning", "job": "sidecar"},
    # the probe is gone: what it measures is unknown, not broken
    {"alertname": "SidecarProbeAbsent", "severity": "warning", "job": "sidecar-probe"},
    {"alertname": "SidecarConfigPropagationUnmeasured", "severity": "warning", "job": "sidecar-probe"},
    # the same alert as a page and a ticket: one notification (the page)
    {"alertname": "SidecarManifestAvailabilityBudgetBurn", "severity": "critical", "job": "sidecar", "long": "1h"},
    {"alertname": "SidecarManifestAvailabilityBudgetBurn", "severity": "warning", "job": "sidecar", "long": "1d"},
    # per channel: another channel's ticket is not inhibited by this channel's page
    {"alertname": "SidecarActorChurnHigh", "severity": "warning", "org": "o", "channel": "news"},
    # info goes nowhere
    {"alertname": "SidecarSomethingInfo", "severity": "info", "job": "sidecar"},
]


def test_inhibition_and_delivery_in_a_real_alertmanager(
    running_alertmanager: str, webhook: tuple[str, Webhook]
) -> None:
    url, (_, sink) = running_alertmanager, webhook
    _post_alerts(url, SCENARIO)
    statuses = _statuses(url)

    def inhibited(name: str, key: str = "") -> bool:
        matches = [s for (n, k), s in statuses.items() if n == name and (not key or k == key)]
        assert matches, name
        return all(s["status"]["inhibitedBy"] for s in matches)

    assert inhibited("SidecarConfigBusDisconnected", "a:8791")
    assert not inhibited("SidecarConfigBusDisconnected", "b:8791")
    assert inhibited("SidecarMetricsAbsent")
    assert not inhibited("SidecarTargetDown")
    assert inhibited("SidecarConfigPropagationUnmeasured")
    assert not inhibited("SidecarProbeAbsent")
    assert not inhibited("SidecarActorChurnHigh")
    # the two burn rows share a name and have no channel: ask for them by name
    query = "filter=alertname%3DSidecarManifestAvailabilityBudgetBurn"
    with urllib.request.urlopen(f"{url}/api/v2/alerts?{query}", timeout=5) as resp:
        burns = json.load(resp)
    by_severity = {a["labels"]["severity"]: bool(a["status"]["inhibitedBy"]) for a in burns}
    assert by_severity == {"critical": False, "warning": True}

    deadline = time.monotonic() + 20
    want_pager = {"SidecarTargetDown", "SidecarManifestAvailabilityBudgetBurn"}
    want_ticket = {"SidecarConfigBusDisconnected", "SidecarProbeAbsent", "SidecarActorChurnHigh"}
    while time.monotonic() < deadline:
        if sink.alertnames("pager") >= want_pager and sink.alertnames("ticket") >= want_ticket:
            break
        time.sleep(0.2)
    time.sleep(1.5)  # one more group_interval: anything inhibited would have been sent by now
    assert sink.alertnames("pager") == want_pager
    assert sink.alertnames("ticket") == want_ticket
    pages = [a for post in sink.received["pager"] for a in post["alerts"]]
    assert {a["labels"]["severity"] for a in pages} == {"critical"}
    assert set(sink.received) == {"pager", "ticket"}
