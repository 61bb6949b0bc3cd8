"""Splicing ad breaks into a live media playlist window: SSAI replacement and SGAI interstitials.

Pure functions. The inputs are one parsed origin window and the channel's break plans (owned
and persisted by the channel actor); the output is a ``MediaPlaylist`` for the writer plus the
*observations* the caller must persist so that numbering survives the window sliding on.

The model (docs/adr/0004-hls-splice-timeline.md):

* A break is anchored in media time: ``start`` is the PDT of the splice point. The content
  segments it replaces are the origin segments whose PDT lies in ``[start, start + duration)``
  (with a small tolerance), the same for every variant and every viewer.
* The break's ad timeline is a list of items (ad segments, then slate) with offsets ``a_j`` from
  the first replaced segment's PDT. Item ``j`` is *owned* by the replaced segment whose time span
  contains ``a_j``; it is shown while its owner is in the window and only once the published
  replaced content covers its end (``a_j + d_j``), so the stitched playlist never runs ahead of the
  origin, and never past the replaced duration ``R`` (we never overshoot: PDTs never go back).
* Numbering: item ``j`` of break ``b`` has media sequence ``out(f_b) + j``; content segment ``s``
  after finished breaks has ``s + Σ(M_b - n_b)`` (``n_b`` segments replaced by ``M_b`` items).
  ``f_b``, ``n_b`` and ``M_b`` are observed from the window once and persisted, so they hold after
  the segments slide out.
* Discontinuity sequence = origin's + discontinuities we inserted that have slid out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sidecar.hls.model import MediaPlaylist, Segment, rounded_duration

TOLERANCE = 0.25  # seconds: PDTs from different encoders disagree by a few ms; segments are seconds long
# An ad item is shown only once the replaced content covers its end *exactly* (to the
# millisecond): with jittered content (6.006/5.96 s) a tolerance would let the ads run a few tens
# of milliseconds past the content they replace, and the PDT go back at the return.
COVERED = 0.001


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One segment of a break's ad timeline, in every bitrate it exists in."""

    duration: float
    uris: tuple[tuple[int, str], ...]  # (bitrate_bps, absolute URI), ascending bitrate
    discontinuity: bool  # first segment of a creative or of a slate loop
    kind: str = "ad"  # "ad" | "slate"

    def uri_for(self, bandwidth: int) -> str:
        """The highest bitrate not above the variant's; the lowest if all are above."""
        chosen = self.uris[0][1]
        for bitrate, uri in self.uris:
            if bitrate <= bandwidth:
                chosen = uri
        return chosen


@dataclass(frozen=True, slots=True)
class BreakPlan:
    id: str
    start: datetime
    duration: float
    items: tuple[PlanItem, ...] = ()
    # Observed from the origin window and persisted by the caller:
    first_msn: int | None = None
    first_pdt: datetime | None = None
    replaced: int | None = None  # n: content segments replaced (final once known)
    replaced_seconds: float | None = None  # R
    shown: int | None = None  # M: items shown in total
    inserted_discontinuities: int | None = None  # among the M items, plus the resume one if inserted
    resume_discontinuity: bool = True  # we inserted the DISCONTINUITY before the resumed content
    # Origin segments with their own DISCONTINUITY that this break replaced: the origin's DSN
    # counts them when they slide out, our output never showed them.
    absorbed: tuple[int, ...] = ()
    asset_list: str = ""  # SGAI: X-ASSET-LIST URL
    restrict: str | None = None
    snap: str | None = None
    # The duration the break was announced with. ``duration`` may shrink later (an early CUE-IN, a
    # stop), but what an interstitial announced first can never change (SGAI PLANNED-DURATION).
    planned: float | None = None

    @property
    def final(self) -> bool:
        return self.replaced is not None and self.first_msn is not None and self.shown is not None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)


@dataclass(frozen=True, slots=True)
class TimelineBase:
    """Offsets of breaks folded out of the plan history (long before any window)."""

    msn: int = 0
    dsn: int = 0


