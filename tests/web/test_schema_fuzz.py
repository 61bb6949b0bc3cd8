"""The OpenAPI document is the API: Schemathesis, every check, every phase (stateful included),
against a live ``sidecar serve`` on PostgreSQL and Redis, finds nothing.

Every check means: no 5xx; every status, content type, header and body as documented; a request
the schema calls valid is accepted (2xx, or 401/403/404/409 for what a schema cannot know) and
one it calls invalid is rejected; unknown methods answer 405 with Allow; auth is enforced; a
deleted object is gone; a created object can be read through the document's links.

The run is bounded (examples per operation) and seeded, so it is reproducible and takes about a
minute; the document and the service must agree on every request it makes.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.config.migrate import upgrade
from sidecar.config.store import Store
from tests.conftest import PG_ADMIN_URL, REDIS_URL, ServiceProcess, _pg_exec

EXAMPLES = 10
SEED = 16


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """A database of its own: the fuzzer deletes and renames organizations freely."""
    name = f"sidecar_fuzz_{secrets.token_hex(4)}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    _pg_exec(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}"')


async def _root_token(url: str) -> str:
    store = Store.from_url(url)
    try:
        org = await store.create_org(f"fuzz{secrets.token_hex(4)}", "Fuzzer")
        return (await store.create_token(org.id, "super-admin", "fuzzer"))[1]
    finally:
        await store.close()


@pytest.mark.slow
def test_schemathesis_finds_nothing(fresh_pg: str, tmp_path: Path) -> None:
    token = asyncio.run(_root_token(fresh_pg))
    service = ServiceProcess({"SIDECAR_DATABASE_URL": fresh_pg, "SIDECAR_REDIS_URL": REDIS_URL})
    service.start()
    try:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "st"),
                "run",
                f"{service.admin}/admin/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                str(SEED),
                "--workers",
                "1",
                "--header",
                f"Authorization: Bearer {token}",
                "--request-timeout",
                "30",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        service.stop()
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-12000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", output)
    assert summary is not None, output[-3000:]
    generated, passed = int(summary.group(1)), int(summary.group(2))
    assert generated == passed and generated > 1000, output[-3000:]
    assert re.search(r"✅\s+Stateful", output), "the stateful phase ran and passed"
    assert re.search(r"Tested: (\d+)", output) and "Errored" not in output, output[-3000:]
    errors = [line for line in service.output.splitlines() if '"level":"error"' in line]
    assert errors == [], "the service logged errors under the fuzzer:\n" + "\n".join(errors[:5])
