"""Query parameters declared once: the OpenAPI schema and the parser come from the same object.

A value the schema calls invalid is a 400 ``bad-query`` naming the parameter; a value it calls
valid is accepted, exactly as the admin API's bodies are (tests/web/test_schema_fuzz.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from sidecar.web.problem import Problem

_INTEGER = re.compile(r"-?[0-9]+(\.0+)?")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class Query:
    name: str
    kind: Literal["boolean", "integer", "number", "string"]
    description: str
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] | None = None
    pattern: str | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.kind}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema

    def spec(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        return {"name": self.name, "in": "query", "required": False, "schema": self.schema(),
                "description": self.description}

    def _bad(self, expected: str) -> Problem:
        return Problem(
            400,
            "bad-query",
            f"{self.name} must be {expected}",
            errors=[{"field": self.name, "pointer": f"?{self.name}", "detail": f"must be {expected}",
                     "code": f"{self.kind}_parsing"}],
        )

    def parse(self, raw: str) -> Any:
        value: Any
        if self.kind == "boolean":
            if raw not in ("true", "false"):
                raise self._bad("true or false")
            return raw == "true"
        if self.kind == "integer":
            if not _INTEGER.fullmatch(raw):
                raise self._bad("an integer")
            value = int(raw.split(".", 1)[0])  # exact: a float would round large values into range
        if self.kind == "number":
            value = float(raw) if _NUMBER.fullmatch(raw) else math.nan
            if not math.isfinite(value):
                raise self._bad("a number")
        if self.kind in ("integer", "number"):
            if self.minimum is not None and value < self.minimum:
                raise self._bad(f"at least {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise self._bad(f"at most {self.maximum:g}")
            return value
        if self.enum is not None and raw not in self.enum:
            raise self._bad("one of " + ", ".join(self.enum))
        if self.pattern is not None and not re.fullmatch(self.pattern.strip("^$"), raw):
            raise self._bad(f"a value matching {self.pattern}")
        return raw

    def get(self, request: web.Request, default: Any = None) -> Any:
        raw = request.query.get(self.name)
        return default if raw is None else self.parse(raw)
