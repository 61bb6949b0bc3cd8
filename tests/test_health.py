"""Health endpoints an orchestrator probes: /healthz (the process answers) and /readyz (every
listener bound, the SQL store answering, its schema migrated)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from sidecar.config.migrate import _script, schema_state
from sidecar.settings import to_async_url
from tests.conftest import ServiceProcess, sidecar_cmd


def get(url: str) -> tuple[int, dict[str, object], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read()), resp.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers["Content-Type"]


def test_readiness_waits_for_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    service = ServiceProcess({"SIDECAR_DATABASE_URL": url, "SIDECAR_AUTO_MIGRATE": "false"})
    try:
        service.start()  # waits for /healthz: the process answers
        status, body, content_type = get(f"{service.admin}/readyz")
        assert status == 503 and content_type.startswith("application/problem+json")
        assert "not migrated" in str(body["detail"]) and "sidecar migrate" in str(body["detail"])
        migrated = subprocess.run(
            sidecar_cmd("migrate"), env={**os.environ, "SIDECAR_DATABASE_URL": url}, capture_output=True, timeout=60
        )
        assert migrated.returncode == 0, migrated.stderr
        status, body, _ = get(f"{service.admin}/readyz")
        assert status == 200 and body["status"] == "ready"
        assert body["schema"] == _script().get_current_head()
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("revision", "ready", "detail"),
    [("0001", False, "behind"), ("9999_from_a_newer_release", True, "newer than this release")],
)
async def test_schema_behind_is_not_ready_and_ahead_is(
    tmp_path: Path, revision: str, ready: bool, detail: str
) -> None:
    """During a rolling update the new release migrates first; old pods must stay ready."""
    url = f"sqlite:///{tmp_path}/s.db"
    subprocess.run(sidecar_cmd("migrate"), env={**os.environ, "SIDECAR_DATABASE_URL": url}, check=True, timeout=60)
    engine = create_async_engine(to_async_url(url))
    try:
        assert (await schema_state(engine)).ready
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        state = await schema_state(engine)
        assert (state.ready, state.revision) == (ready, revision) and detail in state.detail
    finally:
        await engine.dispose()
