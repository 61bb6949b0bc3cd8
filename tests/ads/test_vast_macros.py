"""expand_macros: the supported macros are filled, everything else passes through."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from sidecar.ads.vast import SUPPORTED_MACROS, expand_macros

NOW = datetime(2026, 5, 1, 12, 34, 56, 789_000, tzinfo=UTC)


def test_timestamp_is_iso8601_utc_millis_and_percent_encoded() -> None:
    assert expand_macros("https://t.test/?ts=[TIMESTAMP]", now=NOW) == "https://t.test/?ts=2026-05-01T12%3A34%3A56.789Z"
    # A non-UTC clock is converted, not mislabelled.
    local = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert expand_macros("[TIMESTAMP]", now=local) == "2026-05-01T12%3A34%3A56.789Z"


def test_cachebusting_is_eight_random_digits_per_expansion() -> None:
    values = {expand_macros("https://t.test/?cb=[CACHEBUSTING]") for _ in range(20)}
    assert all(re.fullmatch(r"https://t\.test/\?cb=[1-9]\d{7}", v) for v in values)
    assert len(values) > 1


def test_errorcode_only_when_given() -> None:
    template = "https://t.test/err?code=[ERRORCODE]"
    assert expand_macros(template) == template
    assert expand_macros(template, error_code=303) == "https://t.test/err?code=303"


def test_unknown_macros_and_plain_urls_untouched() -> None:
    url = "https://t.test/?p=[CONTENTPLAYHEAD]&a=[ASSETURI]&c=[CACHEBUSTING]"
    out = expand_macros(url, error_code=100, now=NOW)
    assert out.startswith("https://t.test/?p=[CONTENTPLAYHEAD]&a=[ASSETURI]&c=")
    assert "[CACHEBUSTING]" not in out
    assert expand_macros("https://t.test/plain") == "https://t.test/plain"
    assert SUPPORTED_MACROS == ("[CACHEBUSTING]", "[TIMESTAMP]", "[ERRORCODE]")
