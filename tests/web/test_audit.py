"""The audit trail: every admin write, who made it, what it changed (names, never values), how it
ended; readable by admins of the organizations concerned, paginated and filtered; pruned."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from sidecar.config.store import Store
from tests.conftest import REDIS_URL, Stack, Tenant, make_tenant, start_stack, unique_slug
from tests.web.test_admin_api import channel_body, problem


async def trail(stack: Stack, tenant: Tenant, query: str = "") -> list[dict[str, Any]]:
    resp = await stack.admin.get(f"/admin/audit{query}", headers=tenant.auth)
    assert resp.status == 200, await resp.text()
    events: list[dict[str, Any]] = (await resp.json())["events"]
    return events


def token_id(tenant: Tenant) -> str:
    return "tok_" + tenant.token.split("_")[2]


async def test_writes_are_recorded_with_who_what_and_how_they_ended(stack: Stack) -> None:
    admin = await make_tenant(stack.svc.store)
    resp = await stack.admin.post("/admin/channels", json=channel_body(vastTimeoutMs=2500), headers=admin.auth)
    channel = (await resp.json())["channel"]
    await stack.admin.get("/admin/channels", headers=admin.auth)  # reads are not audited
    await stack.admin.put(  # name unchanged, origin changed: only originUrl changed
        "/admin/channels/sports1",
        json={"name": "Sports", "originUrl": "http://other.test/m.m3u8"},
        headers=admin.auth,
    )
    await stack.admin.put("/admin/channels/sports1", json={"mode": "sideways"}, headers=admin.auth)  # 422
    created = await (await stack.admin.post("/admin/tokens", json={"name": "ci", "role": "viewer"},
                                            headers=admin.auth)).json()
    viewer = Tenant(admin.org_id, admin.org_slug, created["secret"])
    await stack.admin.delete("/admin/channels/sports1", headers=viewer.auth)  # 403: a viewer cannot
    await stack.admin.delete("/admin/channels/sports1", headers={"Authorization": "Bearer nope"})  # 401: no "who"
    await stack.admin.delete(f"/admin/tokens/{created['token']['id']}", headers=admin.auth)

    events = await trail(stack, admin)
    assert [(e["action"], e["status"]) for e in events] == [
        ("token.revoke", 200),
        ("channel.delete", 403),
        ("token.create", 201),
        ("channel.update", 422),
        ("channel.update", 200),
        ("channel.create", 201),
    ]
    revoke, forbidden, minted, invalid, update, create = events
    assert create["fields"] == ["name", "originUrl", "slug", "vastTimeoutMs"]
    assert create["objectId"] == channel["id"] and create["route"] == "/admin/channels" and create["method"] == "POST"
    assert update["fields"] == ["originUrl"] and update["objectRef"] == "sports1"
    assert update["objectId"] == channel["id"]
    assert (invalid["result"], invalid["problem"], invalid["fields"]) == ("error", "validation", [])
    assert (forbidden["tokenId"], forbidden["role"], forbidden["problem"]) == (
        created["token"]["id"], "viewer", "forbidden")
    assert minted["objectId"] == created["token"]["id"] and minted["fields"] == ["name", "role"]
    assert revoke["objectType"] == "token" and revoke["objectId"] == created["token"]["id"]
    for event in events:
        assert event["orgId"] == event["targetOrgId"] == admin.org_id
        assert event["sourceIp"] == "127.0.0.1" and abs(event["occurredAt"] - time.time()) < 60
    assert all(e["tokenId"] == token_id(admin) for e in events if e is not forbidden)
    # Never a secret: not the minted token, not the caller's, not field values.
    dumped = json.dumps(events)
    for secret in (created["secret"], admin.token, admin.token.split("_", 3)[3], "other.test"):
        assert secret not in dumped


async def test_only_admins_of_the_organizations_concerned_read_it(stack: Stack) -> None:
    a, b = await make_tenant(stack.svc.store), await make_tenant(stack.svc.store)
    root = await make_tenant(stack.svc.store, role="super-admin")
    await stack.admin.post("/admin/channels", json=channel_body(), headers=a.auth)
    await stack.admin.put(f"/admin/orgs/{b.org_slug}", json={"name": "Renamed by root"}, headers=root.auth)
    _, editor = await stack.svc.store.create_token(a.org_id, "editor")
    await problem(await stack.admin.get("/admin/audit", headers={"Authorization": f"Bearer {editor}"}), 403)
    assert [e["action"] for e in await trail(stack, a)] == ["channel.create"]
    # B sees what root did to it (and not A's write); root sees its own action.
    seen_by_b = await trail(stack, b)
    assert [(e["action"], e["orgId"], e["targetOrgId"], e["fields"]) for e in seen_by_b] == [
        ("organization.update", root.org_id, b.org_id, ["name"])
    ]
    assert [e["action"] for e in await trail(stack, root)] == ["organization.update"]


@pytest.fixture
async def any_stack(db_url: str) -> AsyncIterator[Stack]:
    """SQLite alone, and PostgreSQL with Redis."""
    stack = await start_stack(database_url=db_url, redis_url=REDIS_URL if db_url.startswith("postgres") else None)
    yield stack
    await stack.close()


async def test_pages_and_filters(any_stack: Stack) -> None:
    stack = any_stack
    t = await make_tenant(stack.svc.store)
    for i in range(5):
        await stack.admin.post("/admin/channels", json=channel_body(f"c{i}"), headers=t.auth)
    await stack.admin.post("/admin/channels", json=channel_body("c0"), headers=t.auth)  # 409
    everything = await trail(stack, t)
    assert len(everything) == 6 and [e["id"] for e in everything] == sorted((e["id"] for e in everything),
                                                                            reverse=True)
    pages, query = [], "?limit=2"
    while True:
        resp = await (await stack.admin.get(f"/admin/audit{query}", headers=t.auth)).json()
        pages.append([e["id"] for e in resp["events"]])
        if resp["nextCursor"] is None:
            break
        query = f"?limit=2&before={resp['nextCursor']}"
    assert pages == [[e["id"] for e in everything[i : i + 2]] for i in range(0, 6, 2)]
    assert [e["status"] for e in await trail(stack, t, "?result=error")] == [409]
    assert len(await trail(stack, t, "?action=channel.create&result=ok")) == 5
    c3 = everything[2]
    assert c3["status"] == 201 and c3["objectId"].startswith("ch_")
    assert [e["id"] for e in await trail(stack, t, f"?objectId={c3['objectId']}")] == [c3["id"]]
    assert len(await trail(stack, t, f"?tokenId={token_id(t)}")) == 6
    assert await trail(stack, t, "?tokenId=tok_0000") == []
    middle = everything[3]["occurredAt"]
    assert {e["id"] for e in await trail(stack, t, f"?since={middle}")} == {e["id"] for e in everything[:4]}
    assert {e["id"] for e in await trail(stack, t, f"?until={middle}")} == {e["id"] for e in everything[4:]}
    for bad in ("limit=0", "limit=501", "limit=x", "before=0", "action=channel.fly", "result=maybe", "since=inf",
                "objectId=A%20B", "color=red"):
        body = await problem(await stack.admin.get(f"/admin/audit?{bad}", headers=t.auth), 400)
        assert body["errors"][0]["field"] == bad.split("=")[0]


async def test_old_records_are_pruned(sqlite_url: str) -> None:
    store = Store.from_url(sqlite_url)
    org = unique_slug("o")
    base = {"org_id": org, "target_org_id": org, "token_id": "tok_x", "role": "admin", "action": "channel.create",
            "method": "POST", "route": "/admin/channels", "object_type": "channel", "fields": [], "status": 201,
            "result": "ok"}
    try:
        await store.audit.append({**base, "occurred_at": time.time() - 3 * 86400})
        await store.audit.append({**base, "occurred_at": time.time() - 3600})
        stack = await start_stack(database_url=sqlite_url, audit_retention_days=2)  # prunes when it starts
        try:
            deadline = time.monotonic() + 10
            while len((await store.audit.query(org, _all(), limit=10))[0]) != 1:
                assert time.monotonic() < deadline, "the old record was not pruned"
                await asyncio.sleep(0.05)
        finally:
            await stack.close()
    finally:
        await store.close()


def _all() -> Any:
    from sidecar.config.audit import AuditFilter

    return AuditFilter()


async def test_a_record_that_cannot_be_stored_is_logged_whole(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from sidecar.config.migrate import upgrade

    url = f"sqlite:///{tmp_path}/broken.db"
    upgrade(url)
    stack = await start_stack(database_url=url)
    try:
        async with stack.svc.store.engine.begin() as conn:
            await conn.execute(text("DROP TABLE audit_events"))  # the audit store fails; the rest works
        t = await make_tenant(stack.svc.store)
        caplog.set_level(logging.ERROR, logger="sidecar.audit")
        resp = await stack.admin.post("/admin/channels", json=channel_body(), headers=t.auth)
        assert resp.status == 201, "the write itself is not lost"
        failed = [r for r in caplog.records if getattr(r, "event", "") == "audit_write_failed"]
        assert len(failed) == 1
        record = failed[0].__dict__
        assert (record["audit_action"], record["audit_token_id"], record["audit_status"]) == (
            "channel.create", token_id(t), 201)
        metrics = await (await stack.admin.get("/metrics")).text()
        assert 'ssai_audit_events_total{result="write_failed"} 1.0' in metrics
    finally:
        await stack.close()
