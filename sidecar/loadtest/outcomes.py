"""What each simulated viewer got of the ads: breaks seen, ad and slate seconds, fill.

Read from the playlists the viewer was served, as a player would meet them. SSAI: a break's
segments carry ``#EXT-X-CUE-OUT:<duration>`` (the first) or ``#EXT-X-CUE-OUT-CONT:ElapsedTime=…``;
a break is told apart from the next by its start (the segment's PDT minus its elapsed time), a
segment by its media sequence number (each counted once however often it was reloaded), and a
segment served from the slate's location is slate, any other break segment an ad. SGAI: each
``com.apple.hls.interstitial`` DATERANGE is a break of DURATION seconds whose asset list (fetched
once, as hls.js does) holds the ads. Fill = ad seconds / break seconds, MediaTailor's
Avail.FilledDuration / Avail.Duration seen from the player's side.

Pure (no I/O): the viewer hands the texts in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sidecar.hls.attributes import parse_attributes
from sidecar.hls.parse import PlaylistError, parse_media

_ELAPSED = re.compile(r"ElapsedTime=([0-9.]+)")
INTERSTITIAL = 'CLASS="com.apple.hls.interstitial"'


@dataclass
class AdOutcome:
    """One viewer's tally."""

    breaks: set[str] = field(default_factory=set)
    #: SSAI break segments by MSN: (duration, is_ad)
    segments: dict[int, tuple[float, bool]] = field(default_factory=dict)
    #: SGAI interstitials by ID: (break seconds, ad seconds or None until the asset list is read)
    interstitials: dict[str, tuple[float, float | None]] = field(default_factory=dict)

    def observe_ssai(self, text: str, slate_prefixes: Sequence[str]) -> None:
        try:
            playlist = parse_media(text)
        except PlaylistError:
            return
        for seg in playlist.segments:
            marker = next((t for t in seg.tags if t.startswith("#EXT-X-CUE-OUT")), None)
            if marker is None or seg.pdt is None:
                continue
            elapsed = _ELAPSED.search(marker)
            start = seg.pdt - timedelta(seconds=float(elapsed.group(1)) if elapsed else 0.0)
            self.breaks.add(f"{start.timestamp():.1f}")
            is_ad = not any(seg.uri.startswith(prefix) for prefix in slate_prefixes)
            self.segments[seg.msn] = (seg.duration, is_ad)

    def new_interstitials(self, text: str) -> list[tuple[str, str]]:
        """(id, asset-list URI) of interstitials this viewer meets for the first time."""
        found = []
        for line in text.splitlines():
            if line.startswith("#EXT-X-DATERANGE:") and INTERSTITIAL in line:
                attrs = parse_attributes(line.split(":", 1)[1])
                ident = attrs.get("ID", "")
                if ident and ident not in self.interstitials:
                    self.interstitials[ident] = (float(attrs.get("DURATION", "0") or 0), None)
                    self.breaks.add(ident)
                    found.append((ident, attrs.get("X-ASSET-LIST", "")))
        return found

    def observe_asset_list(self, ident: str, text: str | None, slate_prefixes: Sequence[str]) -> None:
        duration, _ = self.interstitials[ident]
        ads = 0.0
        try:
            assets = json.loads(text or "{}").get("ASSETS", [])
        except (ValueError, AttributeError):
            assets = []
        for asset in assets if isinstance(assets, list) else []:
            uri = str(asset.get("URI", "")) if isinstance(asset, dict) else ""
            if uri and not any(uri.startswith(p) for p in slate_prefixes):
                ads += float(asset.get("DURATION", 0) or 0)
        self.interstitials[ident] = (duration, min(ads, duration) if text is not None else None)

    def summary(self) -> dict[str, Any]:
        ad = sum(d for d, is_ad in self.segments.values() if is_ad)
        slate = sum(d for d, is_ad in self.segments.values() if not is_ad)
        total = ad + slate
        for duration, ads in self.interstitials.values():
            if ads is not None:
                ad += ads
                slate += duration - ads
                total += duration
        return {
            "breaks": len(self.breaks),
            "ad_seconds": round(ad, 3),
            "slate_seconds": round(slate, 3),
            "break_seconds": round(total, 3),
            "fill": round(ad / total, 4) if total else None,
        }


def aggregate(per_viewer: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Across viewers: how many saw a break and ads, the spread of what they saw, overall fill."""
    rows = list(per_viewer)
    seen = [r for r in rows if r["breaks"]]
    ad = sum(r["ad_seconds"] for r in rows)
    total = sum(r["break_seconds"] for r in rows)
    fills = sorted(r["fill"] for r in seen if r["fill"] is not None)
    ad_per_viewer = sorted(r["ad_seconds"] for r in rows)
    return {
        "viewers": len(rows),
        "viewers_with_breaks": len(seen),
        "viewers_with_ads": sum(1 for r in rows if r["ad_seconds"] > 0),
        "breaks_per_viewer": {
            "min": min((r["breaks"] for r in rows), default=0),
            "max": max((r["breaks"] for r in rows), default=0),
            "mean": round(sum(r["breaks"] for r in rows) / len(rows), 3) if rows else 0,
        },
        "ad_seconds_per_viewer": {
            "min": ad_per_viewer[0] if rows else 0,
            "median": ad_per_viewer[len(rows) // 2] if rows else 0,
            "max": ad_per_viewer[-1] if rows else 0,
        },
        "ad_seconds": round(ad, 3),
        "break_seconds": round(total, 3),
        "fill": round(ad / total, 4) if total else None,
        "lowest_viewer_fill": fills[0] if fills else None,
    }
