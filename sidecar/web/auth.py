"""Bearer-token auth for the admin and cue API.

Tokens look like ``sct_tok_<id>_<secret>``; only a salted hash of the secret is stored. Every
token belongs to one organization and has one role; roles are ordered, each including the ones
before it. There is deliberately no switch to turn auth off.
"""

from __future__ import annotations

import time

from aiohttp import web

from sidecar.config.models import ROLES
from sidecar.config.store import AuthContext, Store
from sidecar.telemetry import catalogue as m
from sidecar.web.problem import Problem

RANK = {role: i for i, role in enumerate(ROLES)}
TOUCH_INTERVAL = 60.0
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="sidecar-admin"'}


def _fail(reason: str, detail: str) -> Problem:
    m.auth_failures_total.labels(reason).inc()
    return Problem(401, "unauthorized", detail, headers=CHALLENGE)


class Authenticator:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._touched: dict[str, float] = {}

    async def __call__(self, request: web.Request) -> AuthContext:
        header = request.headers.get("Authorization")
        if not header:
            raise _fail("missing", "missing Authorization: Bearer <token> header")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _fail("malformed", "Authorization header must be 'Bearer <token>'")
        ctx, reason = await self.store.authenticate(token.strip())
        if ctx is None:
            raise _fail(reason, f"token is {reason}" if reason in ("revoked", "expired") else "invalid token")
        now = time.monotonic()
        if now - self._touched.get(ctx.token_id, -TOUCH_INTERVAL) >= TOUCH_INTERVAL:
            self._touched[ctx.token_id] = now
            await self.store.touch_token(ctx.token_id)
        return ctx


def require(ctx: AuthContext, role: str) -> None:
    if RANK[ctx.role] < RANK[role]:
        m.auth_failures_total.labels("forbidden").inc()
        raise Problem(403, "forbidden", f"this action needs role {role!r}; the token has {ctx.role!r}")