@dataclass(frozen=True, slots=True)
class Observation:
    """Something learned from this window that must be persisted before it slides out."""

    break_id: str
    first_msn: int | None = None
    first_pdt: datetime | None = None
    replaced: int | None = None
    replaced_seconds: float | None = None
    shown: int | None = None
    inserted_discontinuities: int | None = None
    resume_discontinuity: bool | None = None
    absorbed: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    playlist: MediaPlaylist
    observations: tuple[Observation, ...] = ()
    # (break id, item index) of every ad/slate item this playlist shows: what viewers can play.
    exposed: tuple[tuple[str, int], ...] = field(default=())


def _seconds(a: datetime, b: datetime) -> float:
    return (a - b).total_seconds()


def _offsets(items: Sequence[PlanItem]) -> list[float]:
    out, t = [], 0.0
    for item in items:
        out.append(t)
        t += item.duration
    return out


def _discontinuity(plan: BreakPlan, j: int) -> bool:
    """A DISCONTINUITY precedes the first item, and every creative or slate-loop start."""
    return j == 0 or plan.items[j].discontinuity


def _absorb(window: MediaPlaylist, plan: BreakPlan) -> BreakPlan:
    if plan.first_msn is None:
        return plan
    found = {
        s.msn
        for s in window.segments
        if s.discontinuity
        and s.msn >= plan.first_msn
        and (
            s.msn < plan.first_msn + plan.replaced
            if plan.replaced is not None
            else s.pdt is not None and _seconds(s.pdt, plan.start) < plan.duration - TOLERANCE
        )
    }
    if found - set(plan.absorbed):
        return replace(plan, absorbed=tuple(sorted(found | set(plan.absorbed))))
    return plan


def observe(window: MediaPlaylist, plan: BreakPlan) -> BreakPlan:
    """Fill in what this window reveals about ``plan`` (pure; the caller persists changes)."""
    return _absorb(window, _observe(window, plan))


def _observe(window: MediaPlaylist, plan: BreakPlan) -> BreakPlan:
    if plan.final:
        return plan
    segs = [s for s in window.segments if s.pdt is not None]
    if not segs:
        return plan
    first_msn, first_pdt = plan.first_msn, plan.first_pdt
    if first_msn is None:
        for i, seg in enumerate(segs):
            assert seg.pdt is not None
            if _seconds(seg.pdt, plan.start) >= -TOLERANCE:
                # Trust it as the splice point only if its predecessor is visible and before the
                # start, or it sits on the start itself; otherwise the real one slid out unseen.
                before = segs[i - 1].pdt if i > 0 else None
                if (before is not None and _seconds(before, plan.start) < -TOLERANCE) or abs(
                    _seconds(seg.pdt, plan.start)
                ) <= TOLERANCE:
                    first_msn, first_pdt = seg.msn, seg.pdt
                break
        if first_msn is None:
            return plan
        plan = replace(plan, first_msn=first_msn, first_pdt=first_pdt)
    assert first_pdt is not None
    # The break is over once a segment at or after its end is published.
    for seg in segs:
        if seg.msn <= first_msn or _seconds(seg.pdt, plan.start) < plan.duration - TOLERANCE:  # type: ignore[arg-type]
            continue
        replaced_seconds = _seconds(seg.pdt, first_pdt)  # type: ignore[arg-type]
        shown = sum(
            1
            for a, item in zip(_offsets(plan.items), plan.items, strict=True)
            if a + item.duration <= replaced_seconds + COVERED
        )
        resume = not seg.discontinuity
        discs = sum(1 for j in range(shown) if _discontinuity(plan, j)) + (1 if resume else 0)
        return replace(
            plan,
            replaced=seg.msn - first_msn,
            replaced_seconds=replaced_seconds,
            shown=shown,
            inserted_discontinuities=discs,
            resume_discontinuity=resume,
        )
    return plan


def _diff(before: BreakPlan, after: BreakPlan) -> Observation | None:
    if before == after:
        return None
    newly_final = before.replaced is None and after.replaced is not None
    inserted = after.inserted_discontinuities
    return Observation(
        break_id=after.id,
        first_msn=after.first_msn if before.first_msn is None else None,
        first_pdt=after.first_pdt if before.first_pdt is None else None,
        replaced=after.replaced if newly_final else None,
        replaced_seconds=after.replaced_seconds if newly_final else None,
        shown=after.shown if newly_final else None,
        inserted_discontinuities=inserted if newly_final or inserted != before.inserted_discontinuities else None,
        resume_discontinuity=(
            after.resume_discontinuity
            if newly_final or after.resume_discontinuity != before.resume_discontinuity
            else None
        ),
        absorbed=after.absorbed if after.absorbed != before.absorbed else None,
    )


