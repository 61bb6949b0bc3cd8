"""Writing the audit trail (sidecar.config.audit) from the admin API.

The route wrapper records every authenticated non-GET request once its answer is known, success
or failure; handlers add what only they know (the object's id, the fields that changed) with
``note``. A record that cannot be stored is logged whole at ERROR instead (event
``audit_write_failed``) and counted, so a store outage loses no "who did what".
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from sidecar.config.models import SLUG_PATTERN
from sidecar.config.store import AuthContext, Store
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.audit")

NOTE = web.RequestKey("audit_note", object)
_REF = re.compile(SLUG_PATTERN)
_KINDS = {
    "org": "organization",
    "orgs": "organization",
    "channels": "channel",
    "ad-pods": "adPod",
    "slates": "slate",
    "tokens": "token",
}
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}


@dataclass
class Note:
    object_id: str | None = None
    fields: list[str] = field(default_factory=list)
    target_org_id: str | None = None


def _note(request: web.Request) -> Note:
    found = request.get(NOTE)
    if isinstance(found, Note):
        return found
    note = Note()
    request[NOTE] = note
    return note


def note(
    request: web.Request,
    *,
    object_id: str | None = None,
    fields: Iterable[str] | None = None,
    target_org_id: str | None = None,
) -> None:
    """Tell the audit record what the handler found out (field names in snake or camel case)."""
    current = _note(request)
    if object_id is not None:
        current.object_id = object_id
    if fields is not None:
        current.fields = sorted({to_camel(f) for f in fields if f != "version"})
    if target_org_id is not None:
        current.target_org_id = target_org_id


def changed(before: BaseModel, after: BaseModel, names: Iterable[str]) -> list[str]:
    """The names among ``names`` whose value differs between two versions of an object."""
    return [n for n in names if getattr(before, n, None) != getattr(after, n, None)]


def action_of(method: str, path: str) -> tuple[str, str]:
    """(object type, action) of an admin route: ``PUT /admin/channels/{channel}`` is
    ("channel", "channel.update"); ``POST /admin/channels/{channel}/cue`` is ("channel", "channel.cue")."""
    parts = [p for p in path.split("/")[2:] if not p.startswith("{")]
    kind = _KINDS.get(parts[0], parts[0])
    verb = parts[1] if len(parts) > 1 else _VERBS.get(method, method.lower())
    if kind == "token" and verb == "delete":
        verb = "revoke"
    return kind, f"{kind}.{verb}"


def _object_ref(request: web.Request) -> str | None:
    values = list(request.match_info.values())
    if not values:
        return None
    value = values[0]
    return value if _REF.fullmatch(value) else "(invalid)"


async def record(
    request: web.Request, store: Store, method: str, path: str, ctx: AuthContext, status: int, problem: str | None
) -> None:
    """Store one audit record (never raises: a failure is logged with the whole record)."""
    current = _note(request)
    object_type, action = action_of(method, path)
    result = "ok" if status < 400 else "error"
    event: dict[str, Any] = {
        "occurred_at": time.time(),
        "org_id": ctx.org_id,
        "target_org_id": current.target_org_id or ctx.org_id,
        "token_id": ctx.token_id,
        "role": ctx.role,
        "action": action,
        "method": method,
        "route": path,
        "object_type": object_type,
        "object_ref": _object_ref(request),
        "object_id": current.object_id,
        "fields": current.fields,
        "status": status,
        "result": result,
        "problem": problem,
        "source_ip": (request.remote or "")[:64] or None,
    }
    try:
        await store.audit.append(event)
    except Exception as exc:
        m.audit_events_total.labels("write_failed").inc()
        log_event(
            log,
            "audit_write_failed",
            f"Audit record could not be stored ({type(exc).__name__}); it is in this line instead",
            level=logging.ERROR,
            **{f"audit_{k}": v for k, v in event.items()},
        )
        return
    m.audit_events_total.labels(result).inc()
