"""Typed application keys shared by the apps and their handlers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sidecar.services import Services

SERVICES = web.AppKey("services", Services)
MAX_BODY = web.AppKey("max_body_bytes", int)
OPENAPI = web.AppKey("openapi", dict[str, Any])
