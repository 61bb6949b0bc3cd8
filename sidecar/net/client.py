"""The HTTP client for tenant-supplied URLs: every connection is checked against the URL policy.

``PolicyConnector`` is an aiohttp ``TCPConnector`` that judges each address it is about to
connect to, after DNS and for every hop of a redirect, with the host name it was reached
through. Checking the connected address rather than the URL is what defeats DNS rebinding (a
name that resolved to a public address when a URL was saved and to 127.0.0.1 now) and
redirects to internal addresses. A socket factory checks the raw socket address once more for
what no allow entry can lift (own listeners, cloud metadata), so a bug in the first check cannot
open those.

A denied connection fails like an unreachable one (``aiohttp.ClientConnectorError``) whose
``os_error`` is an ``AddressDenied``; ``denial_of`` tells the callers (origin fetch, VAST,
beacons) apart from a network failure. Each denial is counted in ``ssai_url_denied_total``
{purpose, reason} and logged once a minute per host and reason, with the host and port only:
paths and query strings (where tenants put their ad-server keys) are never logged.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.tracing import Trace

from sidecar.net.policy import PURPOSES, Denial, UrlPolicy
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.net")

_purpose: ContextVar[str] = ContextVar("sidecar_fetch_purpose", default="other")
LOG_INTERVAL = 60.0


@contextlib.contextmanager
def fetching(purpose: str, *, unless_set: bool = False) -> Iterator[None]:
    """Label the fetches made inside this block (``unless_set``: keep an outer block's label)."""
    assert purpose in PURPOSES, purpose
    if unless_set and _purpose.get() != "other":
        yield
        return
    token = _purpose.set(purpose)
    try:
        yield
    finally:
        _purpose.reset(token)


class AddressDenied(OSError):
    """The URL policy refused to connect to this address."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(f"denied by the URL policy: {denial}")
        self.denial = denial


def denial_of(exc: BaseException) -> Denial | None:
    """The policy denial behind a client exception, if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AddressDenied):
            return current.denial
        inner = getattr(current, "os_error", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return None


class _Reporter:
    """Counts every denial and logs the first of each (purpose, host, reason) per interval."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str], tuple[float, int]] = {}

    def __call__(self, denial: Denial, purpose: str | None = None) -> None:
        purpose = purpose or _purpose.get()
        m.url_denied_total.labels(purpose, denial.reason).inc()
        key = (purpose, denial.host, denial.reason)
        now = time.monotonic()
        last, suppressed = self._last.get(key, (-LOG_INTERVAL, 0))
        if now - last < LOG_INTERVAL:
            self._last[key] = (last, suppressed + 1)
            return
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = (now, 0)
        log_event(
            log,
            "url_denied",
            f"URL policy denied a {purpose} fetch: {denial}",
            level=logging.WARNING,
            purpose=purpose,
            reason=denial.reason,
            host=denial.host,
            port=denial.port,
            address=denial.address,
            suppressed=suppressed,
        )


report = _Reporter()


class PolicyConnector(aiohttp.TCPConnector):
    """A TCPConnector that connects only to addresses the URL policy allows."""

    def __init__(self, policy: UrlPolicy, **kwargs: Any) -> None:
        super().__init__(socket_factory=self._socket, **kwargs)
        self.policy = policy

    async def _resolve_host(self, host: str, port: int, traces: Sequence[Trace] | None = None) -> list[ResolveResult]:
        # The one place where aiohttp turns a URL's host (literal or name) into the list of
        # addresses it will connect to, for the first request and for every redirect.
        results = await super()._resolve_host(host, port, traces=traces)
        allowed: list[ResolveResult] = []
        first: Denial | None = None
        for result in results:
            denial = self.policy.check(host, result["host"], port)
            if denial is None:
                allowed.append(result)
            elif first is None:
                first = denial
        if allowed:
            return allowed
        assert first is not None
        report(first)
        raise AddressDenied(first)

    def _socket(self, addr_info: Any) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        denial = self.policy.never(str(sockaddr[0]), int(sockaddr[1]))
        if denial is not None:
            report(denial)
            raise AddressDenied(denial)
        return socket.socket(family=family, type=type_, proto=proto)


def client_session(policy: UrlPolicy, *, limit: int = 200, **kwargs: Any) -> aiohttp.ClientSession:
    """The session for fetching tenant-supplied URLs (never trusts proxy settings from the
    environment: a proxy would make the connected address the proxy's)."""
    connector = PolicyConnector(policy, limit=limit, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, trust_env=False, **kwargs)
