"""A small real HTTP server speaking the part of Grafana's HTTP API that ``push`` uses.

Grafana itself cannot be installed here, so this implements, with Grafana's status codes and
message shapes: ``GET /api/health`` (anonymous), ``GET /api/frontend/settings``, data sources
by uid (GET/POST/PUT), folders (GET/POST/PUT) and dashboards (``GET /api/dashboards/uid/..``,
``POST /api/dashboards/db``). Auth: bearer tokens or basic auth mapped to an org role; an
unknown token is a 401, a role too low for the call a 403 (data sources need Admin, folders and
dashboards Editor). It records every write so tests can prove a second push wrote nothing.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROLES = {"Viewer": 0, "Editor": 1, "Admin": 2}


@dataclass
class GrafanaState:
    tokens: dict[str, str] = field(default_factory=lambda: {"admin-token": "Admin", "viewer-token": "Viewer"})
    users: dict[tuple[str, str], str] = field(default_factory=lambda: {("admin", "secret"): "Admin"})
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> {"dashboard", "folderUid"}
    writes: list[str] = field(default_factory=list)
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class _Reply(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


def _need(role: str | None, minimum: str) -> None:
    if role is None or ROLES[role] < ROLES[minimum]:
        raise _Reply(
            403,
            {
                "accessErrorId": "ACE0000000001",
                "message": "You'll need additional permissions to perform this action.",
                "title": "Access denied",
            },
        )


def make_handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _role(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                role = state.tokens.get(auth[7:])
                if role is None:
                    raise _Reply(401, {"message": "Invalid API key", "traceID": ""})
                return role
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                role = state.users.get((user, password))
                if role is None:
                    raise _Reply(401, {"message": "Invalid username or password", "traceID": ""})
                return role
            raise _Reply(401, {"message": "Unauthorized"})

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            data = json.loads(self.rfile.read(length) or b"{}")
            assert isinstance(data, dict)
            return data

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _dispatch(self, method: str) -> None:
            try:
                with state.lock:
                    self._send(200, self._route(method, self.path.split("?", 1)[0]))
            except _Reply as reply:
                self._send(reply.status, reply.body)

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def _route(self, method: str, path: str) -> dict[str, Any]:
            if method == "GET" and path == "/api/health":
                return {"commit": "0000000", "database": "ok", "version": "11.6.0"}
            role = self._role()
            if method == "GET" and path == "/api/frontend/settings":
                return {"buildInfo": {"version": "11.6.0", "commit": "0000000", "edition": "Open Source"}}
            if match := re.fullmatch(r"/api/datasources/uid/([\w-]+)", path):
                _need(role, "Admin")
                return self._datasource(method, match.group(1))
            if method == "POST" and path == "/api/datasources":
                _need(role, "Admin")
                return self._create_datasource(self._body())
            if match := re.fullmatch(r"/api/folders/([\w-]+)", path):
                _need(role, "Viewer" if method == "GET" else "Editor")
                return self._folder(method, match.group(1))
            if method == "POST" and path == "/api/folders":
                _need(role, "Editor")
                return self._create_folder(self._body())
            if method == "GET" and (match := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", path)):
                found = state.dashboards.get(match.group(1))
                if found is None:
                    raise _Reply(404, {"message": "Dashboard not found"})
                meta = {"folderUid": found["folderUid"], "version": found["dashboard"]["version"], "canSave": True}
                return {"dashboard": copy.deepcopy(found["dashboard"]), "meta": meta}
            if method == "POST" and path == "/api/dashboards/db":
                _need(role, "Editor")
                return self._save_dashboard(self._body())
            raise _Reply(404, {"message": "Not found"})

        def _datasource(self, method: str, uid: str) -> dict[str, Any]:
            found = state.datasources.get(uid)
            if found is None:
                raise _Reply(404, {"message": "Data source not found"})
            if method == "GET":
                return copy.deepcopy(found)
            body = self._body()
            state.writes.append(f"PUT datasource {uid}")
            found.update({k: v for k, v in body.items() if k != "id"})
            return {"datasource": found, "id": found["id"], "message": "Datasource updated", "name": found["name"]}

        def _create_datasource(self, body: dict[str, Any]) -> dict[str, Any]:
            if any(ds["name"] == body["name"] for ds in state.datasources.values()):
                raise _Reply(409, {"message": "data source with the same name already exists"})
            ds = {**body, "id": state.new_id(), "orgId": 1, "readOnly": False}
            state.datasources[body["uid"]] = ds
            state.writes.append(f"POST datasource {body['uid']}")
            return {"datasource": ds, "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

        def _folder(self, method: str, uid: str) -> dict[str, Any]:
            found = state.folders.get(uid)
            if found is None:
                raise _Reply(404, {"message": "folder not found", "status": "not-found"})
            if method == "PUT":
                found["title"] = self._body()["title"]
                found["version"] += 1
                state.writes.append(f"PUT folder {uid}")
            return copy.deepcopy(found)

        def _create_folder(self, body: dict[str, Any]) -> dict[str, Any]:
            if body.get("uid") in state.folders:
                raise _Reply(409, {"message": "a folder with the same uid already exists"})
            folder = {"id": state.new_id(), "uid": body["uid"], "title": body["title"], "version": 1}
            state.folders[body["uid"]] = folder
            state.writes.append(f"POST folder {body['uid']}")
            return copy.deepcopy(folder)

        def _save_dashboard(self, body: dict[str, Any]) -> dict[str, Any]:
            board = copy.deepcopy(body["dashboard"])
            uid, folder_uid = board["uid"], body.get("folderUid", "")
            if folder_uid and folder_uid not in state.folders:
                raise _Reply(400, {"message": "folder not found"})
            existing = state.dashboards.get(uid)
            if existing is not None and not body.get("overwrite"):
                raise _Reply(
                    412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
                )
            board["id"] = existing["dashboard"]["id"] if existing else state.new_id()
            board["version"] = existing["dashboard"]["version"] + 1 if existing else 1
            state.dashboards[uid] = {"dashboard": board, "folderUid": folder_uid}
            state.writes.append(f"POST dashboard {uid}")
            return {"id": board["id"], "uid": uid, "status": "success", "version": board["version"], "url": f"/d/{uid}"}

    return Handler


class FakeGrafana:
    """Start with ``with FakeGrafana() as grafana: grafana.url``."""

    def __init__(self, state: GrafanaState | None = None) -> None:
        self.state = state or GrafanaState()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeGrafana:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
