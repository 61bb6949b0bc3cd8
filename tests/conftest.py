"""Shared fixtures: real PostgreSQL and Redis on 127.0.0.1, real HTTP servers, no mocks.

PostgreSQL (trust auth) and Redis run on the machine in CI and on developer machines. Each test
session gets its own PostgreSQL database, migrated with the project's Alembic migrations;
tests isolate themselves with unique org slugs rather than truncating tables.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sidecar.config.migrate import upgrade
from sidecar.config.store import Store
from sidecar.services import Services
from sidecar.settings import Settings
from sidecar.web.app import build_admin_app, build_viewer_app

# The tests' origins, ad servers and beacon receivers all run on 127.0.0.1, which the URL policy
# denies by default: the test deployment allows it, as an operator's would (the service's own
# listeners stay denied). Tests of the policy itself set their own allow list.
os.environ.setdefault("SIDECAR_URL_ALLOW", "127.0.0.1")

PG_ADMIN_URL = os.environ.get("SIDECAR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SIDECAR_TEST_REDIS", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 40.0) -> None:
    """Poll ``url`` until it answers (any status) or ``timeout`` passes."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def _pg_exec(sql: str) -> None:
    """Run admin SQL on its own loop in a thread: session fixtures may be set up inside a loop."""
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL.replace("postgresql://", "postgres://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, go()).result()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"sidecar_t_{secrets.token_hex(4)}"
    _pg_exec(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    _pg_exec(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    _pg_exec(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "sidecar.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = Store.from_url(db_url)
    yield s
    await s.close()


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": "sqlite:///unused.db",
        "viewer_listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
    }
    base.update(overrides)
    return Settings(**base)


@dataclass
class Stack:
    """One in-test service instance: its services plus real HTTP clients for both apps."""

    svc: Services
    admin: TestClient[Any, Any]
    viewer: TestClient[Any, Any]

    async def close(self) -> None:
        await self.admin.close()
        await self.viewer.close()
        await self.svc.close()


async def start_stack(**overrides: Any) -> Stack:
    svc = Services.build(make_settings(**overrides))
    await svc.start()
    admin = TestClient(TestServer(build_admin_app(svc), host="127.0.0.1"))
    viewer = TestClient(TestServer(build_viewer_app(svc), host="127.0.0.1"))
    await admin.start_server()
    await viewer.start_server()
    for client in (admin, viewer):  # as run_apps does for the sockets it binds
        svc.url_policy.add_listener("127.0.0.1", client.port)  # type: ignore[arg-type]
    return Stack(svc, admin, viewer)


@pytest.fixture
async def stack(sqlite_url: str) -> AsyncIterator[Stack]:
    """Single-process defaults: SQLite, no Redis."""
    s = await start_stack(database_url=sqlite_url)
    yield s
    await s.close()


@pytest.fixture
async def pg_stack(pg_url: str) -> AsyncIterator[Stack]:
    """Multi-process configuration: PostgreSQL + Redis."""
    s = await start_stack(database_url=pg_url, redis_url=REDIS_URL)
    yield s
    await s.close()


@dataclass
class Tenant:
    org_id: str
    org_slug: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_tenant(store: Store, role: str = "admin") -> Tenant:
    org = await store.create_org(unique_slug("org"), "Test org")
    _, token = await store.create_token(org.id, role)
    return Tenant(org.id, org.slug, token)


class RedisServer:
    """A throwaway redis-server on a free port, for tests that stop Redis under the service."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required (scripts/system-deps.sh installs it)"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.tmp),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def sidecar_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidecar", *args]


class ServiceProcess:
    """``sidecar serve`` as a real OS process on fixed ports (so a restart reuses them)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.viewer_port = free_port()
        self.admin_port = free_port()
        self.env = {
            **os.environ,
            "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{self.viewer_port}",
            "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{self.admin_port}",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: nobody reads a pipe while the service runs, and a full one blocks it.
        self.log = tempfile.NamedTemporaryFile(prefix="sidecar-serve-", suffix=".log")

    @property
    def output(self) -> str:
        """Everything the process printed so far (stderr: its logs)."""
        return Path(self.log.name).read_text(errors="replace")

    @property
    def viewer(self) -> str:
        return f"http://127.0.0.1:{self.viewer_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout: float = 30.0) -> None:
        import urllib.request

        self.proc = subprocess.Popen(sidecar_cmd("serve"), env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sidecar serve exited: {self.output[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.admin}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sidecar serve did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, nothing flushed by us."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
