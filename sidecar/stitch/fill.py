"""Filling a break: which ads, and the ad timeline every variant will play.

Decided once per break, before it is persisted, so every reload, variant and process shows the
same ads. The order is: the ad pod named by the cue, else the channel's ad pod, else slate only;
each outcome is counted with its reason (``ssai_ad_decisions_total``). Ad segments are taken from
pre-transcoded HLS renditions; the lowest-bitrate rendition gives the segment durations and
every other rendition must have the same segment count to be used (so variants stay aligned).
Slate loops after the ads to cover the whole replaced duration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urljoin

from sidecar.actors.state import AssetState, PlanItemState
from sidecar.config.models import AdPod, ChannelConfig, Slate, Variant
from sidecar.hls.parse import PlaylistError, parse_media
from sidecar.stitch.origin import OriginClient, OriginError
from sidecar.telemetry import catalogue as m

log = logging.getLogger("sidecar.stitch.fill")

SLATE_MARGIN = 15.0  # seconds of slate beyond the break: replaced content ends on a segment boundary
ASSET_TTL = 60.0


@dataclass(frozen=True)
class Fill:
    items: tuple[PlanItemState, ...]
    assets: tuple[AssetState, ...]
    source: str  # vast | pod | slate | none
    reason: str
    ad_seconds: float
    slate_seconds: float


async def timeline_of(
    client: OriginClient,
    variants: tuple[Variant, ...] | list[Variant],
    *,
    first_discontinuity: bool = True,
    kind: str = "ad",
) -> tuple[list[PlanItemState], AssetState]:
    """The aligned segment timeline of one creative (or slate) across its renditions."""
    parsed = []
    for variant in sorted(variants, key=lambda v: v.bitrate_bps):
        try:
            fetched = await client.get(variant.playlist_url, ttl=ASSET_TTL)
            parsed.append((variant, parse_media(fetched.text)))
        except (OriginError, PlaylistError) as exc:
            log.warning(
                f"ad rendition {variant.playlist_url} unusable: {exc}", extra={"event": "ad_rendition_unusable"}
            )
    if not parsed:
        raise LookupError("no rendition of the creative could be loaded")
    reference = parsed[0][1]
    usable = [(v, pl) for v, pl in parsed if len(pl.segments) == len(reference.segments)]
    items = []
    for i, seg in enumerate(reference.segments):
        uris = tuple((v.bitrate_bps, urljoin(v.playlist_url, pl.segments[i].uri)) for v, pl in usable)
        items.append(
            PlanItemState(
                duration=seg.duration,
                uris=uris,
                discontinuity=(i == 0 and first_discontinuity) or seg.discontinuity,
                kind=kind,
            )
        )
    asset = AssetState(
        duration=sum(s.duration for s in reference.segments),
        variants=tuple((v.bitrate_bps, v.playlist_url) for v, _ in usable),
        kind=kind,
    )
    return items, asset


async def _slate_items(client: OriginClient, slate: Slate | None, needed: float) -> list[PlanItemState]:
    if slate is None or needed <= 0:
        return []
    loop, _ = await timeline_of(client, slate.variants, kind="slate")
    loop_len = sum(i.duration for i in loop)
    items: list[PlanItemState] = []
    covered = 0.0
    while covered < needed and loop_len > 0:
        items.extend(loop)
        covered += loop_len
    return items


async def decide(client: OriginClient, config: ChannelConfig, duration: float, pod: AdPod | None) -> Fill:
    """Ads for a break of ``duration`` seconds, with slate after them. Never raises."""
    started = time.perf_counter()
    items: list[PlanItemState] = []
    assets: list[AssetState] = []
    source, reason = "none", "no_pod_or_slate"
    chosen = pod or config.ad_pod
    if chosen is not None and chosen.status == "active":
        try:
            pod_items, asset = await timeline_of(client, chosen.variants)
            kept, t = [], 0.0
            for item in pod_items:  # a pod longer than the break is cut at a segment boundary
                if t + item.duration > duration + 0.25:
                    break
                kept.append(item)
                t += item.duration
            items, assets = kept, [asset.model_copy(update={"duration": t, "ad_id": chosen.slug})]
            source, reason = "pod", "cue_pod" if pod is not None else "channel_pod"
        except LookupError:
            source, reason = "none", "pod_unavailable"
    ad_seconds = sum(i.duration for i in items)
    slate_seconds = 0.0
    try:
        slate = await _slate_items(client, config.slate, duration - ad_seconds + SLATE_MARGIN)
    except LookupError:
        slate = []
        reason = f"{reason}+slate_unavailable"
    if slate and config.slate is not None:
        slate_seconds = max(0.0, duration - ad_seconds)
        if source == "none":
            source, reason = "slate", reason if reason != "no_pod_or_slate" else "no_pod"
        items += slate
        assets.append(
            AssetState(
                duration=slate_seconds,
                variants=tuple((v.bitrate_bps, v.playlist_url) for v in config.slate.variants),
                kind="slate",
            )
        )
    m.ad_decision_seconds.observe(time.perf_counter() - started)
    m.ad_decisions_total.labels(config.org_slug, config.slug, source, reason).inc()
    return Fill(tuple(items), tuple(assets), source, reason, min(ad_seconds, duration), slate_seconds)
