"""Every alert's runbook_url lands on a heading of docs/runbook.md (GitHub's anchor rules), and
the runbook's own links resolve."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

from sidecar.telemetry import slo
from tests.observability.exprs import ROOT, alerts

RUNBOOK = ROOT / "docs" / "runbook.md"


def github_anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, drop punctuation except '-' and '_', spaces to '-'."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Anchors GitHub generates, with ``-1``, ``-2`` suffixes for repeated headings; headings
    inside fenced code blocks are not headings."""
    seen: Counter[str] = Counter()
    out = set()
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = github_anchor(match.group(1))
            out.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
            seen[slug] += 1
    return out


def test_github_anchor_rules() -> None:
    assert github_anchor("SidecarTargetDown") == "sidecartargetdown"
    assert github_anchor("Config changes not propagating") == "config-changes-not-propagating"
    assert github_anchor("State loss (after eviction)!") == "state-loss-after-eviction"
    assert github_anchor("`up` == 0") == "up--0"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


def test_every_runbook_url_anchor_exists() -> None:
    have = anchors(RUNBOOK.read_text())
    urls = {a["annotations"]["runbook_url"] for a in alerts()}
    assert len(urls) >= 20
    for url in urls:
        parts = urlsplit(url)
        assert url.startswith(slo.RUNBOOK_URL + "#")
        assert parts.path.endswith("/docs/runbook.md")
        assert parts.fragment in have, f"{url}: no heading with anchor #{parts.fragment} in docs/runbook.md"


def test_one_section_per_alert_and_no_orphans() -> None:
    text = RUNBOOK.read_text()
    names = {a["alert"] for a in alerts()}
    sections = set(re.findall(r"^### (Sidecar\w+)\s*$", text, flags=re.MULTILINE))
    assert sections == names


def test_the_seed_troubleshooting_sections_are_there() -> None:
    have = anchors(RUNBOOK.read_text())
    for anchor in ("config-changes-not-propagating", "frequent-instance-churn", "state-loss-after-eviction"):
        assert anchor in have
    text = RUNBOOK.read_text()
    for needle in (
        "cache_invalidated",
        "instance_churn",
        "young_instance",
        "persisted_state",
        "do_routing",
        "sidecar cue status",
        "/invalidate",
        "/warm",
    ):
        assert needle in text


def test_internal_links_resolve() -> None:
    text = RUNBOOK.read_text()
    have = anchors(text)
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links, "the runbook cross-links its sections"
    assert [link for link in links if link not in have] == []
