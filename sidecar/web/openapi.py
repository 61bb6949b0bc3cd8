"""OpenAPI 3.1 document of the admin API, built from the route table and the pydantic models.

The document is meant to be exactly what the service does, no more and no less: every body,
path parameter and query parameter carries the constraints the validator enforces; replies have
their real schemas; creates link their id to the operations on the created object; every status
an operation can answer is listed. tests/web/test_schema_fuzz.py runs Schemathesis (stateful,
all checks) against a live service to keep it so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from sidecar import __version__
from sidecar.actors.state import AdBreak
from sidecar.config.models import SLUG_PATTERN
from sidecar.settings import Settings
from sidecar.web.admin import ROUTES, Route
from sidecar.web.cue import CueIn, get_break, post_cue

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; type is one of the URNs in docs/problems.md",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": "^urn:sidecar:problem:[a-z0-9-]+$"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "pointer", "detail", "code"],
                "properties": {
                    "field": {"type": "string"},
                    "pointer": {"type": "string"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                },
            },
        },
    },
}

ERRORS = {
    "400": "Malformed JSON or query parameter (bad-query names it)",
    "401": "Missing or invalid bearer token",
    "403": "The token's role is not enough (forbidden), or a URL names an address the URL policy denies "
    "(url-denied; errors[] names the field)",
    "404": "Not found in the token's organization: the path's object, or an object the body refers to "
    "(errors[] names the field)",
    "409": "Conflict: duplicate slug, stale version, a partial update that would leave the object invalid "
    "(errors[] names the field), a break already running",
    "413": "Body too large",
    "415": "Body is not JSON",
    "422": "A field is invalid; errors[] names it",
    "503": "The store, the cache or the channel's state could not answer; retry",
}

BREAK_STATE: dict[str, Any] = {
    "type": "object",
    "required": ["active", "pod", "source", "eventId", "startedAt", "endsAt", "version", "updatedAt", "break"],
    "properties": {
        "active": {"type": "boolean"},
        "pod": {"type": ["string", "null"]},
        "source": {"type": ["string", "null"]},
        "eventId": {"type": ["string", "null"]},
        "startedAt": {"type": ["number", "null"]},
        "endsAt": {"type": ["number", "null"]},
        "version": {"type": "integer"},
        "updatedAt": {"type": "number"},
        "break": {"anyOf": [{"$ref": "#/components/schemas/AdBreak"}, {"type": "null"}]},
        "instance": {"type": "string"},
        "instanceId": {"type": "string"},
        "changed": {"type": "boolean"},
        "persisted": {"type": "boolean"},
    },
}


def operation_id(route: Route) -> str:
    return f"{route.method.lower()}_{re.sub(r'[^a-z]+', '_', route.path.lower()).strip('_')}"


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every model the document names: bodies as validated, replies as serialized."""
    found: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(AdBreak, "serialization"): None}
    for route in ROUTES:
        if route.body is not None:
            found[(route.body, "validation")] = None
        for value in (route.reply or {}).values():
            model = value[0] if isinstance(value, list) else value
            if isinstance(model, type) and issubclass(model, BaseModel):
                found[(model, "serialization")] = None
    return list(found)


Refs = Mapping[tuple[Any, JsonSchemaMode], dict[str, Any]]


def _reply_schema(route: Route, refs: Refs) -> dict[str, Any]:
    if route.handler in (post_cue, get_break):
        return BREAK_STATE
    if route.reply is None:
        return {"type": "object"}
    properties: dict[str, Any] = {}
    required = []
    for key, value in route.reply.items():
        name = key.removesuffix("?")
        if not key.endswith("?"):
            required.append(name)
        if isinstance(value, list):
            properties[name] = {"type": "array", "items": refs[(value[0], "serialization")]}
        elif isinstance(value, type):
            properties[name] = refs[(value, "serialization")]
        else:
            properties[name] = value
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def _links(route: Route) -> dict[str, Any]:
    """OpenAPI links from a create to every operation on the created object, passing its id."""
    if route.link is None:
        return {}
    param, pointer = route.link
    links = {}
    for other in ROUTES:
        if other.path.startswith(f"{route.path}/{{{param}}}") and other.path.count("{") == 1:
            links[operation_id(other)] = {
                "operationId": operation_id(other),
                "parameters": {param: f"$response.body#{pointer}"},
                "description": f"The {param} this call created",
            }
    return links


def _constrain_cue(components: dict[str, Any], settings: Settings) -> None:
    """The bounds of a start's duration are a setting, so the model cannot state them; the
    handler enforces them (0 < duration <= SIDECAR_MAX_BREAK_SECONDS) for a start only, and the
    document says exactly that."""
    bounded = {"type": "number", "exclusiveMinimum": 0, "maximum": settings.max_break_seconds}
    components[CueIn.__name__].update(
        {
            "if": {"properties": {"action": {"const": "start"}}, "required": ["action"]},
            "then": {"properties": {"duration": {"anyOf": [bounded, {"type": "null"}]}}},
        }
    )


def build(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    refs, defs = models_json_schema(_models(), by_alias=True, ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA, **defs.get("$defs", {})}
    _constrain_cue(components, settings)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        success: dict[str, Any] = {
            "description": "OK",
            "content": {"application/json": {"schema": _reply_schema(route, refs)}},
        }
        links = _links(route)
        if links:
            success["links"] = links
        statuses = {str(route.status): success}
        if route.handler is post_cue:
            statuses["201"] = {**success, "description": "A break started"}
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": operation_id(route),
            "tags": [route.tag],
            "description": f"Requires role `{route.role}` or above.",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": SLUG_PATTERN},
                    "description": "token id" if p == "token" else "id or slug",
                }
                for p in re.findall(r"{(\w+)}", route.path)
            ]
            + [q.spec() for q in route.query],
            "responses": {
                **statuses,
                **{
                    code: {
                        "description": text,
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sidecar admin API",
            "version": __version__,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
