"""The channels a load test reads: its own on a synthetic origin, or the organization's.

With ``--origin`` the load test owns channels ``<prefix>0..N-1`` (one live stream each on the
synthetic origin, which serves any stream name; SCTE-35 breaks, an ad pod and a slate), so its
requests can be told apart from anyone else's in the service's per-channel counters. Re-running
refreshes them in place rather than failing on existing slugs.
"""

from __future__ import annotations

from typing import Any

from sidecar.loadtest.config import LoadConfig
from sidecar.probe.admin import AdminClient, AdminError

RENDITIONS = ((800_000, "800k"), (1_600_000, "1600k"))


def _variants(origin: str, pod: str) -> list[dict[str, Any]]:
    return [{"bitrateBps": bps, "playlistUrl": f"{origin}/ads/{pod}/{name}.m3u8"} for bps, name in RENDITIONS]


async def _asset(admin: AdminClient, collection: str, body: dict[str, Any]) -> str:
    try:
        return str((await admin.create(collection, body))["id"])
    except AdminError as exc:
        if exc.status != 409:
            raise
        key = "adPod" if collection == "ad-pods" else "slate"
        return str((await admin.request("GET", f"/admin/{collection}/{body['slug']}"))[key]["id"])


def _prefix(playlist_url: str) -> str:
    return playlist_url.rsplit("/", 1)[0] + "/"


async def slate_prefixes(admin: AdminClient) -> tuple[str, ...]:
    """Where the organization's slates live: a break segment under one of these is slate."""
    try:
        slates = (await admin.request("GET", "/admin/slates")).get("slates", [])
    except AdminError:
        return ()
    return tuple(sorted({_prefix(v["playlistUrl"]) for s in slates for v in s.get("variants", [])}))


async def prepare(cfg: LoadConfig, admin: AdminClient) -> tuple[str, list[str]]:
    """Returns the organization slug and the channel slugs to load."""
    org = await admin.org_slug()
    if cfg.origin is None:
        existing = [
            str(c["slug"])
            for c in await admin.channels()
            if c.get("status") == "active" and c.get("slug") != "probe-canary"
        ]
        if len(existing) < cfg.channels:
            raise AdminError(
                0,
                f"organization {org} has {len(existing)} active channels, --channels asks for "
                f"{cfg.channels} (pass --origin to let the load test create its own)",
            )
        return org, existing[: cfg.channels]
    origin = cfg.origin.rstrip("/")
    pod = await _asset(
        admin,
        "ad-pods",
        {
            "slug": f"{cfg.prefix}-pod",
            "name": "Load test pod",
            "durationSeconds": 30,
            "variants": _variants(origin, "pod-a"),
        },
    )
    slate = await _asset(
        admin,
        "slates",
        {
            "slug": f"{cfg.prefix}-slate",
            "name": "Load test slate",
            "durationSeconds": 2,
            "variants": _variants(origin, "slate"),
        },
    )
    slugs = []
    for i in range(cfg.channels):
        slug = f"{cfg.prefix}{i}"
        body = {
            "slug": slug,
            "name": f"Load test {i}",
            "originUrl": f"{origin}/live/{slug}/master.m3u8",
            "mode": "auto",
            "scte35AutoInsert": True,
            "adPodId": pod,
            "slateId": slate,
            "status": "active",
        }
        try:
            await admin.create("channels", body)
        except AdminError as exc:
            if exc.status != 409:
                raise
            await admin.update_channel(slug, {k: v for k, v in body.items() if k != "slug"})
        slugs.append(slug)
    return org, slugs
