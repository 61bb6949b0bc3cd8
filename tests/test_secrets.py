"""No password in any output: database and Redis URLs are printed masked, whatever goes wrong.

A failing start-up (PostgreSQL refusing connections) and every store command are run with
passwords in both URLs, and everything they print is searched for them; then a service that
does start (PostgreSQL trusts local connections, so the password is simply not asked for;
Redis refuses it) is exercised and its logs, /metrics and API answers are searched too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import urllib.request
from urllib.error import HTTPError

from tests.conftest import PG_ADMIN_URL, ServiceProcess, free_port, sidecar_cmd

DB_PASSWORD = f"pg-{secrets.token_hex(8)}"
REDIS_PASSWORD = f"rd-{secrets.token_hex(8)}"


def _env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIDECAR_DATABASE_URL": database_url,
        "SIDECAR_REDIS_URL": redis_url,
        "SIDECAR_VIEWER_LISTEN": f"127.0.0.1:{free_port()}",
        "SIDECAR_ADMIN_LISTEN": f"127.0.0.1:{free_port()}",
    }


def _assert_clean(output: str) -> None:
    for secret in (DB_PASSWORD, REDIS_PASSWORD):
        assert secret not in output, f"a password was printed:\n{output[-3000:]}"


def test_a_failing_start_up_prints_no_password() -> None:
    closed = free_port()  # nothing listens here: PostgreSQL "is down"
    env = _env(
        f"postgresql://sidecar:{DB_PASSWORD}@127.0.0.1:{closed}/sidecar?application_name=x",
        f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0",
    )
    commands = [
        ("serve",),
        ("migrate",),
        ("org", "list"),
        ("org", "create", "acme"),
        ("token", "create", "--org", "acme"),
        ("seed", "--origin-url", "http://127.0.0.1:9/"),
    ]
    for args in commands:
        run = subprocess.run(sidecar_cmd(*args), env=env, capture_output=True, text=True, timeout=120, check=False)
        output = run.stdout + run.stderr
        assert run.returncode != 0, (args, output[-2000:])
        _assert_clean(output)
        assert "SIDECAR_DATABASE_URL" in output and "sidecar:***@127.0.0.1" in output, (args, output[-2000:])
        assert "Traceback" not in output, (args, output[-2000:])


def test_a_running_service_prints_no_password() -> None:
    base, _, name = PG_ADMIN_URL.rpartition("/")
    scheme, _, rest = base.partition("://")
    user, _, host = rest.partition("@")
    database_url = f"{scheme}://{user}:{DB_PASSWORD}@{host}/{name}"
    service = ServiceProcess(
        {
            "SIDECAR_DATABASE_URL": database_url,
            # Redis has no password: AUTH fails, and the service says so (masked) and runs on SQL.
            "SIDECAR_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
            "SIDECAR_LOG_LEVEL": "DEBUG",
        }
    )
    service.start()
    answers = []
    try:
        for path in ("/metrics", "/readyz", "/healthz", "/admin/openapi.json", "/admin/channels", "/nowhere"):
            try:
                with urllib.request.urlopen(service.admin + path, timeout=10) as resp:
                    answers.append(resp.read().decode())
            except HTTPError as exc:
                answers.append(exc.read().decode())
    finally:
        service.stop()
    _assert_clean("\n".join(answers) + service.output)
    assert "ssai_build_info" in answers[0] and '"status": "ready"' in answers[1], answers[:2]
