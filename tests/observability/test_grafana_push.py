"""``sidecar.telemetry.grafana.push`` against a real HTTP server that speaks Grafana's API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sidecar.telemetry.grafana import (
    DATASOURCE_UID,
    DEFAULT_DASHBOARDS_DIR,
    FOLDER_UID,
    GrafanaPushError,
    PushReport,
    push,
)
from tests.conftest import free_port
from tests.observability.fake_grafana import FakeGrafana

PROM = "http://prometheus:9090"
BOARD_UIDS = {"sidecar-overview", "sidecar-channel", "sidecar-ads"}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as server:
        yield server


def actions(report: PushReport) -> dict[str, str]:
    return {f"{i.kind}:{i.uid}": i.action for i in report.items}


def test_push_creates_datasource_folder_and_dashboards(grafana: FakeGrafana) -> None:
    report = push(grafana.url, "admin-token", datasource_url=PROM)
    assert report.grafana_version == "11.6.0"
    assert actions(report) == {
        f"datasource:{DATASOURCE_UID}": "created",
        f"folder:{FOLDER_UID}": "created",
        **{f"dashboard:{uid}": "created" for uid in BOARD_UIDS},
    }
    state = grafana.state
    ds = state.datasources[DATASOURCE_UID]
    assert (ds["type"], ds["url"], ds["access"]) == ("prometheus", PROM, "proxy")
    assert state.folders[FOLDER_UID]["title"] == "Sidecar"
    assert set(state.dashboards) == BOARD_UIDS
    for path in DEFAULT_DASHBOARDS_DIR.glob("*.json"):
        committed = json.loads(path.read_text())
        stored = state.dashboards[committed["uid"]]
        assert stored["folderUid"] == FOLDER_UID
        assert {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")} == {
            k: v for k, v in committed.items() if k != "id"
        }


def test_push_twice_is_idempotent(grafana: FakeGrafana) -> None:
    push(grafana.url, "admin-token", datasource_url=PROM)
    writes = list(grafana.state.writes)
    versions = {uid: d["dashboard"]["version"] for uid, d in grafana.state.dashboards.items()}
    second = push(grafana.url, "admin-token", datasource_url=PROM)
    assert set(actions(second).values()) == {"unchanged"}
    assert not second.changed
    assert grafana.state.writes == writes, "the second push wrote nothing"
    assert {uid: d["dashboard"]["version"] for uid, d in grafana.state.dashboards.items()} == versions


def test_push_overwrites_drift_by_uid(grafana: FakeGrafana) -> None:
    push(grafana.url, "admin-token", datasource_url=PROM)
    grafana.state.dashboards["sidecar-ads"]["dashboard"]["title"] = "edited in the UI"
    grafana.state.folders[FOLDER_UID]["title"] = "renamed"
    report = push(grafana.url, "admin-token", datasource_url="http://other-prometheus:9090")
    assert actions(report)[f"datasource:{DATASOURCE_UID}"] == "updated"
    assert actions(report)[f"folder:{FOLDER_UID}"] == "updated"
    assert actions(report)["dashboard:sidecar-ads"] == "updated"
    assert actions(report)["dashboard:sidecar-overview"] == "unchanged"
    assert grafana.state.dashboards["sidecar-ads"]["dashboard"]["title"] == "Sidecar / Ad delivery"
    assert grafana.state.dashboards["sidecar-ads"]["dashboard"]["version"] == 2
    assert grafana.state.datasources[DATASOURCE_UID]["url"] == "http://other-prometheus:9090"
    assert grafana.state.folders[FOLDER_UID]["title"] == "Sidecar"


def test_push_with_basic_auth_and_another_folder(grafana: FakeGrafana) -> None:
    report = push(grafana.url, None, basic_auth=("admin", "secret"), folder_uid="ops", datasource_url=PROM)
    assert actions(report)["folder:ops"] == "created"
    assert {d["folderUid"] for d in grafana.state.dashboards.values()} == {"ops"}
    assert report.lines()[0] == f"Grafana 11.6.0 at {grafana.url}"
    assert "  dashboard sidecar-ads (Sidecar / Ad delivery): created" in report.lines()


def test_bad_token_says_so_and_writes_nothing(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaPushError, match=r"rejected the credentials \(HTTP 401\).*API token"):
        push(grafana.url, "wrong-token", datasource_url=PROM)
    assert grafana.state.writes == []


def test_bad_password_says_so(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaPushError, match="rejected the credentials"):
        push(grafana.url, None, basic_auth=("admin", "wrong"), datasource_url=PROM)


def test_token_without_permission_says_which_role_is_needed(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaPushError, match=r"valid but may not .*datasource.*\(HTTP 403\).*Admin role"):
        push(grafana.url, "viewer-token", datasource_url=PROM)
    assert grafana.state.writes == []


def test_unreachable_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GrafanaPushError, match=rf"cannot reach Grafana at {url}: connection refused"):
        push(url, "admin-token", datasource_url=PROM, timeout=3)


@pytest.mark.parametrize("url", ["localhost:3000", "ftp://grafana.example", "not a url", ""])
def test_not_an_http_url(url: str) -> None:
    with pytest.raises(GrafanaPushError, match="is not an http:// or https:// URL"):
        push(url, "admin-token", datasource_url=PROM)


class _NotGrafana(BaseHTTPRequestHandler):
    """A web server that is not Grafana: HTML on /, 404 on /api/*, or JSON of another shape."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.server.mode == "html":  # type: ignore[attr-defined]
            body, ctype, status = b"<html><body>It works!</body></html>", "application/octet-stream", 200
        elif self.server.mode == "json":  # type: ignore[attr-defined]
            body, ctype, status = b'{"status": "UP"}', "application/json", 200
        else:
            body, ctype, status = b"404 page not found", "text/plain", 404
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("mode", ["html", "json", "404"])
def test_something_that_is_not_grafana(mode: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotGrafana)
    server.mode = mode  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(GrafanaPushError, match=rf"{url} does not look like Grafana"):
            push(url, "admin-token", datasource_url=PROM)
    finally:
        server.shutdown()
        server.server_close()


def test_token_and_basic_auth_together_are_refused(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaPushError, match="not both"):
        push(grafana.url, "admin-token", basic_auth=("admin", "secret"), datasource_url=PROM)


def test_empty_dashboards_dir_is_explained(grafana: FakeGrafana, tmp_path: Path) -> None:
    with pytest.raises(GrafanaPushError, match="no dashboard JSON"):
        push(grafana.url, "admin-token", datasource_url=PROM, dashboards_dir=tmp_path)


def test_no_credentials_says_they_are_needed(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaPushError, match=r"needs credentials \(HTTP 401\)"):
        push(grafana.url, None, datasource_url=PROM)


def test_credentials_in_the_url_work_and_are_not_repeated(grafana: FakeGrafana) -> None:
    with_password = grafana.url.replace("http://", "http://admin:secret@")
    report = push(with_password, None, datasource_url=PROM)
    assert report.url == grafana.url
    with pytest.raises(GrafanaPushError) as failure:
        push(grafana.url.replace("http://", "http://admin:hunter2@"), None, datasource_url=PROM)
    assert "rejected the credentials" in str(failure.value)
    assert "hunter2" not in str(failure.value)