def _joints(plans: list[BreakPlan]) -> list[BreakPlan]:
    """Back-to-back breaks: when a break resumes on the segment where the next break splices out,
    no content resumes there, so the resume DISCONTINUITY the earlier break counted is never
    written (the later break's first item carries the one DISCONTINUITY of the joint). Without
    this correction the discontinuity sequence rises by 2 when that one tag slides out."""
    starts = {p.first_msn for p in plans if p.first_msn is not None}
    out = []
    for p in plans:
        if p.final and p.resume_discontinuity and p.first_msn + p.replaced in starts:  # type: ignore[operator]
            p = replace(p, resume_discontinuity=False, inserted_discontinuities=(p.inserted_discontinuities or 1) - 1)
        out.append(p)
    return out


def observe_all(window: MediaPlaylist, plans: Sequence[BreakPlan]) -> tuple[list[BreakPlan], list[Observation]]:
    updated = _joints([observe(window, plan) for plan in plans])
    observations = [obs for before, after in zip(plans, updated, strict=True) if (obs := _diff(before, after))]
    return updated, observations


@dataclass(frozen=True, slots=True)
class _Placed:
    """A known break as seen from one window."""

    plan: BreakPlan
    replaced: list[Segment]  # its replaced segments that are in the window
    first_visible: int  # index of the first item whose owner is still in the window
    last_visible: int  # one past the last item the published content covers


def _place(plan: BreakPlan, window: Sequence[Segment]) -> _Placed:
    assert plan.first_msn is not None and plan.first_pdt is not None
    if plan.final:
        end_msn = plan.first_msn + plan.replaced  # type: ignore[operator]
        replaced = [s for s in window if plan.first_msn <= s.msn < end_msn]
    else:
        replaced = [
            s
            for s in window
            if s.msn >= plan.first_msn and s.pdt is not None and _seconds(s.pdt, plan.start) < plan.duration - TOLERANCE
        ]
    offsets = _offsets(plan.items)
    limit = plan.shown if plan.shown is not None else len(plan.items)
    if plan.final:
        coverage = plan.replaced_seconds or 0.0
    elif replaced:
        coverage = _seconds(replaced[-1].pdt, plan.first_pdt) + replaced[-1].duration  # type: ignore[arg-type]
    else:
        coverage = 0.0
    if replaced and replaced[0].msn > plan.first_msn:
        lower = _seconds(replaced[0].pdt, plan.first_pdt) - TOLERANCE  # type: ignore[arg-type]
    elif replaced:
        lower = float("-inf")
    else:
        lower = float("inf")  # slid out entirely (or not published yet)
    first = next((j for j in range(limit) if offsets[j] >= lower), limit)
    last = first
    while last < limit and offsets[last] + plan.items[last].duration <= coverage + COVERED:
        last += 1
    return _Placed(plan, replaced, first, max(first, last))


def _disjoint(plans: Sequence[BreakPlan]) -> list[BreakPlan]:
    """Plans in start order, dropping any that starts inside an earlier one (the actor refuses
    overlaps; this keeps older or foreign state from ever producing a broken playlist).
    Deterministic, so every process drops the same ones."""
    kept: list[BreakPlan] = []
    for plan in sorted((p for p in plans if p.items), key=lambda p: (p.start, p.id)):
        if kept:
            last = kept[-1]
            end = last.start + timedelta(
                seconds=last.replaced_seconds if last.replaced_seconds is not None else last.duration
            )
            if _seconds(plan.start, end) < -TOLERANCE:
                continue
        kept.append(plan)
    return kept


