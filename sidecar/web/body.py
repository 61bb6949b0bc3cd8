"""Reading request bodies: JSON only, size-capped by the app, validated by a strict model."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from sidecar.web.problem import Problem

B = TypeVar("B", bound=BaseModel)


async def parse_body(request: web.Request, model: type[B]) -> B:
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise Problem(415, "unsupported-media-type", f"send Content-Type: application/json (got {ctype or 'none'})")
    raw = await request.read()
    if not raw.strip():
        raise Problem(400, "malformed-json", "request body is empty; send a JSON object")
    # The wire format is camelCase only, as the OpenAPI document says (snake_case is Python's side).
    return model.model_validate_json(raw, by_alias=True, by_name=False)
