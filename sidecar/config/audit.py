"""The audit trail: who changed what through the admin API, when, and how it ended.

One row per admin write that carried a valid token (a request without one has no "who"; it is
counted in ``ssai_auth_failures_total``): the token id, its role and organization, the route and
action, the object (as named in the path, and its id), the names of the fields that changed or
were set — never their values, which may hold tenant secrets (an ad-server key in a VAST URL) —,
the HTTP status and problem type. Rows are kept ``SIDECAR_AUDIT_RETENTION_DAYS`` and then pruned.

Readable through ``GET /admin/audit`` by admins of the organization that acted or was acted on
(a super-admin suspending an organization shows in that organization's trail too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sidecar.config import schema as t
from sidecar.config.models import ApiModel


class AuditEvent(ApiModel):
    """One admin write, as ``GET /admin/audit`` returns it."""

    id: int = Field(description="Increasing; pass the last one as ?before= for the next page")
    occurred_at: float = Field(description="Unix seconds")
    org_id: str = Field(description="Organization of the token that acted")
    target_org_id: str = Field(description="Organization whose data the write concerns")
    token_id: str
    role: str
    action: str = Field(description="e.g. channel.update, token.create, organization.delete")
    method: str
    route: str = Field(description="Route template, e.g. /admin/channels/{channel}")
    object_type: str
    object_ref: str | None = Field(description="The object as the path named it (id or slug)")
    object_id: str | None = Field(description="The object's id, when the write found or made one")
    fields: list[str] = Field(description="Wire names of the fields the write changed (creates: set)")
    status: int = Field(description="HTTP status of the answer")
    result: str = Field(description="ok (2xx) or error")
    problem: str | None = Field(description="Problem type of an error answer")
    source_ip: str | None = Field(description="Peer address of the request")


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    token_id: str | None = None
    object_id: str | None = None
    result: str | None = None
    since: float | None = None
    until: float | None = None


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def append(self, event: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(t.audit_events).values(**event))

    async def query(
        self, org_id: str, where: AuditFilter, *, limit: int, before: int | None = None
    ) -> tuple[list[AuditEvent], int | None]:
        """Newest first; returns the page and the cursor of the next page (None at the end)."""
        table = t.audit_events
        conditions = [or_(table.c.org_id == org_id, table.c.target_org_id == org_id)]
        if before is not None:
            conditions.append(table.c.id < before)
        if where.action is not None:
            conditions.append(table.c.action == where.action)
        if where.token_id is not None:
            conditions.append(table.c.token_id == where.token_id)
        if where.object_id is not None:
            conditions.append(or_(table.c.object_id == where.object_id, table.c.object_ref == where.object_id))
        if where.result is not None:
            conditions.append(table.c.result == where.result)
        if where.since is not None:
            conditions.append(table.c.occurred_at >= where.since)
        if where.until is not None:
            conditions.append(table.c.occurred_at < where.until)
        query = select(table).where(*conditions).order_by(table.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = [AuditEvent.model_validate(dict(r)) for r in (await conn.execute(query)).mappings()]
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].id
        return rows, None

    async def prune(self, retention_seconds: float) -> int:
        """Delete records older than the retention period; returns how many went."""
        cutoff = time.time() - retention_seconds
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.audit_events).where(t.audit_events.c.occurred_at < cutoff))
        return int(result.rowcount or 0)
