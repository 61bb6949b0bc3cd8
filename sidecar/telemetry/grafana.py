"""``sidecar dashboards push``: put the committed dashboards into a running Grafana.

For a Grafana that is not provisioned from files (docker-compose provisions its own). The push
is an idempotent upsert, by fixed uid, of three things: the Prometheus datasource the
dashboards' ``datasource`` variable defaults to, one folder, and every ``dashboards/*.json``.
Pushing twice changes nothing the second time (nothing is written when Grafana already holds
the same content, so dashboard versions do not pile up).

Failures are reported as :class:`GrafanaPushError` with a message that names the problem
(unreachable URL, something that is not Grafana, rejected credentials, missing permission),
because the usual symptom otherwise is a bare 401 or a connection traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

#: Fixed uid of the Prometheus datasource: the dashboards' ``datasource`` variable defaults to
#: it, so a pushed (or provisioned) Grafana shows data without anyone picking a datasource.
DATASOURCE_UID = "sidecar-prometheus"
DATASOURCE_NAME = "Sidecar Prometheus"
FOLDER_UID = "sidecar"
FOLDER_TITLE = "Sidecar"
#: Where ``python -m dashboards.build`` writes (the repository's dashboards/ directory).
DEFAULT_DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "dashboards"

Action = Literal["created", "updated", "unchanged"]


class GrafanaPushError(Exception):
    """A push failed; ``str()`` says what to fix."""


@dataclass(frozen=True)
class Pushed:
    kind: Literal["datasource", "folder", "dashboard"]
    uid: str
    title: str
    action: Action


@dataclass(frozen=True)
class PushReport:
    url: str
    grafana_version: str
    items: tuple[Pushed, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return any(item.action != "unchanged" for item in self.items)

    def lines(self) -> list[str]:
        head = f"Grafana {self.grafana_version} at {self.url}"
        return [head, *(f"  {i.kind} {i.uid} ({i.title}): {i.action}" for i in self.items)]


def push(
    url: str,
    token: str | None,
    *,
    basic_auth: tuple[str, str] | None = None,
    folder_uid: str = FOLDER_UID,
    datasource_url: str,
    dashboards_dir: Path | None = None,
    timeout: float = 10.0,
) -> PushReport:
    """Upsert the datasource, the folder and every dashboard JSON; see the module docstring."""
    base = _check_url(url)
    if token and basic_auth:
        raise GrafanaPushError("give either a token or a user and password, not both")
    dashboards = _load_dashboards(dashboards_dir or DEFAULT_DASHBOARDS_DIR)
    shown = _without_userinfo(base)  # messages never repeat a password given in the URL
    _check_is_grafana(shown, timeout)
    credential: str | tuple[str, str] | None = token or basic_auth
    anonymous = credential is None and not urlsplit(base).username
    api: Any = GrafanaApi.from_url(base, credential=credential, timeout=timeout)
    with _explained(shown, "read its build info", anonymous=anonymous):
        info = api.health.check() or {}
    version = str(info.get("version", "unknown")) if isinstance(info, dict) else "unknown"
    items = [
        _upsert_datasource(api, shown, datasource_url),
        _upsert_folder(api, shown, folder_uid),
        *(_upsert_dashboard(api, shown, folder_uid, d) for d in dashboards),
    ]
    return PushReport(url=shown, grafana_version=version, items=tuple(items))


# --- checks -------------------------------------------------------------------------------------
def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GrafanaPushError(f"Grafana URL {url!r} is not an http:// or https:// URL")
    return url.rstrip("/")


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _check_is_grafana(url: str, timeout: float) -> None:
    """GET /api/health without credentials: tells "unreachable" and "not Grafana" apart from
    "bad credentials", which only the authenticated calls can show."""
    anonymous: Any = GrafanaApi.from_url(url, credential=None, timeout=timeout)
    try:
        health = anonymous.client.GET("/health")
    except ValueError:  # a 200 whose body is not JSON (niquests' JSONDecodeError is also an OSError)
        raise GrafanaPushError(f"{url} does not look like Grafana: GET /api/health did not return JSON") from None
    except OSError as exc:  # connection refused, DNS, TLS, timeout (niquests errors are OSErrors)
        raise GrafanaPushError(f"cannot reach Grafana at {url}: {_reason(exc)}") from None
    except GrafanaUnauthorizedError:
        return  # an auth proxy in front of Grafana; the authenticated calls will tell
    except GrafanaClientError as exc:
        if exc.status_code == 403:
            return
        raise GrafanaPushError(
            f"{url} does not look like Grafana: GET /api/health answered HTTP {exc.status_code}"
        ) from None
    except GrafanaException as exc:
        raise GrafanaPushError(f"cannot reach Grafana at {url}: {exc.message}") from None
    if not isinstance(health, dict) or "database" not in health:
        raise GrafanaPushError(
            f"{url} does not look like Grafana: GET /api/health returned {str(health)[:80]!r}, "
            "not Grafana's health document"
        )


def _reason(exc: BaseException) -> str:
    """A short cause from a niquests/urllib3 error chain ("connection refused", ...)."""
    text = str(exc)
    for needle, reason in (
        ("Failed to resolve", "cannot resolve the host name"),
        ("Connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
    ):
        if needle in text:
            return reason
    return text[:200] or type(exc).__name__


class _explained:
    """Context manager turning grafana-client errors of one step into GrafanaPushError."""

    def __init__(self, url: str, doing: str, *, anonymous: bool = False) -> None:
        self.url, self.doing, self.anonymous = url, doing, anonymous

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, GrafanaUnauthorizedError) and self.anonymous:
            raise GrafanaPushError(
                f"Grafana at {self.url} needs credentials (HTTP 401) to {self.doing}: "
                "give an API token (or user and password)"
            ) from None
        if isinstance(exc, GrafanaUnauthorizedError):
            raise GrafanaPushError(
                f"Grafana at {self.url} rejected the credentials (HTTP 401) while trying to {self.doing}: "
                "check the API token (or user and password)"
            ) from None
        if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
            raise GrafanaPushError(
                f"the credentials are valid but may not {self.doing} on Grafana at {self.url} (HTTP 403): "
                "use a service-account token with the Admin role"
            ) from None
        if isinstance(exc, GrafanaException):
            raise GrafanaPushError(f"Grafana at {self.url} failed to {self.doing}: {exc.message}") from None
        if isinstance(exc, OSError):
            raise GrafanaPushError(f"lost Grafana at {self.url} while trying to {self.doing}: {_reason(exc)}") from None


# --- the three upserts -------------------------------------------------------------------------------
def datasource_body(datasource_url: str) -> dict[str, Any]:
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": "prometheus",
        "access": "proxy",
        "url": datasource_url,
        "isDefault": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
    }


def _upsert_datasource(api: Any, url: str, datasource_url: str) -> Pushed:
    body = datasource_body(datasource_url)
    current = _get(api.datasource.get_datasource_by_uid, DATASOURCE_UID, url, "read the datasource")
    if current is None:
        with _explained(url, f"create the datasource {DATASOURCE_UID}"):
            api.datasource.create_datasource(body)
        return Pushed("datasource", DATASOURCE_UID, DATASOURCE_NAME, "created")
    if all(current.get(k) == v for k, v in body.items() if k != "jsonData") and all(
        (current.get("jsonData") or {}).get(k) == v for k, v in body["jsonData"].items()
    ):
        return Pushed("datasource", DATASOURCE_UID, DATASOURCE_NAME, "unchanged")
    with _explained(url, f"update the datasource {DATASOURCE_UID}"):
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, body)
    return Pushed("datasource", DATASOURCE_UID, DATASOURCE_NAME, "updated")


def _upsert_folder(api: Any, url: str, folder_uid: str) -> Pushed:
    current = _get(api.folder.get_folder, folder_uid, url, "read the folder")
    if current is None:
        with _explained(url, f"create the folder {folder_uid}"):
            api.folder.create_folder(FOLDER_TITLE, uid=folder_uid)
        return Pushed("folder", folder_uid, FOLDER_TITLE, "created")
    if current.get("title") == FOLDER_TITLE:
        return Pushed("folder", folder_uid, FOLDER_TITLE, "unchanged")
    with _explained(url, f"rename the folder {folder_uid}"):
        api.folder.update_folder(folder_uid, title=FOLDER_TITLE, overwrite=True)
    return Pushed("folder", folder_uid, FOLDER_TITLE, "updated")


_VOLATILE = ("id", "version")


def _upsert_dashboard(api: Any, url: str, folder_uid: str, board: dict[str, Any]) -> Pushed:
    uid, title = str(board["uid"]), str(board.get("title", ""))
    current = _get(api.dashboard.get_dashboard, uid, url, f"read the dashboard {uid}")
    if current is not None:
        stored = {k: v for k, v in (current.get("dashboard") or {}).items() if k not in _VOLATILE}
        wanted = {k: v for k, v in board.items() if k not in _VOLATILE}
        if stored == wanted and (current.get("meta") or {}).get("folderUid") == folder_uid:
            return Pushed("dashboard", uid, title, "unchanged")
    payload = {
        "dashboard": {**board, "id": None},
        "folderUid": folder_uid,
        "overwrite": True,
        "message": "sidecar dashboards push",
    }
    with _explained(url, f"save the dashboard {uid}"):
        api.dashboard.update_dashboard(payload)
    return Pushed("dashboard", uid, title, "created" if current is None else "updated")


def _get(getter: Any, uid: str, url: str, doing: str) -> dict[str, Any] | None:
    """``getter(uid)``, or None when Grafana says 404."""
    with _explained(url, doing):
        try:
            found = getter(uid)
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            raise
    return found if isinstance(found, dict) else None


def _load_dashboards(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise GrafanaPushError(f"no dashboard JSON in {directory} (run python -m dashboards.build)")
    boards = []
    for path in files:
        board = json.loads(path.read_text())
        if not isinstance(board, dict) or not board.get("uid"):
            raise GrafanaPushError(f"{path} is not a dashboard with a uid")
        boards.append(board)
    return boards
