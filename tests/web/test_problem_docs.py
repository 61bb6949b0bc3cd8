"""docs/problems.md lists every problem type the code can answer with."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _kinds_in_code() -> set[str]:
    kinds: set[str] = set()
    for path in (ROOT / "sidecar").rglob("*.py"):
        text = path.read_text()
        kinds |= set(re.findall(r"Problem\(\s*\d{3},\s*\"([a-z0-9-]+)\"", text))
        kinds |= {f"origin-{r.replace('_', '-')}" for r in re.findall(r"OriginError\(\s*\"([a-z0-9_]+)\"", text)}
        if "OriginError(kind" in text:  # the HTTP status class, computed
            kinds |= {f"origin-{r.replace('_', '-')}" for r in re.findall(r"\"(http_[45]xx)\"", text)}
        kinds |= set(re.findall(r"HTTP_KINDS\.get\([^,]+,\s*\"([a-z-]+)\"\)", text))
        kinds |= set(re.findall(r"\d{3}: \"([a-z-]+)\"", text)) if "HTTP_KINDS" in text else set()
    return kinds


def test_every_problem_type_is_documented() -> None:
    kinds = _kinds_in_code()
    assert {"url-denied", "origin-denied", "not-found", "validation", "bad-query"} <= kinds, "the scan finds them"
    documented = set(re.findall(r"`urn:sidecar:problem:([a-z0-9-]+)`", (ROOT / "docs" / "problems.md").read_text()))
    assert kinds - documented == set()
    assert documented - kinds == set(), "documented types the code never answers"
