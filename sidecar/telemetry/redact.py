"""Keeping credentials out of everything the service prints.

Database and Redis URLs carry passwords. ``mask_url`` shows a URL with its password (and any
query parameter that looks like one) replaced by ``***``; every message the CLI builds from a
URL uses it. As a net under that, ``scrub`` masks the password of any URL and any
``password=...`` pair in a text, and every secret ``register`` was given from the configured
URLs (those of 8 characters or more: shorter ones are too likely to be ordinary words, and are
still masked where they appear inside a URL). The log formatters and the handler of uncaught
exceptions pass everything through it, so a driver error that quotes its DSN prints masked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"pass|secret|token|key|auth", re.IGNORECASE)
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<password>[^@/]*)@")
_IN_TEXT = (
    re.compile(r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*:)[^@/\s'\"]+(?=@)"),
    re.compile(r"(?P<keep>\bpassword\s*[=:]\s*)(?!\*\*\*)[^\s,;'\"&]+", re.IGNORECASE),
)
MIN_REGISTERED = 8
_secrets: set[str] = set()


def _parts(url: str) -> list[str]:
    """The secret substrings of ``url``: its password and secret-looking query values."""
    found = []
    match = _USERINFO.match(url)
    if match and match.group("password"):
        found.append(match.group("password"))
    try:
        query = urlsplit(url).query
    except ValueError:
        query = url.partition("?")[2]
    for key, value in parse_qsl(query, keep_blank_values=False):
        if _SECRET_PARAM.search(key) and value:
            found.append(value)
    return found


def mask_url(url: str | None) -> str:
    """``postgresql://app:s3cret@db/x`` → ``postgresql://app:***@db/x``."""
    if not url:
        return ""
    masked = url
    match = _USERINFO.match(url)
    if match and match.group("password"):
        masked = f"{match.group('scheme')}{match.group('user')}:{MASK}@{url[match.end():]}"
    for secret in _parts(url)[1 if match and match.group("password") else 0 :]:
        masked = masked.replace(secret, MASK)
    return masked


def register(urls: Iterable[str | None]) -> None:
    """Remember the secret parts of these URLs (raw and percent-decoded) for ``scrub``."""
    for url in urls:
        for secret in _parts(url or ""):
            for form in {secret, unquote(secret)}:
                if len(form) >= MIN_REGISTERED:
                    _secrets.add(form)


def scrub(text: str) -> str:
    """``text`` with URL passwords, ``password=`` values and registered secrets as ``***``."""
    for pattern in _IN_TEXT:
        text = pattern.sub(lambda m: m.group("keep") + MASK, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def url_for_log(url: str) -> str:
    """A tenant URL as logs may show it: no user info, query or fragment (where ad-server keys and
    viewer identifiers live)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"
