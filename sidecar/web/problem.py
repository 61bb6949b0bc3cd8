"""RFC 9457 problem details, and the middleware that guarantees every error is one.

Problem ``type`` values are URNs (``urn:sidecar:problem:<name>``) documented in
``docs/problems.md``. Validation problems list each bad field in ``errors`` with a JSON pointer
(``#/originUrl``) and the field's dotted name, as RFC 9457 §3's example does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from sidecar.config.store import Conflict, Invalid, NotFound, StoreError

log = logging.getLogger("sidecar.web")

CONTENT_TYPE = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class Problem(Exception):
    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = list(errors or [])
        self.headers = headers or {}
        self.extra = extra

    def response(self, instance: str) -> web.Response:
        body: dict[str, Any] = {
            "type": f"urn:sidecar:problem:{self.kind}",
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return web.Response(
            status=self.status,
            text=json.dumps(body),
            content_type=CONTENT_TYPE,
            headers=self.headers,
        )


def field_name(loc: Sequence[str | int]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def from_validation(exc: ValidationError) -> Problem:
    errors = []
    for err in exc.errors(include_input=False, include_url=False):
        if err["type"] == "json_invalid":
            return Problem(400, "malformed-json", f"request body is not valid JSON: {err['msg']}")
        # Report fields by their wire (camelCase) names; an unknown field as it was sent.
        loc = [p for p in err["loc"] if p != "function-after"]
        if err["type"] != "extra_forbidden":
            loc = [to_camel(p) if isinstance(p, str) else p for p in loc]
        message = err["msg"].removeprefix("Value error, ")
        # Cross-field rules raise "fieldName: message" with no location of their own.
        if not loc and ":" in message and " " not in message.split(":", 1)[0]:
            field, message = message.split(":", 1)
            loc, message = [field], message.strip()
        errors.append(
            {
                "field": field_name(loc) or "(body)",
                "pointer": "#/" + "/".join(str(p) for p in loc),
                "detail": message,
                "code": err["type"],
            }
        )
    first = errors[0]
    detail = f"{first['field']}: {first['detail']}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return Problem(422, "validation", detail, errors=errors)


def from_store(exc: StoreError) -> Problem:
    if isinstance(exc, NotFound):
        return Problem(404, "not-found", str(exc))
    if isinstance(exc, Conflict):
        return Problem(
            409,
            "conflict",
            exc.detail,
            errors=[{"field": exc.field, "pointer": f"#/{exc.field}", "detail": exc.detail, "code": "conflict"}],
        )
    if isinstance(exc, Invalid):
        # A reference to something the organization does not have: not found, like asking for it
        # directly (a well-formed body is never a 422 for what the schema cannot know).
        return Problem(
            404,
            "not-found",
            f"{exc.field}: {exc.detail}",
            errors=[{"field": exc.field, "pointer": f"#/{exc.field}", "detail": exc.detail, "code": "reference"}],
        )
    return Problem(503, "store-unavailable", "the config store could not answer")


HTTP_KINDS = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}


def outcome_of(exc: BaseException) -> tuple[int, str]:
    """(status, problem kind) that the middleware will answer ``exc`` with."""
    problem = as_problem(exc) if isinstance(exc, Exception) else None
    if problem is not None:
        return problem.status, problem.kind
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return exc.status, HTTP_KINDS.get(exc.status, "http")
    return 500, "internal"


def as_problem(exc: Exception) -> Problem | None:
    """The problem an expected failure answers with (None: a bug, answered 500)."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation(exc)
    if isinstance(exc, StoreError):
        return from_store(exc)
    return None


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into problem+json; an unexpected one is logged and becomes a 500."""
    try:
        return await handler(request)
    except (Problem, ValidationError, StoreError) as exc:
        problem = as_problem(exc)
        assert problem is not None
        return problem.response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = HTTP_KINDS.get(exc.status, "http")
        detail = exc.text if exc.text and not exc.text.startswith(str(exc.status)) else exc.reason
        if exc.status == 413:
            detail = f"request body larger than {request.client_max_size} bytes"
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return Problem(exc.status, kind, detail or exc.reason, headers=headers).response(request.path)
    except Exception:
        log.exception("unhandled error", extra={"event": "unhandled_error", "path": request.path})
        return Problem(500, "internal", "internal error; see the service log").response(request.path)
