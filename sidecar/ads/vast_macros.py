"""VAST URL macros: the small set a server-side inserter can fill in honestly.

Supported (VAST 4.x §6 "Macros"):

* ``[CACHEBUSTING]``: a fresh random 8-digit number for every expansion, so that caches and
  de-duplicating proxies between us and the ad server see distinct requests.
* ``[TIMESTAMP]``: the current time, ISO 8601 UTC with milliseconds, percent-encoded as the
  spec requires of all macro values (``2026-05-01T12%3A00%3A00.000Z``).
* ``[ERRORCODE]``: only when an error code is given; otherwise left in place, so that an error
  URL template survives until someone knows which error to report.

Every other macro (``[CONTENTPLAYHEAD]``, ``[ADPLAYHEAD]``, ``[ASSETURI]`` ...) is left as is:
we either do not know the value server-side or must not send it, and the spec allows unknown
macros to pass through untouched. Expansion happens at request time (wrapper URLs when we
follow them, beacons when they are fired), never at parse time; see ``vast_model``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import quote

SUPPORTED_MACROS = ("[CACHEBUSTING]", "[TIMESTAMP]", "[ERRORCODE]")


def expand_macros(url: str, *, error_code: int | None = None, now: datetime | None = None) -> str:
    """Fill the supported macros in ``url``; ``now`` is injectable for deterministic tests."""
    if "[" not in url:
        return url
    if "[CACHEBUSTING]" in url:
        url = url.replace("[CACHEBUSTING]", cachebuster())
    if "[TIMESTAMP]" in url:
        url = url.replace("[TIMESTAMP]", quote(vast_timestamp(now), safe=""))
    if error_code is not None and "[ERRORCODE]" in url:
        url = url.replace("[ERRORCODE]", str(int(error_code)))
    return url


def cachebuster() -> str:
    """A random 8-digit decimal (no leading zero), as the spec defines ``[CACHEBUSTING]``."""
    return str(10_000_000 + secrets.randbelow(90_000_000))


def vast_timestamp(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
