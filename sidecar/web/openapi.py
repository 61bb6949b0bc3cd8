"""OpenAPI 3.1 document for the admin API, built from the route table and pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from sidecar import __version__
from sidecar.web.admin import ROUTES

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
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
    "400": "Malformed JSON or query",
    "401": "Missing or invalid bearer token",
    "403": "The token's role is not enough",
    "404": "Not found in the token's organization",
    "409": "Conflict (duplicate slug or stale version)",
    "413": "Body too large",
    "415": "Body is not JSON",
    "422": "A field is invalid; errors[] names it",
}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build() -> dict[str, Any]:
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z]+', '_', route.path.lower()).strip('_')}",
            "tags": [route.tag],
            "description": f"Requires role `{route.role}` or above.",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "id or slug" if p != "token" else "token id",
                }
                for p in re.findall(r"{(\w+)}", route.path)
            ],
            "responses": {
                str(route.status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **{
                    code: {
                        "description": text,
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    }
                    for code, text in ERRORS.items()
                },
            },
        }
        if route.warm:
            op["parameters"].append(
                {
                    "name": "warm",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean"},
                    "description": "Re-read the changed channels into the cache",
                }
            )
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(route.body, components)}},
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
