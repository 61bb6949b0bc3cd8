"""Cue API: validation, org scope, start/stop semantics, durable answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Stack, make_tenant
from tests.web.test_admin_api import create_channel, problem


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "start", "duration": 0}, "duration"),
        ({"action": "start", "duration": -5}, "duration"),
        ({"action": "start", "duration": 100000}, "duration"),
        ({"action": "start", "duration": "30"}, "duration"),
        ({"action": "start", "duration": True}, "duration"),
        ({"action": "start", "duration": None, "bogus": 1}, "bogus"),
        ({"action": "pause"}, "action"),
        ({}, "action"),
        ({"action": "start", "duration": 30, "pod": "no-such-pod"}, "pod"),
    ],
)
async def test_bad_cues_are_422_naming_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    """Invalid is 422; a pod the organization does not have is 404 (as asking for it is)."""
    t = await make_tenant(stack.svc.store)
    await create_channel(stack, t)
    resp = await stack.admin.post("/admin/channels/sports1/cue", json=body, headers=t.auth)
    detail = await problem(resp, 404 if field == "pod" else 422)
    assert detail["errors"][0]["field"] == field, detail
    state = await (await stack.admin.get("/admin/channels/sports1/break", headers=t.auth)).json()
    assert state["active"] is False and state["version"] == 0, "a rejected cue changes nothing"


async def test_start_status_stop(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    await create_channel(stack, t)
    resp = await stack.admin.post(
        "/admin/channels/sports1/cue", json={"action": "start", "duration": 30}, headers=t.auth
    )
    assert resp.status == 201
    started = await resp.json()
    assert started["active"] and started["persisted"] and started["source"] == "manual"
    assert started["endsAt"] - started["startedAt"] == pytest.approx(30)
    assert started["instance"] == f"LOCAL:{t.org_slug}:sports1"
    again = await stack.admin.post(
        "/admin/channels/sports1/cue", json={"action": "start", "duration": 10}, headers=t.auth
    )
    body = await problem(again, 409)
    assert body["current"]["eventId"] == started["eventId"]
    status = await (await stack.admin.get("/admin/channels/sports1/break", headers=t.auth)).json()
    assert status["version"] == started["version"] and status["active"]
    stop = await stack.admin.post("/admin/channels/sports1/cue", json={"action": "stop"}, headers=t.auth)
    assert stop.status == 200
    stopped = await stop.json()
    assert stopped["active"] is False and stopped["changed"] and stopped["version"] == started["version"] + 1
    noop = await (await stack.admin.post("/admin/channels/sports1/cue", json={"action": "stop"}, headers=t.auth)).json()
    assert noop["changed"] is False and noop["version"] == stopped["version"]


async def test_event_id_makes_start_idempotent(stack: Stack) -> None:
    t = await make_tenant(stack.svc.store)
    await create_channel(stack, t)
    body = {"action": "start", "duration": 20, "eventId": "ev-42"}
    first = await stack.admin.post("/admin/channels/sports1/cue", json=body, headers=t.auth)
    second = await stack.admin.post("/admin/channels/sports1/cue", json=body, headers=t.auth)
    assert first.status == 201 and second.status == 200
    assert (await second.json())["changed"] is False
    assert (await first.json())["endsAt"] == (await second.json())["endsAt"]


async def test_cues_are_org_scoped_and_role_checked(stack: Stack) -> None:
    a = await make_tenant(stack.svc.store)
    b = await make_tenant(stack.svc.store)
    await create_channel(stack, a)
    await problem(await stack.admin.post("/admin/channels/sports1/cue", json={"action": "stop"}, headers=b.auth), 404)
    await problem(await stack.admin.post("/admin/channels/sports1/cue", json={"action": "stop"}), 401)
    _, viewer = await stack.svc.store.create_token(a.org_id, "viewer")
    _, operator = await stack.svc.store.create_token(a.org_id, "operator")
    await problem(
        await stack.admin.post(
            "/admin/channels/sports1/cue", json={"action": "stop"}, headers={"Authorization": f"Bearer {viewer}"}
        ),
        403,
    )
    resp = await stack.admin.post(
        "/admin/channels/sports1/cue",
        json={"action": "start", "duration": 5},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert resp.status == 201


async def test_colo_header_is_only_trusted_when_configured(sqlite_url: str) -> None:
    from tests.conftest import start_stack

    trusting = await start_stack(database_url=sqlite_url, trust_colo_header=True, colo="SJC")
    try:
        t = await make_tenant(trusting.svc.store)
        await create_channel(trusting, t)
        resp = await trusting.admin.post(
            "/admin/channels/sports1/cue",
            json={"action": "start", "duration": 5},
            headers={**t.auth, "X-Sidecar-Colo": "lhr"},
        )
        assert (await resp.json())["instance"] == f"LHR:{t.org_slug}:sports1"
        # The LHR cue is visible to the SJC instance: one durable truth per channel.
        status = await (await trusting.admin.get("/admin/channels/sports1/break", headers=t.auth)).json()
        assert status["instance"] == f"SJC:{t.org_slug}:sports1" and status["active"]
        await problem(
            await trusting.admin.get(
                "/admin/channels/sports1/break", headers={**t.auth, "X-Sidecar-Colo": "not a colo"}
            ),
            400,
        )
    finally:
        await trusting.close()
