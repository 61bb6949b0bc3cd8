"""Filling a break: which ads, and the ad timeline every variant will play.

Decided once per break, before it is persisted, so every reload, variant and process shows the
same ads (the decision lives in the break's durable record). The order is VAST (when the channel
enables it) → the ad pod named by the cue or configured on the channel → slate; every outcome is
counted with its reason (``ssai_ad_decisions_total``), and a failed VAST call is never reported
as a fill. VAST creatives map to pre-transcoded ad pods (by creative id, ad id or universal ad id)
or to their HLS MediaFiles; creatives with neither are skipped (MP4 cannot be stitched).

Ad segments come from HLS renditions; the lowest-bitrate rendition gives the segment durations
and every other rendition must have the same segment count to be used (variants stay aligned).
Slate loops after the ads to cover the whole replaced duration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp

from sidecar.actors.state import AdTrackingState, AssetState, PlanItemState
from sidecar.ads.vast import Ad, LinearCreative, fetch_vast
from sidecar.config.models import AdPod, ChannelConfig, Slate, Variant
from sidecar.hls.model import rounded_duration
from sidecar.hls.parse import PlaylistError, parse_master, parse_media
from sidecar.net.client import fetching
from sidecar.stitch.origin import OriginClient, OriginError
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.redact import url_for_log

log = logging.getLogger("sidecar.stitch.fill")

SLATE_MARGIN = 15.0  # seconds of slate beyond the break: replaced content ends on a segment boundary
ASSET_TTL = 60.0
TOLERANCE = 0.25
EVENTS = ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")


@dataclass(frozen=True)
class Fill:
    items: tuple[PlanItemState, ...]
    assets: tuple[AssetState, ...]
    ads: tuple[AdTrackingState, ...]
    source: str  # vast | pod | slate | none
    reason: str
    ad_seconds: float
    slate_seconds: float
    error_pings: tuple[str, ...] = field(default=())  # VAST error URLs to ping ([ERRORCODE] filled)


async def timeline_of(
    client: OriginClient,
    variants: tuple[Variant, ...] | list[Variant],
    *,
    kind: str = "ad",
    max_segment: int | None = None,
) -> tuple[list[PlanItemState], AssetState]:
    """The aligned segment timeline of one creative (or slate) across its renditions.

    ``max_segment`` is the channel's target duration: a creative with a segment that rounds above
    it cannot be stitched without changing the target (which must never change), so it is
    refused with LookupError like an unloadable one."""
    parsed = []
    for variant in sorted(variants, key=lambda v: v.bitrate_bps):
        try:
            with fetching("ad_media"):
                fetched = await client.get(variant.playlist_url, ttl=ASSET_TTL)
            parsed.append((variant, parse_media(fetched.text)))
        except (OriginError, PlaylistError) as exc:
            log.warning(
                f"rendition {url_for_log(variant.playlist_url)} unusable: {exc}",
                extra={"event": "ad_rendition_unusable"},
            )
    if not parsed or not parsed[0][1].segments:
        raise LookupError("no rendition of the creative could be loaded")
    reference = parsed[0][1]
    if max_segment is not None and any(rounded_duration(seg.duration) > max_segment for seg in reference.segments):
        log.warning(
            f"{variants[0].playlist_url}: segments longer than the channel's target duration {max_segment} s",
            extra={"event": "ad_segments_too_long"},
        )
        raise LookupError(f"segments longer than the target duration {max_segment} s")
    usable = [(v, pl) for v, pl in parsed if len(pl.segments) == len(reference.segments)]
    items = []
    for i, seg in enumerate(reference.segments):
        uris = tuple((v.bitrate_bps, urljoin(v.playlist_url, pl.segments[i].uri)) for v, pl in usable)
        items.append(
            PlanItemState(duration=seg.duration, uris=uris, discontinuity=i == 0 or seg.discontinuity, kind=kind)
        )
    asset = AssetState(
        duration=sum(s.duration for s in reference.segments),
        variants=tuple((v.bitrate_bps, v.playlist_url) for v, _ in usable),
        kind=kind,
    )
    return items, asset


async def _hls_variants(client: OriginClient, url: str, bitrate_kbps: int | None) -> list[Variant]:
    """A VAST HLS MediaFile is usually a multivariant playlist; a media playlist is one rendition."""
    with fetching("ad_media"):
        fetched = await client.get(url, ttl=ASSET_TTL)
    if "#EXT-X-STREAM-INF" in fetched.text:
        master = parse_master(fetched.text)
        return [Variant(bitrate_bps=v.bandwidth, playlist_url=urljoin(url, v.uri)) for v in master.variants]
    return [Variant(bitrate_bps=(bitrate_kbps or 1000) * 1000, playlist_url=url)]


def _pod_for(creative: LinearCreative, pods: list[AdPod]) -> AdPod | None:
    """The pre-transcoded pod of a creative: by creative id / ad id / universal ad id, else by
    one of its media file URLs being one of the pod's renditions."""
    keys = {k for k in (creative.id, creative.ad_id, creative.universal_ad_id) if k}
    media = {mf.url for mf in creative.media_files}
    active = [pod for pod in pods if pod.status == "active"]
    for pod in active:
        if pod.vast_creative_id in keys:
            return pod
    for pod in active:
        if any(v.playlist_url in media for v in pod.variants):
            return pod
    return None


def _tracking(ad: Ad | None, creative: LinearCreative | None, pod: AdPod | None) -> dict[str, tuple[str, ...]]:
    events: dict[str, tuple[str, ...]] = {}
    if creative is not None:
        for event in EVENTS:
            events[event] = tuple(creative.tracking.get(event, []))
    if pod is not None:
        t = pod.tracking
        for event, urls in (
            ("start", t.start),
            ("firstQuartile", t.first_quartile),
            ("midpoint", t.midpoint),
            ("thirdQuartile", t.third_quartile),
            ("complete", t.complete),
        ):
            events[event] = events.get(event, ()) + tuple(urls)
    return events


async def _from_vast(
    client: OriginClient,
    session: aiohttp.ClientSession,
    config: ChannelConfig,
    duration: float,
    pods: list[AdPod],
    max_segment: int | None = None,
) -> tuple[list[PlanItemState], list[AssetState], list[AdTrackingState], str, tuple[str, ...]]:
    """(items, assets, ads, reason, error pings). Reason 'ok' when at least one ad was placed."""
    assert config.vast_url is not None
    result = await fetch_vast(session, config.vast_url, timeout_s=config.vast_timeout_ms / 1000)
    m.vast_requests_total.labels(result.outcome).inc()
    pings = tuple(p.url for p in result.error_pings)
    if result.outcome != "ok":
        return [], [], [], f"vast_{result.outcome}", pings
    items: list[PlanItemState] = []
    assets: list[AssetState] = []
    ads: list[AdTrackingState] = []
    t = 0.0
    for ad in result.ads:
        for creative in ad.creatives:
            pod = _pod_for(creative, pods)
            try:
                if pod is not None:
                    variants: list[Variant] = list(pod.variants)
                else:
                    hls = [mf for mf in creative.media_files if mf.is_hls]
                    if not hls:
                        continue  # progressive MP4 only: cannot be stitched into HLS
                    variants = await _hls_variants(client, hls[0].url, hls[0].bitrate_kbps)
                creative_items, asset = await timeline_of(client, variants, max_segment=max_segment)
            except (LookupError, OriginError, PlaylistError):
                continue
            length = sum(i.duration for i in creative_items)
            if t + length > duration + TOLERANCE:
                continue  # does not fit what is left of the break
            ads.append(
                AdTrackingState(
                    index=len(ads),
                    offset=t,
                    duration=length,
                    source="vast",
                    ad_id=creative.ad_id or ad.id,
                    impressions=tuple(ad.impressions),
                    error_urls=tuple(ad.error_urls),
                    events=tuple(_tracking(ad, creative, pod).items()),
                )
            )
            items += creative_items
            assets.append(asset.model_copy(update={"ad_id": creative.ad_id or ad.id}))
            t += length
    return items, assets, ads, ("ok" if items else "vast_no_usable_creative"), pings


async def _slate_items(
    client: OriginClient, slate: Slate | None, needed: float, max_segment: int | None = None
) -> list[PlanItemState]:
    if slate is None or needed <= 0:
        return []
    loop, _ = await timeline_of(client, slate.variants, kind="slate", max_segment=max_segment)
    loop_len = sum(i.duration for i in loop)
    items: list[PlanItemState] = []
    covered = 0.0
    while covered < needed and loop_len > 0:
        items.extend(loop)
        covered += loop_len
    return items


async def decide(
    client: OriginClient,
    config: ChannelConfig,
    duration: float,
    pod: AdPod | None,
    *,
    session: aiohttp.ClientSession | None = None,
    pods: list[AdPod] | None = None,
    max_segment: int | None = None,
) -> Fill:
    """Ads for a break of ``duration`` seconds, with slate after them. Never raises.

    ``max_segment``: the channel's target duration; creatives and slate with longer segments are
    not used (see ``timeline_of``)."""
    started = time.perf_counter()
    items: list[PlanItemState] = []
    assets: list[AssetState] = []
    ads: list[AdTrackingState] = []
    pings: tuple[str, ...] = ()
    source, reason = "none", "no_pod_or_slate"
    vast_reason = None
    if config.vast_enabled and config.vast_url and session is not None and pod is None:
        items, assets, ads, vast_reason, pings = await _from_vast(
            client, session, config, duration, pods or [], max_segment
        )
        if items:
            source, reason = "vast", "ok"
    chosen = pod or config.ad_pod
    if not items and chosen is not None and chosen.status == "active":
        try:
            pod_items, asset = await timeline_of(client, chosen.variants, max_segment=max_segment)
            kept, t = [], 0.0
            for item in pod_items:  # a pod longer than the break is cut at a segment boundary
                if t + item.duration > duration + TOLERANCE:
                    break
                kept.append(item)
                t += item.duration
            cut = len(kept) < len(pod_items)
            items, assets = kept, [asset.model_copy(update={"duration": t, "ad_id": chosen.slug, "cut": cut})]
            ads = [
                AdTrackingState(
                    index=0,
                    offset=0.0,
                    duration=t,
                    source="pod",
                    ad_id=chosen.slug,
                    impressions=tuple(chosen.tracking.impression),
                    error_urls=tuple(chosen.tracking.error),
                    events=tuple(_tracking(None, None, chosen).items()),
                )
            ]
            source = "pod"
            reason = vast_reason or ("cue_pod" if pod is not None else "channel_pod")
        except LookupError:
            reason = "pod_unavailable"
    elif not items and vast_reason is not None:
        reason = vast_reason
    ad_seconds = sum(i.duration for i in items)
    slate_seconds = 0.0
    try:
        slate = await _slate_items(client, config.slate, duration - ad_seconds + SLATE_MARGIN, max_segment)
    except LookupError:
        slate = []
    if slate and config.slate is not None:
        slate_seconds = max(0.0, duration - ad_seconds)
        if source == "none":
            source = "slate"
            reason = vast_reason or ("pod_unavailable" if reason == "pod_unavailable" else "no_pod")
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
    return Fill(
        tuple(items), tuple(assets), tuple(ads), source, reason, min(ad_seconds, duration), slate_seconds, pings
    )
