"""The CLI's client for the admin API: one request, one answer or one actionable error line.

Commands that change what a running service serves (channels, cues) go through the admin API
rather than the database, so that they are authorised, audited and invalidate every cache exactly
as a dashboard or script calling the API would.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:8791"
TIMEOUT_SECONDS = 15.0

url_option = click.option("--url", default=DEFAULT_URL, show_default=True, help="Admin API base URL")
token_option = click.option("--token", envvar="SIDECAR_TOKEN", default=None, help="Bearer token (or SIDECAR_TOKEN)")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer (for scripts)")


def problem_line(status: int, payload: Any, fallback: str) -> str:
    """``HTTP 422: <detail> (field: reason; …)`` from a problem+json body."""
    if not isinstance(payload, dict):
        return f"HTTP {status}: {fallback[:200]}"
    line = f"HTTP {status}: {payload.get('detail') or payload.get('title') or fallback[:200]}"
    errors = [e for e in payload.get("errors") or [] if isinstance(e, dict)]
    if len(errors) < 2:  # the detail already names the one field
        return line
    return f"HTTP {status}: " + "; ".join(f"{e.get('field')}: {e.get('detail', '')}" for e in errors)


def call(url: str, token: str | None, method: str, path: str, body: Any = None) -> Any:
    """The decoded JSON answer (None for 204); a ``ClickException`` with one line otherwise."""
    if not token:
        raise click.UsageError("a token is required: --token or SIDECAR_TOKEN (create one with `sidecar token create`)")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked just below)
        url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                 **({"Content-Type": "application/json"} if data is not None else {})},
    )
    if urllib.parse.urlsplit(request.full_url).scheme not in ("http", "https"):
        raise click.UsageError(f"--url: not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        raise click.ClickException(problem_line(exc.code, payload, text)) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise click.ClickException(f"--url: cannot reach the admin API at {url}: {reason}") from None
    return json.loads(raw) if raw else None


def echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, sort_keys=False))