def render_ssai(
    window: MediaPlaylist,
    plans: Sequence[BreakPlan],
    *,
    bandwidth: int,
    target_duration: int,
    base: TimelineBase = TimelineBase(),
) -> Rendered:
    """Replace each break's content segments with its ad timeline, keeping MSN/DSN/PDT valid."""
    plans, observations = observe_all(window, _disjoint(plans))
    segments = window.segments
    if not segments:
        return Rendered(window, tuple(observations))
    known = [p for p in plans if p.first_msn is not None and p.first_pdt is not None]
    placed = {p.id: _place(p, segments) for p in known}

    def shift_before(msn: int) -> int:
        """Σ(M - n) of finished breaks whose resumed content is at or before ``msn``."""
        total = base.msn
        for p in known:
            if p.final and p.first_msn + p.replaced <= msn:  # type: ignore[operator]
                total += p.shown - p.replaced  # type: ignore[operator]
        return total

    owner: dict[int, _Placed] = {s.msn: pl for pl in placed.values() for s in pl.replaced}
    resume_at = {p.first_msn + p.replaced: p for p in known if p.final}  # type: ignore[operator]

    # Discontinuity sequence: the origin's, plus ours that slid out of the window.
    s0 = segments[0].msn
    dsn = window.discontinuity_sequence + base.dsn
    for p in known:
        assert p.first_msn is not None
        dsn -= sum(1 for msn in p.absorbed if msn < s0)
        if p.final and p.first_msn + p.replaced < s0:  # type: ignore[operator]
            dsn += p.inserted_discontinuities or 0
        elif p.first_msn < s0:
            dsn += sum(1 for j in range(placed[p.id].first_visible) if _discontinuity(p, j))

    out: list[Segment] = []
    exposed: list[tuple[str, int]] = []
    done: set[str] = set()
    for seg in segments:
        pl = owner.get(seg.msn)
        if pl is None:
            new = replace(seg, msn=seg.msn + shift_before(seg.msn), tags=_strip_cues(seg.tags))
            if seg.msn in resume_at:
                new = replace(
                    new, discontinuity=True, pdt_explicit=seg.pdt is not None, tags=("#EXT-X-CUE-IN", *new.tags)
                )
            out.append(new)
            continue
        plan = pl.plan
        if plan.id in done:
            continue
        done.add(plan.id)
        assert plan.first_msn is not None and plan.first_pdt is not None
        first_out = plan.first_msn + shift_before(plan.first_msn)
        total = plan.replaced_seconds if plan.final else plan.duration
        offsets = _offsets(plan.items)
        for j in range(pl.first_visible, pl.last_visible):
            item = plan.items[j]
            marker: tuple[str, ...]
            if j:
                marker = (f"#EXT-X-CUE-OUT-CONT:ElapsedTime={_num(offsets[j])},Duration={_num(total or 0.0)}",)
            elif plan.first_msn in resume_at:  # back to back: the previous break returns here
                marker = ("#EXT-X-CUE-IN", f"#EXT-X-CUE-OUT:{_num(total or 0.0)}")
            else:
                marker = (f"#EXT-X-CUE-OUT:{_num(total or 0.0)}",)
            out.append(
                Segment(
                    msn=first_out + j,
                    uri=item.uri_for(bandwidth),
                    duration=item.duration,
                    pdt=plan.first_pdt + timedelta(seconds=offsets[j]),
                    pdt_explicit=True,
                    discontinuity=_discontinuity(plan, j),
                    tags=marker,
                )
            )
            exposed.append((plan.id, j))
    _check_numbering(out)
    longest = max((rounded_duration(s.duration) for s in out), default=0)
    playlist = replace(
        window,
        media_sequence=out[0].msn if out else window.media_sequence + shift_before(window.media_sequence),
        discontinuity_sequence=dsn,
        dsn_explicit=True,
        target_duration=max(target_duration, window.target_duration, longest),
        segments=tuple(out),
        trailer_tags=_strip_cues(window.trailer_tags),
        cues=(),
        source=None,
    )
    return Rendered(playlist, tuple(observations), tuple(exposed))


_CUE_PREFIXES = ("#EXT-X-CUE-OUT", "#EXT-X-CUE-IN", "#EXT-OATCLS-SCTE35", "#EXT-X-SCTE35", "#EXT-X-SPLICEPOINT-SCTE35")


