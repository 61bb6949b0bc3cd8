"""Send one beacon: GET with a short timeout, retry only what can succeed later, count everything.

Why the rules are what they are:

* **2xx and 3xx are delivered.** A tracker that redirects has recorded the hit; following the
  redirect would add requests (often to a third party) without telling the ad server anything.
* **Only transient failures are retried** (timeout, connection error, 5xx), with exponential
  backoff and jitter so that many processes recovering together do not hit the tracker in step.
* **A 4xx or a URL we cannot or must not fetch is dropped at once with one log line.** Retrying a
  request the server has rejected cannot succeed and, multiplied by viewers, is a retry storm.
* **Macros are expanded per attempt**, so every request carries a fresh ``[CACHEBUSTING]`` and the
  ``[TIMESTAMP]`` of when it was actually sent.

``deliver`` never raises for remote failures; it returns the ``Outcome`` and has already counted it
(``beacons_total{event,result}``, with ``retried`` once per retry).
"""

from __future__ import annotations

import asyncio
import logging
import random

import aiohttp
from yarl import URL

from sidecar.ads.beacon_model import Beacon, BeaconOptions, Outcome
from sidecar.ads.vast_macros import expand_macros
from sidecar.net.client import denial_of, fetching
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.beacons")


class _Permanent(Exception):
    """The request can never succeed (4xx, unusable URL): drop, do not retry."""


class _Transient(Exception):
    """The request may succeed later (timeout, connection error, 5xx): retry."""


def check_url(url: str) -> URL:
    """Parse ``url`` and refuse anything but absolute http(s): no ``file:``, no relative paths."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise _Permanent(f"unparseable URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise _Permanent(f"not an absolute http(s) URL (scheme {parsed.scheme or 'none'!r})")
    return parsed


async def _attempt(session: aiohttp.ClientSession, beacon: Beacon, timeout_s: float) -> int:
    target = check_url(expand_macros(beacon.url))
    try:
        with fetching("beacon"):
            async with session.get(
                target, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                status = resp.status
    except aiohttp.InvalidURL as exc:
        raise _Permanent(f"invalid URL: {exc}") from exc
    except TimeoutError as exc:
        raise _Transient(f"timeout after {timeout_s}s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        denial = denial_of(exc)
        if denial is not None:  # the address will not become allowed by retrying
            raise _Permanent(f"the URL policy denies {denial}") from exc
        raise _Transient(f"{type(exc).__name__}: {exc}") from exc
    if status < 400:
        return status
    if status < 500:
        raise _Permanent(f"HTTP {status}")
    raise _Transient(f"HTTP {status}")


def _host(url: str) -> str:
    """Host only, for logs: tracking query strings are long and may carry viewer identifiers."""
    try:
        return URL(url).host or ""
    except (ValueError, TypeError):
        return ""


async def deliver(session: aiohttp.ClientSession, beacon: Beacon, options: BeaconOptions) -> Outcome:
    """Send ``beacon`` with retries; count and return its outcome (never raises for HTTP trouble)."""
    last = ""
    for attempt in range(1, options.attempts + 1):
        if attempt > 1:
            m.beacons_total.labels(beacon.event, "retried").inc()
            delay = options.retry_delay(attempt - 1) * random.uniform(0.8, 1.2)
            await asyncio.sleep(delay)
        try:
            await _attempt(session, beacon, options.timeout)
        except _Permanent as exc:
            m.beacons_total.labels(beacon.event, Outcome.DROPPED.value).inc()
            log_event(
                log,
                "beacon_dropped",
                f"Beacon dropped without retry: {exc}",
                level=logging.WARNING,
                key=beacon.key,
                beacon_event=beacon.event,
                host=_host(beacon.url),
                reason=str(exc),
                org=beacon.org,
                channel=beacon.channel,
            )
            return Outcome.DROPPED
        except _Transient as exc:
            last = str(exc)
            continue
        m.beacons_total.labels(beacon.event, Outcome.SENT.value).inc()
        return Outcome.SENT
    m.beacons_total.labels(beacon.event, Outcome.FAILED.value).inc()
    log_event(
        log,
        "beacon_failed",
        f"Beacon failed after {options.attempts} attempts: {last}",
        level=logging.WARNING,
        key=beacon.key,
        beacon_event=beacon.event,
        host=_host(beacon.url),
        reason=last,
        attempts=options.attempts,
        org=beacon.org,
        channel=beacon.channel,
    )
    return Outcome.FAILED
