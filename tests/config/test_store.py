"""The SQL store on both engines: CRUD, versions, isolation between orgs, tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sidecar.config import schema as t
from sidecar.config.models import AdPod, AdPodIn, ChannelIn, Slate, SlateIn
from sidecar.config.store import Conflict, Invalid, NotFound, Store
from tests.conftest import unique_slug

VARIANTS = [
    {"bitrate_bps": 800_000, "playlist_url": "http://ads.test/a/800.m3u8"},
    {"bitrate_bps": 1_600_000, "playlist_url": "http://ads.test/a/1600.m3u8"},
]


def channel_in(slug: str = "sports1", **extra: object) -> ChannelIn:
    return ChannelIn.model_validate(
        {"slug": slug, "name": "Sports", "origin_url": "http://origin.test/m.m3u8", **extra}
    )


async def test_channel_crud_and_versions_only_rise(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    channel, ref = await store.create_channel(org.id, channel_in())
    assert ref.org_slug == org.slug and ref.version == channel.version
    before, after, _ = await store.update_channel(org.id, "sports1", {"origin_url": "http://new.test/m.m3u8"})
    assert after.version > before.version
    assert after.origin_url == "http://new.test/m.m3u8"
    assert (await store.get_channel(org.id, channel.id)).origin_url == "http://new.test/m.m3u8"
    _, dref = await store.delete_channel(org.id, channel.id)
    assert dref.version > after.version, "a deletion must outrank every cached copy"
    with pytest.raises(NotFound):
        await store.get_channel(org.id, "sports1")
    # Recreating the slug must not reuse an old version number (cache entries compare versions).
    again, _ = await store.create_channel(org.id, channel_in())
    assert again.version > dref.version


async def test_rename_reports_old_and_new_slug_keys(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    await store.create_channel(org.id, channel_in("old"))
    _, after, refs = await store.update_channel(org.id, "old", {"slug": "new"})
    assert {r.slug for r in refs} == {"old", "new"}
    assert all(r.version == after.version for r in refs)


async def test_duplicate_slug_is_a_conflict(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    await store.create_channel(org.id, channel_in("a"))
    await store.create_channel(org.id, channel_in("b"))
    with pytest.raises(Conflict) as exc:
        await store.create_channel(org.id, channel_in("a"))
    assert exc.value.field == "slug"
    with pytest.raises(Conflict):
        await store.update_channel(org.id, "b", {"slug": "a"})
    with pytest.raises(Conflict) as stale:
        await store.update_channel(org.id, "b", {"name": "x"}, expected_version=1)
    assert stale.value.field == "version"


async def test_other_orgs_objects_are_not_found(store: Store) -> None:
    a = await store.create_org(unique_slug(), "A")
    b = await store.create_org(unique_slug(), "B")
    ch, _ = await store.create_channel(a.id, channel_in())
    slate = await store.create_asset(
        t.slates,
        a.id,
        SlateIn.model_validate({"slug": "s", "name": "S", "duration_seconds": 4, "variants": VARIANTS}),
        Slate,
    )
    for ref in (ch.id, ch.slug):
        with pytest.raises(NotFound):
            await store.get_channel(b.id, ref)
        with pytest.raises(NotFound):
            await store.update_channel(b.id, ref, {"name": "stolen"})
        with pytest.raises(NotFound):
            await store.delete_channel(b.id, ref)
    with pytest.raises(NotFound):
        await store.get_slate(b.id, slate.id)
    # Nor can B's channel point at A's slate.
    with pytest.raises(Invalid) as exc:
        await store.create_channel(b.id, channel_in(slate_id=slate.id))
    assert exc.value.field == "slateId"
    assert await store.list_channels(b.id) == []


async def test_embedded_slate_and_pod_changes_bump_channels(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    slate = await store.create_asset(
        t.slates,
        org.id,
        SlateIn.model_validate({"slug": "s", "name": "S", "duration_seconds": 4, "variants": VARIANTS}),
        Slate,
    )
    pod = await store.create_asset(
        t.ad_pods,
        org.id,
        AdPodIn.model_validate({"slug": "p", "name": "P", "duration_seconds": 30, "variants": VARIANTS}),
        AdPod,
    )
    ch, _ = await store.create_channel(org.id, channel_in(slate_id=slate.id, ad_pod_id=pod.id))
    other, _ = await store.create_channel(org.id, channel_in("other"))

    floor, config = await store.read_config(org_slug=org.slug, channel_slug="sports1")
    assert config is not None and config.slate is not None and config.ad_pod is not None
    assert config.slate.duration_seconds == 4 and len(config.ad_pod.variants) == 2
    assert floor >= config.version

    _, _, refs = await store.update_asset(t.slates, org.id, "s", {"duration_seconds": 6.0}, Slate, SlateIn)
    assert [r.id for r in refs] == [ch.id], "only channels embedding the slate change"
    _, config2 = await store.read_config(channel_id=ch.id)
    assert config2 is not None and config2.slate is not None
    assert config2.version > config.version and config2.slate.duration_seconds == 6.0
    assert (await store.get_channel(org.id, other.id)).version == other.version

    _, refs = await store.delete_asset(t.ad_pods, org.id, pod.id, AdPod)
    assert [r.id for r in refs] == [ch.id]
    _, config3 = await store.read_config(channel_id=ch.id)
    assert config3 is not None and config3.ad_pod is None and config3.ad_pod_id is None
    assert config3.version > config2.version


async def test_read_config_absent_returns_the_version_floor(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    floor, config = await store.read_config(org_slug=org.slug, channel_slug="nope")
    assert config is None
    created, _ = await store.create_channel(org.id, channel_in("nope"))
    assert created.version > floor, "a later create outranks a cached absence"


async def test_tokens_are_stored_hashed_and_scoped(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    record, plaintext = await store.create_token(org.id, "editor", "ci")
    secret = plaintext.split("_", 3)[3]
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(t.api_tokens).where(t.api_tokens.c.id == record.id))).mappings().one()
    assert secret not in str(dict(row)), "the secret must never be stored"
    ctx, reason = await store.authenticate(plaintext)
    assert reason == "ok" and ctx is not None
    assert (ctx.org_id, ctx.org_slug, ctx.role) == (org.id, org.slug, "editor")
    assert (await store.authenticate(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")))[1] == "unknown"
    assert (await store.authenticate("garbage"))[1] == "malformed"
    await store.revoke_token(org.id, record.id)
    assert (await store.authenticate(plaintext))[1] == "revoked"
    _, short = await store.create_token(org.id, "viewer", "short", expires_in_seconds=-1)
    assert (await store.authenticate(short))[1] == "expired"


async def test_org_delete_cascades_and_reports_channels(store: Store) -> None:
    org = await store.create_org(unique_slug(), "Org")
    ch, _ = await store.create_channel(org.id, channel_in())
    _, refs = await store.delete_org(org.id)
    assert [r.id for r in refs] == [ch.id]
    _, config = await store.read_config(channel_id=ch.id)
    assert config is None
