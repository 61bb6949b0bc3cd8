"""Which tracking beacons a stitched playlist makes due, and when.

What a "viewer" is, server-side: an SSAI channel playlist is shared by everyone watching the
channel (no per-session manifests), so SSAI beacons count **one viewing of the channel's stream
per ad per break**, never per playlist refresh, variant or process (idempotency key
``{break}:{ad}:{event}:{url}``, no timestamp). A beacon is scheduled when the playlist first
exposes the ad segment that contains its media time (impression/start at the ad's start,
quartiles at 25/50/75 %, complete at its end) and is due when viewers reach that media time: the
segment's PDT plus the player's distance behind the live edge.

For SGAI each player fetches the asset list itself, so an asset-list request is one viewing by
one player session (keyed by ``_HLS_primary_id`` or ``X-Playback-Session-Id``): its beacons are
scheduled from the moment the player asks, at the ads' offsets.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.actors.state import AdBreak, AdTrackingState
from sidecar.ads.beacons import Beacon

FRACTIONS = (
    ("impression", 0.0),
    ("start", 0.0),
    ("firstQuartile", 0.25),
    ("midpoint", 0.5),
    ("thirdQuartile", 0.75),
    ("complete", 1.0),
)
EPSILON = 1e-6


def _urls(ad: AdTrackingState, event: str) -> tuple[str, ...]:
    if event == "impression":
        return ad.impressions
    return dict(ad.events).get(event, ())


def ssai_beacons(brk: AdBreak, exposed: Iterable[int], *, org: str, channel: str, delay: float) -> list[Beacon]:
    """Beacons whose media time falls in an exposed item of ``brk`` (SSAI, per channel)."""
    if brk.first_pdt is None or not brk.ads:
        return []
    offsets, t = [], 0.0
    for item in brk.items:
        offsets.append(t)
        t += item.duration
    spans = [(offsets[j], offsets[j] + brk.items[j].duration) for j in set(exposed) if 0 <= j < len(brk.items)]
    out = []
    for ad in brk.ads:
        for event, fraction in FRACTIONS:
            at = ad.offset + fraction * ad.duration - (EPSILON if fraction == 1.0 else 0.0)
            if not any(lo <= at < hi for lo, hi in spans):
                continue
            for i, url in enumerate(_urls(ad, event)):
                out.append(
                    Beacon(
                        key=f"{brk.id}:{ad.index}:{event}:{i}",
                        event=event,
                        url=url,
                        due_at=brk.first_pdt + at + delay,
                        org=org,
                        channel=channel,
                    )
                )
    return out


def sgai_beacons(brk: AdBreak, session: str, *, now: float, org: str, channel: str) -> list[Beacon]:
    """Beacons for one player session that asked for the break's asset list (SGAI)."""
    out = []
    for ad in brk.ads:
        for event, fraction in FRACTIONS:
            at = ad.offset + fraction * ad.duration
            for i, url in enumerate(_urls(ad, event)):
                out.append(
                    Beacon(
                        key=f"{brk.id}:{ad.index}:{event}:{i}:{session}",
                        event=event,
                        url=url,
                        due_at=now + at,
                        org=org,
                        channel=channel,
                    )
                )
    return out


def error_beacons(break_id: str, urls: Iterable[str], *, now: float, org: str, channel: str) -> list[Beacon]:
    """VAST error pings (``[ERRORCODE]`` already filled), due now."""
    return [
        Beacon(key=f"{break_id}:vast-error:{i}", event="error", url=url, due_at=now, org=org, channel=channel)
        for i, url in enumerate(urls)
    ]
