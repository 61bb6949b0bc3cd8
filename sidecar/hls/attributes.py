"""Lexical helpers shared by the playlist parser and the cue detector: RFC 8216 attribute lists
and date-times. Their own module so that ``parse`` can use ``cues`` and ``cues`` these helpers
without an import cycle."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_ATTR_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^,]*)\s*(?:,|$)')


def parse_attributes(text: str) -> dict[str, str]:
    """An RFC 8216 attribute list as a dict in source order, with quotes removed.

    Lenient on purpose: attributes it cannot read are skipped rather than fatal, because this
    reads tags that are passed through verbatim anyway.
    """
    out: dict[str, str] = {}
    for m in _ATTR_RE.finditer(text):
        value = m.group(2).strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        out[m.group(1)] = value
    return out


def parse_pdt(text: str) -> datetime:
    """An ISO 8601 / RFC 3339 date-time as an aware UTC datetime. Raises ValueError."""
    t = text.strip().strip('"')
    if len(t) < 19 or t[10] not in "Tt ":
        raise ValueError(f"not a date-time: {text!r}")
    if t[-1] == "z":
        t = t[:-1] + "Z"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt
