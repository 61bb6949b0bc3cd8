"""``sidecar demo``: the synthetic origin plus the service on embedded defaults, ready to play.

Creates (or refreshes) org ``demo`` with channel ``sports1`` whose origin is the synthetic live
stream, an ad pod and a slate served by the same origin, and an admin token, then serves. Re-running
it reuses the database and prints a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from sidecar.config import schema as t
from sidecar.config.models import AdPod, AdPodIn, ChannelIn, Slate, SlateIn
from sidecar.config.store import Conflict, NotFound, Store
from sidecar.origin import OriginConfig, serve_origin


@dataclass(frozen=True)
class DemoInfo:
    token: str
    org: str
    channel: str


def _variants(origin: str, pod: str, config: OriginConfig) -> list[dict[str, object]]:
    return [{"bitrate_bps": r.bandwidth, "playlist_url": f"{origin}/ads/{pod}/{r.name}.m3u8"} for r in config.ladder]


async def seed(
    store: Store, origin: str, config: OriginConfig, *, org_slug: str = "demo", channel_slug: str = "sports1"
) -> DemoInfo:
    try:
        org = await store.get_org(org_slug)
    except NotFound:
        org = await store.create_org(org_slug, "Demo")
    try:
        pod = await store.get_pod(org.id, "pod-a")
    except NotFound:
        pod = await store.create_asset(
            t.ad_pods,
            org.id,
            AdPodIn.model_validate(
                {
                    "slug": "pod-a",
                    "name": "Demo pod (3 x 10 s)",
                    "duration_seconds": 30,
                    "variants": _variants(origin, "pod-a", config),
                }
            ),
            AdPod,
        )
    try:
        slate = await store.get_slate(org.id, "slate")
    except NotFound:
        slate = await store.create_asset(
            t.slates,
            org.id,
            SlateIn.model_validate(
                {
                    "slug": "slate",
                    "name": "Demo slate",
                    "duration_seconds": config.slate_duration,
                    "variants": _variants(origin, "slate", config),
                }
            ),
            Slate,
        )
    fields = {
        "slug": channel_slug,
        "name": "Sports 1",
        "origin_url": f"{origin}/live/{channel_slug}/master.m3u8",
        "mode": "auto",
        "scte35_enabled": True,
        "scte35_auto_insert": True,
        "ad_pod_id": pod.id,
        "slate_id": slate.id,
    }
    try:
        await store.create_channel(org.id, ChannelIn.model_validate(fields))
    except Conflict:
        await store.update_channel(org.id, channel_slug, fields)
    _, token = await store.create_token(org.id, "admin", "demo")
    return DemoInfo(token, org.slug, channel_slug)


async def run_origin_forever(config: OriginConfig, host: str, port: int) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await serve_origin(config, host, port)
