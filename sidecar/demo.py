"""``sidecar demo``: the synthetic origin plus the service on embedded defaults, ready to play.

Creates (or refreshes) org ``demo`` with channel ``sports1`` whose origin is the synthetic live
stream, an ad pod and a slate served by the same origin, and an admin token, then serves. Re-running
it reuses the database and prints a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from sidecar.config import schema as t
from sidecar.config.invalidation import Invalidator
from sidecar.config.models import AdPod, AdPodIn, ChannelIn, Slate, SlateIn
from sidecar.config.store import ChannelKeyRef, Conflict, NotFound, Store
from sidecar.origin import OriginConfig, serve_origin


@dataclass(frozen=True)
class DemoInfo:
    token: str
    org: str
    channel: str


def _variants(origin: str, pod: str, config: OriginConfig) -> list[dict[str, object]]:
    return [{"bitrate_bps": r.bandwidth, "playlist_url": f"{origin}/ads/{pod}/{r.name}.m3u8"} for r in config.ladder]


async def _upsert_asset(
    store: Store, table: Any, org_id: str, data: dict[str, Any], model: Any, create: Any
) -> tuple[Any, list[ChannelKeyRef]]:
    try:
        await (store.get_pod(org_id, data["slug"]) if table is t.ad_pods else store.get_slate(org_id, data["slug"]))
    except NotFound:
        return await store.create_asset(table, org_id, create.model_validate(data), model), []
    # Re-seeding against another origin must repoint the renditions too.
    _, after, refs = await store.update_asset(table, org_id, data["slug"], data, model, create)
    return after, refs


async def seed(
    store: Store,
    origin: str,
    config: OriginConfig,
    *,
    org_slug: str = "demo",
    channel_slug: str = "sports1",
    invalidator: Invalidator | None = None,
) -> DemoInfo:
    """Create or refresh the demo objects. Writes go straight to the store, so pass the
    ``invalidator`` of any running deployment's cache (``sidecar seed``/``demo`` do): without it a
    running service would keep serving the old config until its cache entries expire."""
    try:
        org = await store.get_org(org_slug)
    except NotFound:
        org = await store.create_org(org_slug, "Demo")
    pod, pod_refs = await _upsert_asset(
        store,
        t.ad_pods,
        org.id,
        {
            "slug": "pod-a",
            "name": "Demo pod (3 x 10 s)",
            "duration_seconds": 30,
            "variants": _variants(origin, "pod-a", config),
        },
        AdPod,
        AdPodIn,
    )
    slate, slate_refs = await _upsert_asset(
        store,
        t.slates,
        org.id,
        {
            "slug": "slate",
            "name": "Demo slate",
            "duration_seconds": config.slate_duration,
            "variants": _variants(origin, "slate", config),
        },
        Slate,
        SlateIn,
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
        _, ref = await store.create_channel(org.id, ChannelIn.model_validate(fields))
        refs = [ref]
    except Conflict:
        _, _, refs = await store.update_channel(org.id, channel_slug, fields)
    if invalidator is not None:
        await invalidator.after_write([*pod_refs, *slate_refs, *refs], warm=False)
    _, token = await store.create_token(org.id, "admin", "demo")
    return DemoInfo(token, org.slug, channel_slug)


async def run_origin_forever(config: OriginConfig, host: str, port: int) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await serve_origin(config, host, port)
