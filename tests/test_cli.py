"""The CLI a newcomer and the seed's scripts use: migrate, org create, token create."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import sidecar_cmd


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sidecar_cmd(*args), env=env, capture_output=True, text=True, timeout=60)


def test_migrate_org_token_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    env = {**os.environ, "SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    assert run(env, "migrate").returncode == 0
    created = run(env, "org", "create", "demo")
    assert created.returncode == 0 and created.stdout.startswith("org_")
    token = run(env, "token", "create", "--org", "demo")
    assert token.returncode == 0
    # Only the token on stdout, so `TOKEN=$(sidecar token create --org demo)` works.
    assert re.fullmatch(r"sct_tok_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n", token.stdout), token.stdout
    dup = run(env, "org", "create", "demo")
    assert dup.returncode != 0 and "exists" in dup.stderr and "Traceback" not in dup.stderr
    missing = run(env, "token", "create", "--org", "nope")
    assert missing.returncode != 0 and "--org" in missing.stderr and "Traceback" not in missing.stderr
    bad = run(env, "org", "create", "Not A Slug")
    assert bad.returncode != 0 and "SLUG" in bad.stderr
    listed = run(env, "org", "list")
    assert "demo" in listed.stdout


def test_migrate_on_postgres(pg_url: str) -> None:
    env = {**os.environ, "SIDECAR_DATABASE_URL": pg_url}
    proc = run(env, "migrate")
    assert proc.returncode == 0, proc.stderr


def test_seed_refuses_an_origin_the_service_would_not_fetch(tmp_path: Path) -> None:
    env = {**os.environ, "SIDECAR_DATABASE_URL": f"sqlite:///{tmp_path}/seed.db", "SIDECAR_URL_ALLOW": ""}
    refused = run(env, "seed", "--origin-url", "http://127.0.0.1:8081")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "loopback" in refused.stderr and "SIDECAR_URL_ALLOW=127.0.0.1:8081" in refused.stderr, refused.stderr
    assert not (tmp_path / "seed.db").exists() or "demo" not in run(env, "org", "list").stdout, "nothing written"
