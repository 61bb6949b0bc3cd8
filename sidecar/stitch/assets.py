"""SGAI assets of a break: the asset list, each asset's multivariant playlist and, where the asset
is not a creative played whole, its media playlists. Pure functions of the break's durable record.

An asset list entry's ``DURATION`` must be what its URI plays (players schedule the primary's
resumption and the next asset from it). A creative that plays whole is its own playlists. The
slate, looped to fill the break, and a pod cut at a segment boundary to fit the break are not: they
are served by us as VOD playlists of exactly the segments the break's timeline chose, so the
duration announced and the media played agree to the segment.

Everything is derived from the break as decided once (its items and assets, and the duration it
was *announced* with), never from a later early return: a player may fetch the asset list before
the break's end is known and the asset playlists after it, and both must describe the same media.
The early end is the interstitial's ``X-PLAYOUT-LIMIT`` instead (see ``hls.splice``).
"""

from __future__ import annotations

from typing import Any

from sidecar.actors.state import AdBreak, AssetState, PlanItemState
from sidecar.hls.model import rounded_duration
from sidecar.hls.splice import PlanItem
from sidecar.hls.write import format_duration

TOLERANCE = 0.01


def _own(asset: AssetState) -> bool:
    """Played from a playlist we write (slate, cut pod), not the creative's own playlists."""
    return asset.kind == "slate" or asset.cut


def asset_items(brk: AdBreak) -> list[tuple[AssetState, list[PlanItemState]]]:
    """Each asset of ``brk`` with the items of the break's timeline it plays, in order.

    Ads take their creative's items (``asset.duration`` of them); the slate takes slate items up
    to the first segment boundary at or after the rest of the announced break, so the assets
    together last at least the break (never more than one slate segment longer; the interstitial's
    X-PLAYOUT-LIMIT ends it exactly once the end is known).
    """
    planned = brk.planned_seconds if brk.planned_seconds is not None else brk.duration_seconds
    items = list(brk.items)
    pos, played = 0, 0.0
    out: list[tuple[AssetState, list[PlanItemState]]] = []
    for asset in brk.assets:
        want = planned - played if asset.kind == "slate" else asset.duration
        chosen: list[PlanItemState] = []
        length = 0.0
        while pos < len(items) and items[pos].kind == asset.kind and length < want - TOLERANCE:
            chosen.append(items[pos])
            length += items[pos].duration
            pos += 1
        out.append((asset, chosen))
        played += length
    return out


def asset_list(brk: AdBreak, base: str) -> dict[str, Any]:
    """The HLS Interstitials asset list: absolute URIs (players resolve relative ones against the
    page, not the list: hls.js does), each with the duration it plays."""
    assets = []
    for i, (asset, items) in enumerate(asset_items(brk)):
        length = sum(item.duration for item in items) if _own(asset) else asset.duration
        if length > 0:
            assets.append({"URI": f"{base}/ad/{brk.id}/{i}.m3u8", "DURATION": round(length, 3)})
    return {"ASSETS": assets}


def asset_master(brk: AdBreak, index: int) -> str | None:
    """Asset ``index``'s multivariant playlist, or None if there is no such asset."""
    if not 0 <= index < len(brk.assets):
        return None
    asset = brk.assets[index]
    lines = ["#EXTM3U", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for bandwidth, url in asset.variants:
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}", f"{index}/{bandwidth}.m3u8" if _own(asset) else url]
    return "\n".join(lines) + "\n"


def asset_media(brk: AdBreak, index: int, bandwidth: int) -> str | None:
    """The VOD media playlist of a slate or cut asset in one bandwidth, or None if there is none."""
    if not 0 <= index < len(brk.assets) or not _own(brk.assets[index]):
        return None
    if bandwidth not in {b for b, _ in brk.assets[index].variants}:
        return None
    _, items = asset_items(brk)[index]
    if not items:
        return None
    target = max(rounded_duration(item.duration) for item in items)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
    ]
    for j, item in enumerate(items):
        if j and item.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f"#EXTINF:{format_duration(item.duration)},")
        lines.append(PlanItem(item.duration, item.uris, item.discontinuity, item.kind).uri_for(bandwidth))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
