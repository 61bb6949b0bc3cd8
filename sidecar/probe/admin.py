"""A small client of the admin API, for the probe and the load test.

Both act as an operator would: through the public admin API with a bearer token, never by
reaching into the store, so what they measure includes everything a real change goes through
(auth, the SQL write, cache invalidation and the bus).
"""

from __future__ import annotations

from typing import Any

import aiohttp


class AdminError(Exception):
    """The admin API refused or failed a request; ``status`` 0 means it was unreachable."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail


class AdminClient:
    """Calls ``{admin_url}/admin/...`` with ``Authorization: Bearer <token>``."""

    def __init__(self, http: aiohttp.ClientSession, admin_url: str, token: str) -> None:
        self.http = http
        self.base = admin_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            async with self.http.request(method, self.base + path, json=body, headers=self.headers) as resp:
                text = await resp.text()
                try:
                    payload = await resp.json(content_type=None)
                except ValueError:
                    payload = {"detail": text[:200]}
                if resp.status >= 400:
                    detail = payload.get("detail", text[:200]) if isinstance(payload, dict) else text[:200]
                    raise AdminError(resp.status, str(detail))
                return payload if isinstance(payload, dict) else {"value": payload}
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise AdminError(0, f"{method} {self.base}{path}: {type(exc).__name__}: {exc}") from None

    async def org_slug(self) -> str:
        return str((await self.request("GET", "/admin/org"))["organization"]["slug"])

    async def channels(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", "/admin/channels"))["channels"])

    async def channel(self, ref: str) -> dict[str, Any] | None:
        try:
            return dict((await self.request("GET", f"/admin/channels/{ref}"))["channel"])
        except AdminError as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST to ``/admin/{collection}``; returns the created object (409 on a taken slug)."""
        payload = await self.request("POST", f"/admin/{collection}", body)
        return dict(next(v for k, v in payload.items() if k != "cache"))

    async def update_channel(self, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Partial update; the returned channel carries the new ``version``."""
        return dict((await self.request("PUT", f"/admin/channels/{ref}", changes))["channel"])

    async def cue(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", f"/admin/channels/{ref}/cue", body)
