"""SGAI assets: each asset list entry's DURATION is exactly what its playlists play."""

from __future__ import annotations

from sidecar.actors.state import AdBreak, AssetState, PlanItemState
from sidecar.hls.parse import parse_master, parse_media
from sidecar.stitch.assets import asset_items, asset_list, asset_master, asset_media

LOW, HIGH = 800_000, 1_600_000


def item(duration: float, name: str, kind: str = "ad", disc: bool = False) -> PlanItemState:
    uris = tuple((b, f"https://ads.test/{name}/{b}.ts") for b in (LOW, HIGH))
    return PlanItemState(duration=duration, uris=uris, discontinuity=disc, kind=kind)


def brk(planned: float, duration: float | None = None, pod_cut: bool = False) -> AdBreak:
    ads = [item(10.0, "a0", disc=True), item(10.0, "a1"), item(10.0, "a2")]
    slate = [item(2.0, f"s{i}", "slate", disc=True) for i in range(60)]  # looped well past the break
    pod = AssetState(
        duration=30.0,
        variants=((LOW, "https://ads.test/pod/lo.m3u8"), (HIGH, "https://ads.test/pod/hi.m3u8")),
        cut=pod_cut,
    )
    slate_asset = AssetState(
        duration=planned - 30.0,
        variants=((LOW, "https://ads.test/slate/lo.m3u8"), (HIGH, "https://ads.test/slate/hi.m3u8")),
        kind="slate",
    )
    return AdBreak(
        id="brk_1",
        source="scte35",
        event_id="e",
        started_at=0.0,
        ends_at=planned,
        duration_seconds=duration if duration is not None else planned,
        planned_seconds=planned,
        items=(*ads, *slate),
        assets=(pod, slate_asset),
    )


def test_a_long_break_loops_the_slate_for_exactly_what_the_list_says() -> None:
    b = brk(121.0)  # 30 s pod, 91 s of slate to fill: 46 two-second slate segments (92 s)
    listed = asset_list(b, "//svc.test/o/c")["ASSETS"]
    assert listed == [
        {"URI": "//svc.test/o/c/ad/brk_1/0.m3u8", "DURATION": 30.0},
        {"URI": "//svc.test/o/c/ad/brk_1/1.m3u8", "DURATION": 92.0},
    ]
    master = parse_master(asset_master(b, 1) or "")
    assert [v.uri for v in master.variants] == [f"1/{LOW}.m3u8", f"1/{HIGH}.m3u8"], "our own looped playlists"
    for bandwidth in (LOW, HIGH):
        pl = parse_media(asset_media(b, 1, bandwidth) or "")
        assert pl.endlist and sum(s.duration for s in pl.segments) == 92.0
        assert all(s.discontinuity for s in pl.segments[1:]), "each loop of the slate is its own timeline"
        assert {s.uri.rsplit("/", 1)[-1] for s in pl.segments} == {f"{bandwidth}.ts"}
    # A creative played whole is its own playlists.
    assert [v.uri for v in parse_master(asset_master(b, 0) or "").variants] == [
        "https://ads.test/pod/lo.m3u8",
        "https://ads.test/pod/hi.m3u8",
    ]
    assert asset_media(b, 0, LOW) is None


def test_an_early_return_changes_no_asset() -> None:
    """The list may be fetched before the CUE-IN and the playlists after it: both describe the
    announced break; the interstitial's X-PLAYOUT-LIMIT ends it early instead."""
    assert asset_list(brk(60.0), "") == asset_list(brk(60.0, duration=18.0), "")
    assert asset_media(brk(60.0), 1, LOW) == asset_media(brk(60.0, duration=18.0), 1, LOW)


def test_a_cut_pod_is_served_as_what_was_kept() -> None:
    b = brk(40.0, pod_cut=True)
    items = asset_items(b)
    assert [sum(i.duration for i in its) for _, its in items] == [30.0, 10.0]
    assert parse_master(asset_master(b, 0) or "").variants[0].uri == f"0/{LOW}.m3u8"
    assert sum(s.duration for s in parse_media(asset_media(b, 0, LOW) or "").segments) == 30.0


def test_unknown_assets_and_bandwidths_are_none() -> None:
    b = brk(60.0)
    assert asset_master(b, 2) is None and asset_media(b, 1, 123) is None and asset_media(b, 9, LOW) is None