def _strip_cues(tags: Sequence[str]) -> tuple[str, ...]:
    """SSAI output carries its own markers for the breaks it stitched; origin cue tags would
    announce breaks twice (or out of place), so they are dropped. Everything else is kept."""
    kept = []
    for tag in tags:
        if tag.startswith(_CUE_PREFIXES):
            continue
        if tag.startswith("#EXT-X-DATERANGE") and "SCTE35-" in tag:
            continue
        kept.append(tag)
    return tuple(kept)


def _num(value: float) -> str:
    return f"{value:.3f}"


def _check_numbering(segments: list[Segment]) -> None:
    for a, b in itertools.pairwise(segments):
        if b.msn != a.msn + 1:
            raise SpliceError(f"media sequence gap: {a.msn} then {b.msn}")


class SpliceError(Exception):
    """The splice would produce an invalid playlist; callers serve the origin window instead."""


def render_sgai(window: MediaPlaylist, plans: Sequence[BreakPlan]) -> MediaPlaylist:
    """Content untouched; one HLS Interstitial DATERANGE per break still ahead of or in the window.

    The DATERANGE goes before the first segment at or after its START-DATE, or after the last
    segment while START-DATE is still ahead of the live edge (players look ahead for it; hls.js
    loads asset lists ~10 s ahead). Its ID is the break's id, so it is identical on every reload.
    Its end is known once the window holds content at or after it (see ``interstitial_tag``).
    """
    segments = list(window.segments)
    trailer = list(window.trailer_tags)
    first_pdt = next((s.pdt for s in segments if s.pdt is not None), None)
    for plan in sorted(plans, key=lambda p: p.start):
        if first_pdt is not None and _seconds(plan.end, first_pdt) <= 0:
            continue  # the whole break is behind the window
        # The return: the first segment boundary at or after the break's end, as SSAI resumes.
        resume = next((s.pdt for s in segments if s.pdt is not None and _seconds(s.pdt, plan.end) >= -TOLERANCE), None)
        tag = interstitial_tag(plan, ended=None if resume is None else _seconds(resume, plan.start))
        for i, seg in enumerate(segments):
            if seg.pdt is not None and _seconds(seg.pdt, plan.start) >= -TOLERANCE:
                segments[i] = replace(seg, tags=(tag, *seg.tags))
                break
        else:
            trailer.insert(0, tag)
    return replace(window, segments=tuple(segments), trailer_tags=tuple(trailer), source=None)


def interstitial_tag(plan: BreakPlan, *, ended: float | None) -> str:
    """The break's interstitial ``EXT-X-DATERANGE``. Attributes of one ID never change (RFC 8216bis
    section 4.4.5.1), so a break whose end is not known yet (a live break can return early on a
    CUE-IN, or be stopped) is announced with what cannot change: START-DATE, PLANNED-DURATION (the
    announced duration), the asset list. No DURATION, X-PLAYOUT-LIMIT or X-RESUME-OFFSET: a player
    resumes the primary after what it played, which keeps a live viewer at a constant delay.
    Once the window shows the return, ``ended`` (seconds from the start to the first segment
    boundary at or after the break's end), the same ID gains DURATION and X-PLAYOUT-LIMIT with
    it: added attributes, never changed ones, and the player stops the interstitial (slate
    included) and resumes the primary exactly where its content resumes.
    """
    start = plan.start.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    planned = plan.planned if plan.planned is not None else plan.duration
    attrs = [
        f'ID="{plan.id}"',
        'CLASS="com.apple.hls.interstitial"',
        f'START-DATE="{start}"',
        f"PLANNED-DURATION={_num(planned)}",
        f'X-ASSET-LIST="{plan.asset_list}"',
    ]
    if plan.restrict:
        attrs.append(f'X-RESTRICT="{plan.restrict}"')
    if plan.snap:
        attrs.append(f'X-SNAP="{plan.snap}"')
    if ended is not None:
        attrs.append(f"DURATION={_num(ended)}")
        attrs.append(f"X-PLAYOUT-LIMIT={_num(ended)}")
    return "#EXT-X-DATERANGE:" + ",".join(attrs)
