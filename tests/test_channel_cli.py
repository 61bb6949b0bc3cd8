"""`sidecar channel` against a real `sidecar serve`: one line per fact for people, JSON for scripts,
one actionable line (never a traceback) for every mistake."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ServiceProcess, free_port, sidecar_cmd


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    db = tmp_path_factory.mktemp("channel-cli") / "s.db"
    env = {"SIDECAR_DATABASE_URL": f"sqlite:///{db}"}
    service = ServiceProcess(env)
    service.start()
    try:
        full = {**os.environ, **env}
        subprocess.run(sidecar_cmd("org", "create", "acme"), env=full, check=True, capture_output=True)
        token = subprocess.run(sidecar_cmd("token", "create", "--org", "acme", "--role", "editor"), env=full,
                               check=True, capture_output=True, text=True).stdout.strip()
        yield service.admin, {**os.environ, "SIDECAR_TOKEN": token}
    finally:
        service.stop()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sidecar_cmd("channel", *args), env=env, capture_output=True, text=True, timeout=60)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def failed(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    # One "Error:" line (click adds its usage lines above a usage mistake).
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("Error:", "Aborted"))]
    assert len(errors) == 1 and len(proc.stderr.strip().splitlines()) <= 4, proc.stderr
    return proc.stderr


def test_create_list_show_update_delete(admin: tuple[str, dict[str, str]]) -> None:
    url, env = admin
    created = ok(cli(env, "create", "news1", "--origin-url", "http://127.0.0.1:9/live/m.m3u8", "--mode", "ssai",
                     "--set", "vastTimeoutMs=1500", "--url", url))
    assert created.startswith("created channel news1 (id ") and "mode ssai" in created
    assert len(created.splitlines()) == 1

    listed = ok(cli(env, "list", "--url", url)).splitlines()
    assert listed[0].split() == ["SLUG", "MODE", "STATUS", "ORIGINURL"]
    assert any(line.split()[:3] == ["news1", "ssai", "active"] for line in listed[1:])

    shown = dict(line.split(None, 1) for line in ok(cli(env, "show", "news1", "--url", url)).splitlines()
                 if len(line.split(None, 1)) == 2)
    assert shown["vastTimeoutMs"] == "1500" and shown["originUrl"] == "http://127.0.0.1:9/live/m.m3u8"

    as_json = json.loads(ok(cli(env, "show", "news1", "--json", "--url", url)))
    assert as_json["slug"] == "news1" and as_json["vastTimeoutMs"] == 1500

    updated = ok(cli(env, "update", "news1", "--set", "mode=sgai", "--set", "vastTimeoutMs=900", "--url", url))
    assert updated.strip() == 'updated channel news1: mode="sgai", vastTimeoutMs=900'
    assert json.loads(ok(cli(env, "show", "news1", "--json", "--url", url)))["mode"] == "sgai"

    assert ok(cli(env, "delete", "news1", "--yes", "--url", url)).strip() == "deleted channel news1"
    assert "404" in failed(cli(env, "show", "news1", "--url", url))


def test_mistakes_answer_one_line(admin: tuple[str, dict[str, str]]) -> None:
    url, env = admin
    bad_field = failed(cli(env, "create", "x1", "--origin-url", "http://127.0.0.1:9/m.m3u8", "--set", "vastTimeoutMs=5",
                           "--url", url))
    assert "HTTP 422" in bad_field and "vastTimeoutMs" in bad_field
    unknown = failed(cli(env, "update", "x1", "--set", "colour=blue", "--url", url))
    assert "HTTP 4" in unknown
    assert "FIELD=VALUE" in failed(cli(env, "update", "x1", "--set", "oops", "--url", url))
    assert "nothing to change" in failed(cli(env, "update", "x1", "--url", url))
    no_token = {k: v for k, v in env.items() if k != "SIDECAR_TOKEN"}
    assert "token is required" in failed(cli(no_token, "list", "--url", url))
    assert "HTTP 401" in failed(cli({**env, "SIDECAR_TOKEN": "sct_tok_nope"}, "list", "--url", url))
    assert "cannot reach" in failed(cli(env, "list", "--url", f"http://127.0.0.1:{free_port()}"))


def test_the_cli_documents_the_group(tmp_path: Path) -> None:
    out = ok(subprocess.run(sidecar_cmd("channel", "--help"), capture_output=True, text=True, timeout=60))
    for command in ("create", "list", "show", "update", "delete"):
        assert command in out
