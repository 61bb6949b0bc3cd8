"""ssai_config_writes_total counts committed admin writes to config, by object kind and operation."""

from __future__ import annotations

from tests.conftest import Stack, make_tenant
from tests.scrape import Scrape


def writes(kind: str, operation: str) -> float:
    return Scrape().get("ssai_config_writes_total", kind=kind, operation=operation) or 0.0


async def test_admin_writes_are_counted_by_kind_and_operation(stack: Stack) -> None:
    tenant = await make_tenant(stack.svc.store)
    before = {(k, o): writes(k, o) for k in ("channel", "slate") for o in ("create", "update", "delete")}
    body = {"slug": "c1", "name": "C", "originUrl": "http://127.0.0.1:9/m"}
    assert (await stack.admin.post("/admin/channels", json=body, headers=tenant.auth)).status == 201
    assert (await stack.admin.post("/admin/channels", json=body, headers=tenant.auth)).status == 409  # not a write
    assert (await stack.admin.put("/admin/channels/c1", json={"name": "D"}, headers=tenant.auth)).status == 200
    assert (await stack.admin.patch("/admin/channels/c1", json={"name": "E"}, headers=tenant.auth)).status == 200
    assert (await stack.admin.post("/admin/channels/c1/invalidate", headers=tenant.auth)).status == 200  # not config
    assert (await stack.admin.delete("/admin/channels/c1", headers=tenant.auth)).status == 200
    after = {key: writes(*key) for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        ("channel", "create"): 1,
        ("channel", "update"): 2,
        ("channel", "delete"): 1,
        ("slate", "create"): 0,
        ("slate", "update"): 0,
        ("slate", "delete"): 0,
    }
