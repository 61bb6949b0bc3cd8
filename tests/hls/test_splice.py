"""Splice invariants over many reloads of a sliding live window (hypothesis).

A simulated origin publishes segments in real time; breaks are planned in media time; every
reload is rendered from the origin window and the persisted plans only (as a fresh process
would), and observations are persisted between reloads as the actor does. Across all reloads
(checked by ``sidecar.probe.invariants``, which ``sidecar probe`` runs against the live service):

* one media sequence number always names the same segment (URI, duration, PDT);
* media sequence never goes back; nothing is duplicated or skipped;
* the discontinuity sequence rises exactly by the discontinuities that slid out;
* PDT is stable per segment and never goes back inside a playlist (continuous except at a
  discontinuity, where it may only jump forward);
* target duration covers every segment and never changes;
* every variant splices identically (same MSNs, PDTs and durations).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sidecar.hls.model import MediaPlaylist, Segment
from sidecar.hls.parse import parse_media
from sidecar.hls.splice import BreakPlan, Observation, PlanItem, render_sgai, render_ssai
from sidecar.hls.write import render_media
from sidecar.probe.invariants import (  # History and check_reload: tests/web use them from here
    DateRanges,
    History,
    InvariantViolation,
    check_dateranges,
    check_reload,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
BANDWIDTHS = (800_000, 1_600_000)


def origin_window(t: float, d: float, size: int, discontinuities: frozenset[int] = frozenset()) -> MediaPlaylist:
    last = math.floor(t / d) - 1
    first = max(0, last - size + 1)
    segs = tuple(
        Segment(
            msn=n,
            uri=f"https://origin.test/c{n}.ts",
            duration=d,
            pdt=EPOCH + timedelta(seconds=n * d),
            pdt_explicit=True,
            discontinuity=n in discontinuities,
        )
        for n in range(first, last + 1)
    )
    dsn = sum(1 for n in discontinuities if n < first)
    return MediaPlaylist(
        target_duration=math.ceil(d), media_sequence=first, discontinuity_sequence=dsn, version=6, segments=segs
    )


def items_for(ad_durations: list[float], slate: float, total: float) -> tuple[PlanItem, ...]:
    items: list[PlanItem] = []
    for i, dur in enumerate(ad_durations):
        uris = tuple((b, f"https://ads.test/a{i}/{b}/{len(items)}.ts") for b in BANDWIDTHS)
        items.append(PlanItem(dur, uris, discontinuity=i == 0 or i % 3 == 0, kind="ad"))
    t = sum(ad_durations)
    while t < total + 12:
        uris = tuple((b, f"https://ads.test/slate/{b}.ts") for b in BANDWIDTHS)
        items.append(PlanItem(slate, uris, discontinuity=True, kind="slate"))
        t += slate
    return tuple(items)


def apply(plans: list[BreakPlan], observations: tuple[Observation, ...]) -> list[BreakPlan]:
    by_id = {o.break_id: o for o in observations}
    out = []
    for p in plans:
        o = by_id.get(p.id)
        if o is not None:
            changes = {
                k: getattr(o, k)
                for k in (
                    "first_msn",
                    "first_pdt",
                    "replaced",
                    "replaced_seconds",
                    "shown",
                    "inserted_discontinuities",
                    "resume_discontinuity",
                    "absorbed",
                )
                if getattr(o, k) is not None
            }
            p = replace(p, **changes)
        out.append(p)
    return out


breaks_strategy = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=1.0),  # where in the timeline (fraction)
        st.floats(min_value=0.0, max_value=0.99),  # misalignment within a segment
        st.integers(min_value=6, max_value=60),  # planned duration
        st.lists(st.sampled_from([2.0, 4.0, 6.0, 10.0]), min_size=0, max_size=6),  # ad segment durations
        st.booleans(),  # back to back: starts on the segment where the previous break returns
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    d=st.sampled_from([2.0, 4.0, 6.0]),
    size=st.integers(min_value=3, max_value=12),
    specs=breaks_strategy,
    steps=st.lists(st.floats(min_value=0.3, max_value=7.0), min_size=30, max_size=60),
    slate=st.sampled_from([2.0, 4.0]),
    discs=st.frozensets(st.integers(min_value=0, max_value=120), max_size=3),
)
def test_reloads_keep_every_hls_invariant(
    d: float, size: int, specs: list, steps: list[float], slate: float, discs: frozenset[int]
) -> None:
    longest = max([d, slate, *(x for spec in specs for x in spec[3])])
    # RFC 8216 keeps a live window at least three target durations long, and a viewer that
    # reloads less often than the window slides skips segments by its own doing.
    assume(size * d >= 3 * longest)
    steps = [min(step, (size - 1) * d) for step in steps]
    horizon = sum(steps) + size * d
    plans: list[BreakPlan] = []
    cursor = size * d
    for i, (where, misalign, duration, ads, back_to_back) in enumerate(specs):
        start = max(cursor, size * d + where * (horizon - size * d)) + misalign * d
        if back_to_back and plans:
            # The first segment boundary at or after the previous break's end: where it resumes.
            previous = plans[-1]
            end = (previous.start - EPOCH).total_seconds() + previous.duration
            start = math.ceil((end - 0.25) / d) * d
        plans.append(
            BreakPlan(
                id=f"b{i}",
                start=EPOCH + timedelta(seconds=start),
                duration=float(duration),
                items=items_for(ads, slate, duration),
            )
        )
        cursor = start + duration + 2 * d
    target = math.ceil(max(d, 10.0))
    histories = {b: History({}) for b in BANDWIDTHS}
    t = size * d + 0.01
    for step in steps:
        t += step
        window = origin_window(t, d, size, discs)
        results = {}
        for bandwidth in BANDWIDTHS:
            rendered = render_ssai(window, plans, bandwidth=bandwidth, target_duration=target)
            check_reload(histories[bandwidth], rendered.playlist, bandwidth)
            # The writer's text round-trips through our parser.
            reparsed = parse_media(render_media(rendered.playlist))
            assert [s.msn for s in reparsed.segments] == [s.msn for s in rendered.playlist.segments]
            results[bandwidth] = rendered
        a, b = (results[x].playlist for x in BANDWIDTHS)
        assert [(s.msn, s.pdt, s.duration, s.discontinuity) for s in a.segments] == [
            (s.msn, s.pdt, s.duration, s.discontinuity) for s in b.segments
        ], "variants spliced differently"
        assert (a.media_sequence, a.discontinuity_sequence) == (b.media_sequence, b.discontinuity_sequence)
        plans = apply(plans, results[BANDWIDTHS[0]].observations)


def test_a_break_is_replaced_by_ads_then_slate_and_content_resumes() -> None:
    d = 4.0
    items = items_for([10.0, 10.0, 10.0], 2.0, 30)
    plan = BreakPlan(id="brk", start=EPOCH + timedelta(seconds=40), duration=30.0, items=items)
    plans = [plan]
    seen: dict[int, str] = {}
    for t in [x * 2.0 for x in range(12, 60)]:
        rendered = render_ssai(origin_window(t, d, 6), plans, bandwidth=1_000_000, target_duration=10)
        plans = apply(plans, rendered.observations)
        for s in rendered.playlist.segments:
            seen.setdefault(s.msn, s.uri)
    final = plans[0]
    assert final.first_msn == 10 and final.replaced == 8 and final.replaced_seconds == 32.0
    assert final.shown == 4, "three 10 s ads and one 2 s slate fill 32 s of replaced content"
    uris = [seen[m] for m in sorted(seen)]
    assert uris[:10] == [f"https://origin.test/c{n}.ts" for n in range(10)]
    assert uris[10:13] == [f"https://ads.test/a{i}/800000/{i}.ts" for i in range(3)]
    assert uris[13] == "https://ads.test/slate/800000.ts"
    assert uris[14] == "https://origin.test/c18.ts", "content resumes where the break's content ends"


def test_ads_never_run_ahead_of_the_published_content() -> None:
    plan = BreakPlan(
        id="x", start=EPOCH + timedelta(seconds=40), duration=30.0, items=items_for([10.0, 10.0, 10.0], 2.0, 30)
    )
    # 8 s into the break: replaced content covers 8 s, less than the first 10 s ad.
    rendered = render_ssai(origin_window(48.5, 4.0, 6), [plan], bandwidth=800_000, target_duration=10)
    assert all("ads.test" not in s.uri for s in rendered.playlist.segments)
    rendered = render_ssai(origin_window(52.5, 4.0, 6), [plan], bandwidth=800_000, target_duration=10)
    assert sum("ads.test" in s.uri for s in rendered.playlist.segments) == 1


def test_sgai_adds_one_stable_interstitial_per_break() -> None:
    plan = BreakPlan(
        id="brk_1",
        start=EPOCH + timedelta(seconds=60),
        duration=30.0,
        asset_list="assets.json?break=brk_1",
        restrict="SKIP,JUMP",
        snap="OUT,IN",
    )
    texts = []
    seen = DateRanges()
    for t in (50.5, 58.5, 62.5, 80.5, 96.5, 100.5):
        pl = render_sgai(origin_window(t, 4.0, 6), [plan])
        check_dateranges(seen, pl)
        text = render_media(pl)
        assert text.count('CLASS="com.apple.hls.interstitial"') == 1
        tag = next(line for line in text.splitlines() if "interstitial" in line)
        texts.append(tag)
        assert [s.msn for s in pl.segments] == [s.msn for s in origin_window(t, 4.0, 6).segments]
    # While the break runs its end is not known: the same tag on every reload, without DURATION.
    assert len(set(texts[:4])) == 1, "the same DATERANGE on every reload"
    assert 'ID="brk_1"' in texts[0] and 'START-DATE="2026-01-01T00:01:00.000Z"' in texts[0]
    assert "PLANNED-DURATION=30.000" in texts[0] and 'X-ASSET-LIST="assets.json?break=brk_1"' in texts[0]
    assert ",DURATION=" not in texts[0] and "X-PLAYOUT-LIMIT" not in texts[0] and "X-RESUME-OFFSET" not in texts[0]
    # Once content after it is published, the same ID gains DURATION and X-PLAYOUT-LIMIT: up to
    # the segment boundary where content resumes (92 s: the segment at 88 s is still in the break).
    assert texts[4] == texts[0] + ",DURATION=32.000,X-PLAYOUT-LIMIT=32.000" == texts[5]
    # Ahead of the live edge it sits after the last segment, so players see it in advance.
    early = render_media(render_sgai(origin_window(50.5, 4.0, 6), [plan]))
    assert early.rstrip().splitlines()[-1].startswith("#EXT-X-DATERANGE")
    # Once the whole break is behind the window it is gone.
    late = render_media(render_sgai(origin_window(130.5, 4.0, 6), [plan]))
    assert "interstitial" not in late


def test_an_early_return_adds_the_actual_duration_and_changes_nothing_announced() -> None:
    """CUE-OUT:30, then CUE-IN 18 s in (the actor shortens the break): the interstitial keeps
    PLANNED-DURATION=30 and gains DURATION and X-PLAYOUT-LIMIT up to where content resumes (the
    boundary at 80 s, 20 s in), never a changed value."""
    plan = BreakPlan(
        id="brk_1", start=EPOCH + timedelta(seconds=60), duration=30.0, planned=30.0, asset_list="a.json?break=brk_1"
    )
    seen = DateRanges()
    tags = []
    for t in (50.5, 62.5, 74.5, 78.5, 84.5, 90.5):
        if t > 78:
            plan = replace(plan, duration=18.0)  # the CUE-IN came 18 s in
        pl = render_sgai(origin_window(t, 4.0, 6), [plan])
        check_dateranges(seen, pl)
        tags.append(next(line for line in render_media(pl).splitlines() if "interstitial" in line))
    assert all("PLANNED-DURATION=30.000" in tag for tag in tags)
    # Known once content at or after the return is published (the segment at 80 s, at 84 s).
    assert [("X-PLAYOUT-LIMIT=20.000" in tag) for tag in tags] == [False] * 4 + [True] * 2
    # A tag that changed a value is caught by the checker.
    changed = replace(plan, planned=18.0)
    with pytest.raises(InvariantViolation, match="PLANNED-DURATION"):
        check_dateranges(seen, render_sgai(origin_window(90.5, 4.0, 6), [changed]))


def test_overlapping_plans_never_break_the_playlist() -> None:
    """The actor refuses overlapping breaks; if state still holds two, the later one is ignored."""
    items = items_for([10.0], 2.0, 20)
    first = BreakPlan(id="a", start=EPOCH + timedelta(seconds=40), duration=20.0, items=items)
    second = BreakPlan(id="b", start=EPOCH + timedelta(seconds=48), duration=20.0, items=items)
    history = History({})
    plans = [first, second]
    for t in [x * 1.5 for x in range(20, 70)]:
        rendered = render_ssai(origin_window(t, 4.0, 6), plans, bandwidth=800_000, target_duration=10)
        check_reload(history, rendered.playlist, 800_000)
        plans = apply(plans, rendered.observations)
    assert plans[1].first_msn is None, "the overlapping break was never placed"
