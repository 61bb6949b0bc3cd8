"""Judge a whole run of one channel against an origin whose breaks are known in advance.

Where :mod:`sidecar.probe.invariants` checks what any viewer can check reload by reload, this
checker also knows the truth: the origin's breaks (splice-out and return, in media time) and how
healthy the origin was at each moment. It is fed every response a player would get (both variants
of one channel, polled together, and the interstitials' asset lists and asset playlists) and
reports every rule broken, by check, rather than stopping at the first. Pure: no I/O, no clock; the
caller passes times. The acceptance test of the live-origin scenarios (tests/scenarios) drives it.

Checks (the keys of :meth:`ScenarioChecker.violations`):

``reload``
    every variant, reload after reload: :func:`~sidecar.probe.invariants.check_reload` (MSN →
    URI, duration, PDT stable; DSN accounting exact; target duration constant and covering every
    segment) and the playlist never shrinks at its end (RFC 8216 section 6.2.1).
``aligned``
    both variants, polled together, agree at every common MSN (discontinuity count, PDT,
    duration).
``daterange``
    no DATERANGE ID ever changes an attribute (SGAI interstitials above all).
``pod``
    SSAI: each break's ads start within one target duration of its splice-out (a break already
    under way when the channel was first played: no later than a target duration after the live
    edge of that first playlist), no content is served between its first ad and its return, and
    content resumes exactly at the return's PDT (or the next break's ads, back to back). SGAI:
    an interstitial starts within one target duration of the splice-out (same rule for a joined
    break), and once its end is published, START-DATE + DURATION is the return.
``errors``
    no 5xx while the origin's last good playlist is younger than ``stale_bound``; every error
    response carries ``Access-Control-Allow-Origin``.
``cors``
    every playlist and asset response carries ``Access-Control-Allow-Origin``.
``assets``
    every interstitial's asset list, asset multivariant playlists and asset media playlists answer
    200 for as long as it is in a served window (before its start too: players preload), the list
    never changes, and each asset's DURATION is what its media playlists play.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sidecar.hls.attributes import parse_attributes, parse_pdt
from sidecar.hls.model import MediaPlaylist, Segment
from sidecar.hls.parse import PlaylistError, parse_media
from sidecar.probe.invariants import (
    DateRanges,
    History,
    InvariantViolation,
    check_aligned,
    check_dateranges,
    check_reload,
)

CHECKS = ("reload", "aligned", "daterange", "pod", "errors", "cors", "assets")
TOLERANCE = 0.1  # seconds: PDTs are milliseconds; splices land on segment boundaries
INTERSTITIAL = 'CLASS="com.apple.hls.interstitial"'


@dataclass(frozen=True)
class ExpectedBreak:
    """One origin break: ``start`` is the splice-out PDT (CUE-OUT), ``end`` the return (CUE-IN)."""

    start: datetime
    end: datetime


@dataclass
class _Variant:
    history: History = field(default_factory=lambda: History({}))
    dateranges: DateRanges = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)  # every segment served, by MSN
    last_msn: int | None = None
    broken: bool = False  # after a reload rule broke, later reloads of it are not judged again


@dataclass
class _Interstitial:
    start: datetime
    attributes: dict[str, str]


class ScenarioChecker:
    """Everything one channel served in one mode during a run, judged against the truth."""

    def __init__(
        self,
        mode: str,
        breaks: list[ExpectedBreak],
        *,
        is_ad: Callable[[str], bool],
        stale_bound: float,
        limit: int = 5,
    ) -> None:
        self.mode = mode
        self.breaks = sorted(breaks, key=lambda b: b.start)
        self.is_ad = is_ad
        self.stale_bound = stale_bound
        self.limit = limit  # examples kept per check
        self.found: dict[str, list[str]] = {c: [] for c in CHECKS}
        self.counts: dict[str, int] = dict.fromkeys(CHECKS, 0)
        self.variants: dict[str, _Variant] = {}
        self.interstitials: dict[str, _Interstitial] = {}
        self.asset_lists: dict[str, str] = {}
        self.reloads = 0  # good reloads
        self.attempts = 0  # every reload
        self._judged = False
        self.first: MediaPlaylist | None = None  # the channel's first good playlist
        self.last: MediaPlaylist | None = None

    # -- recording ---------------------------------------------------------------------------
    def fail(self, check: str, message: str) -> None:
        self.counts[check] += 1
        if len(self.found[check]) < self.limit:
            self.found[check].append(message)

    def _cors(self, what: str, status: int, headers: Mapping[str, str]) -> None:
        if headers.get("Access-Control-Allow-Origin") not in ("*",):
            self.fail(
                "errors" if status >= 400 else "cors", f"{what}: HTTP {status} without Access-Control-Allow-Origin"
            )

    def response(
        self, variant: str, at: float, status: int, headers: Mapping[str, str], body: str, origin_age: float
    ) -> MediaPlaylist | None:
        """One reload of ``variant`` at ``at``; ``origin_age``: seconds since the origin last served
        the playlists behind it whole (master and this variant)."""
        self.attempts += 1
        self._cors(f"{variant} at {at:.1f}", status, headers)
        if status != 200:
            if status >= 500 and origin_age < self.stale_bound:
                self.fail(
                    "errors",
                    f"{variant} at {at:.1f}: HTTP {status} while the origin's last good playlist was "
                    f"{origin_age:.1f}s old (< {self.stale_bound:g}s): {body[:160]}",
                )
            elif status < 500:
                self.fail("errors", f"{variant} at {at:.1f}: HTTP {status}: {body[:160]}")
            return None
        state = self.variants.setdefault(variant, _Variant())
        try:
            pl = parse_media(body)
        except PlaylistError as exc:
            self.fail("reload", f"{variant} at {at:.1f}: unparsable: {exc}")
            return None
        self.reloads += 1
        if self.first is None:
            self.first = pl
        if self.last is None or pl.last_msn >= self.last.last_msn:
            self.last = pl
        if not state.broken:
            try:
                check_reload(state.history, pl, variant)
            except InvariantViolation as exc:
                state.broken = True
                self.fail("reload", f"at {at:.1f}: {exc}")
            if state.last_msn is not None and pl.last_msn < state.last_msn:
                self.fail(
                    "reload", f"{variant} at {at:.1f}: the playlist ends at MSN {pl.last_msn}, before {state.last_msn}"
                )
        state.last_msn = max(pl.last_msn, state.last_msn or pl.last_msn)
        try:
            check_dateranges(state.dateranges, pl, variant)
        except InvariantViolation as exc:
            self.fail("daterange", f"at {at:.1f}: {exc}")
        for seg in pl.segments:
            state.segments.setdefault(seg.msn, seg)
        for tag in (t for s in pl.segments for t in s.tags):
            self._interstitial(tag)
        for tag in pl.trailer_tags:
            self._interstitial(tag)
        return pl

    def _interstitial(self, tag: str) -> None:
        if not tag.startswith("#EXT-X-DATERANGE:") or INTERSTITIAL not in tag:
            return
        attrs = parse_attributes(tag.partition(":")[2])
        ident, start = attrs.get("ID"), attrs.get("START-DATE")
        if ident is None or start is None:
            self.fail("daterange", f"interstitial without ID or START-DATE: {tag}")
            return
        known = self.interstitials.get(ident)
        if known is None:
            self.interstitials[ident] = _Interstitial(parse_pdt(start), dict(attrs))
        else:
            known.attributes.update(attrs)

    def pair(self, a: tuple[str, MediaPlaylist | None], b: tuple[str, MediaPlaylist | None]) -> None:
        """Two variants reloaded together."""
        if a[1] is None or b[1] is None:
            return
        try:
            check_aligned(a[1], b[1], (a[0], b[0]))
        except InvariantViolation as exc:
            self.fail("aligned", str(exc))

    def asset(self, what: str, status: int, headers: Mapping[str, str], problem: str = "") -> None:
        """One asset-list / asset-playlist fetch for an interstitial in a served window."""
        self._cors(what, status, headers)
        if status != 200:
            self.fail("assets", f"{what}: HTTP {status}")
        elif problem:
            self.fail("assets", f"{what}: {problem}")

    def asset_list_body(self, ident: str, body: str) -> None:
        before = self.asset_lists.setdefault(ident, body)
        if before != body:
            self.fail("assets", f"asset list of {ident} changed: {before} -> {body}")

    # -- the run -----------------------------------------------------------------------------
    def violations(self) -> dict[str, list[str]]:
        """Examples of every broken rule, by check (empty lists: the check passed)."""
        if not self._judged and self.first is not None and self.last is not None:
            self._judged = True
            if self.mode == "ssai":
                self._pods()
            else:
                self._interstitials()
        return {check: list(found) for check, found in self.found.items()}

    def _edges(self) -> tuple[datetime, datetime, datetime, float]:
        """(first window start, first live edge, last live edge, target) of the run."""
        assert self.first is not None and self.last is not None
        first_start = self.first.segments[0].pdt
        first_edge = _edge(self.first)
        last_edge = _edge(self.last)
        assert first_start is not None and first_edge is not None and last_edge is not None
        return first_start, first_edge, last_edge, float(self.first.target_duration)

    def _relevant(self) -> list[tuple[ExpectedBreak, datetime]]:
        """Breaks the run saw, each with its deadline for the first ad: the splice-out plus a
        target duration, or for a break already under way (its splice-out more than two target
        durations behind the first live edge) a target duration after that live edge."""
        first_start, first_edge, last_edge, target = self._edges()
        out: list[tuple[ExpectedBreak, datetime]] = []
        for brk in self.breaks:
            if brk.end <= first_start or brk.start > last_edge - timedelta(seconds=target):
                continue
            joined = brk.start < first_edge - timedelta(seconds=2 * target)
            if joined and brk.end <= first_edge + timedelta(seconds=target):
                continue  # nearly over when first played: nothing left to replace
            deadline = (first_edge if joined else brk.start) + timedelta(seconds=target + TOLERANCE)
            out.append((brk, deadline))
        return out

    def _pods(self) -> None:
        _, _, last_edge, target = self._edges()
        for name, state in self.variants.items():
            segments = [state.segments[k] for k in sorted(state.segments)]
            for brk, deadline in self._relevant():
                inside = [s for s in segments if s.pdt is not None and brk.start - _tol() <= s.pdt < brk.end - _tol()]
                ads = [s for s in inside if self.is_ad(s.uri)]
                if not ads:
                    self.fail(
                        "pod", f"{name}: no ads for the break at {_t(brk.start)} ({len(inside)} content segments)"
                    )
                    continue
                first_ad = ads[0]
                assert first_ad.pdt is not None and deadline is not None
                if first_ad.pdt > deadline:
                    self.fail(
                        "pod",
                        f"{name}: the break at {_t(brk.start)} starts its ads at {_t(first_ad.pdt)}, "
                        f"later than {_t(deadline)}",
                    )
                leaked = [s for s in inside if not self.is_ad(s.uri) and s.pdt is not None and s.pdt > first_ad.pdt]
                if leaked:
                    self.fail("pod", f"{name}: content {leaked[0].uri} inside the break at {_t(brk.start)}")
                if brk.end > last_edge - timedelta(seconds=target):
                    continue  # its return is not published yet
                after = next((s for s in segments if s.pdt is not None and s.pdt >= brk.end - _tol()), None)
                back_to_back = any(abs((b.start - brk.end).total_seconds()) < TOLERANCE for b in self.breaks)
                if after is None or after.pdt is None:
                    self.fail("pod", f"{name}: nothing served after the break at {_t(brk.start)}")
                elif abs((after.pdt - brk.end).total_seconds()) > TOLERANCE:
                    self.fail(
                        "pod",
                        f"{name}: after the break at {_t(brk.start)} play resumes at {_t(after.pdt)}, "
                        f"not {_t(brk.end)}",
                    )
                elif self.is_ad(after.uri) != back_to_back or not after.discontinuity:
                    what = "the next break's ads" if back_to_back else "content"
                    self.fail(
                        "pod", f"{name}: {after.uri} at the return {_t(brk.end)}, expected {what} after a DISCONTINUITY"
                    )

    def _interstitials(self) -> None:
        _, _, last_edge, target = self._edges()
        for brk, deadline in self._relevant():
            assert deadline is not None
            found = [(k, v) for k, v in self.interstitials.items() if brk.start - _tol() <= v.start < brk.end - _tol()]
            if not found:
                self.fail("pod", f"no interstitial for the break at {_t(brk.start)}")
                continue
            ident, inter = found[0]
            if inter.start > deadline:
                self.fail("pod", f"interstitial {ident} starts at {_t(inter.start)}, later than {_t(deadline)}")
            if brk.end > last_edge - timedelta(seconds=target):
                continue
            duration = inter.attributes.get("DURATION")
            if duration is None:
                self.fail("pod", f"interstitial {ident}: no DURATION although the return {_t(brk.end)} is published")
                continue
            end = inter.start + timedelta(seconds=float(duration))
            if abs((end - brk.end).total_seconds()) > TOLERANCE:
                self.fail("pod", f"interstitial {ident} ends at {_t(end)}, not at the return {_t(brk.end)}")


def _edge(pl: MediaPlaylist) -> datetime | None:
    last = pl.segments[-1] if pl.segments else None
    return None if last is None or last.pdt is None else last.pdt + timedelta(seconds=last.duration)


def _tol() -> timedelta:
    return timedelta(seconds=TOLERANCE)


def _t(when: datetime) -> str:
    return when.strftime("%H:%M:%S.%f")[:-3]
