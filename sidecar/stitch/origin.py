"""Fetching origin playlists: shared micro-cache, single flight, bounded size and time.

Every viewer of a channel polls the same few origin playlists, so one process fetches each at
most once per ``ttl`` (a fraction of the target duration) and every concurrent request shares
that fetch. Failures are classified (timeout, connect, http_4xx, http_5xx, oversized, invalid)
so the manifest answers 502/504 naming the cause, and metrics count them.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import aiohttp
from opentelemetry.trace import SpanKind

from sidecar.net.client import denial_of, fetching
from sidecar.telemetry import catalogue as m
from sidecar.telemetry import tracing

MAX_PLAYLIST_BYTES = 5 * 1024 * 1024


class OriginError(Exception):
    def __init__(self, reason: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class Fetched:
    url: str
    text: str
    digest: str
    fetched_at: float


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """Read until EOF or ``cap`` bytes, whichever comes first (``read(n)`` may return less)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= cap:
            break
    return b"".join(chunks)[:cap]


class OriginClient:
    def __init__(self, session: aiohttp.ClientSession, *, ttl: float = 1.0, timeout: float = 3.0) -> None:
        self.session = session
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[str, Fetched] = {}
        self._flights: dict[str, asyncio.Future[Fetched]] = {}

    def fresh(self, url: str) -> Fetched | None:
        """The shared fetch of ``url`` if it is still within the TTL (no I/O)."""
        hit = self._cache.get(url)
        if hit is not None and time.monotonic() - hit.fetched_at < self.ttl:
            return hit
        return None

    async def get(self, url: str, *, ttl: float | None = None) -> Fetched:
        hit = self._cache.get(url)
        if hit is not None and time.monotonic() - hit.fetched_at < (self.ttl if ttl is None else ttl):
            return hit
        flight = self._flights.get(url)
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[Fetched] = asyncio.get_running_loop().create_future()
        self._flights[url] = future
        try:
            fetched = await self._fetch(url)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        else:
            future.set_result(fetched)
            self._cache[url] = fetched
            if len(self._cache) > 10_000:
                self._cache.clear()
            return fetched
        finally:
            del self._flights[url]

    async def _fetch(self, url: str) -> Fetched:
        with fetching("origin", unless_set=True), tracing.span("origin.fetch", kind=SpanKind.CLIENT) as span:
            if span is not None:
                span.set_attribute("url.full", url)
            return await self._fetch_traced(url)

    async def _fetch_traced(self, url: str) -> Fetched:
        started = time.perf_counter()
        try:
            async with self.session.get(
                url, timeout=aiohttp.ClientTimeout(total=self.timeout), headers=tracing.outgoing({})
            ) as resp:
                if resp.status >= 400:
                    kind = "http_4xx" if resp.status < 500 else "http_5xx"
                    raise OriginError(kind, f"origin answered HTTP {resp.status}", resp.status)
                body = await _read_capped(resp, MAX_PLAYLIST_BYTES + 1)
        except OriginError:
            m.origin_fetch_seconds.labels("error").observe(time.perf_counter() - started)
            raise
        except TimeoutError:
            m.origin_fetch_seconds.labels("error").observe(time.perf_counter() - started)
            raise OriginError("timeout", f"origin did not answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            m.origin_fetch_seconds.labels("error").observe(time.perf_counter() - started)
            denial = denial_of(exc)
            if denial is not None:
                raise OriginError(
                    "denied", f"the URL policy does not allow this address ({denial.reason.replace('_', ' ')})"
                ) from None
            raise OriginError("connect", f"origin unreachable: {type(exc).__name__}") from None
        m.origin_fetch_seconds.labels("error" if len(body) > MAX_PLAYLIST_BYTES else "ok").observe(
            time.perf_counter() - started
        )
        if len(body) > MAX_PLAYLIST_BYTES:
            raise OriginError("oversized", f"origin playlist larger than {MAX_PLAYLIST_BYTES} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise OriginError("invalid", "origin playlist is not UTF-8 text") from None
        return Fetched(url, text, hashlib.blake2b(body, digest_size=12).hexdigest(), time.monotonic())
