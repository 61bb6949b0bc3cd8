"""The manifest path: origin window → break triggers → splice → bytes, cached.

Per request the work is: config lookup (cache), actor lookup (memory), origin playlist (shared
micro-cache), and then, only when the origin window or the channel's break state changed, one
parse + splice + write. Everything else is served from the render cache as bytes.

Breaks start from SCTE-35 cues (when the channel auto-inserts), the channel's schedule, or the
cue API. Whoever sees a new break first decides its fill and persists it through the channel
actor before rendering, so no viewer ever sees a media sequence number change meaning.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import aiohttp

from sidecar.actors.channel import ChannelActor
from sidecar.actors.runtime import ActorRuntime
from sidecar.actors.state import AdBreak, BreakActive, ChannelState, media_length, start_break, update_break
from sidecar.ads.beacons import BeaconQueue
from sidecar.config.models import AdPod, ChannelConfig
from sidecar.hls.cues import BreakSignal, breaks_in_window
from sidecar.hls.model import MediaPlaylist
from sidecar.hls.parse import PlaylistError, cut_to_complete, parse_master, parse_media
from sidecar.hls.splice import SpliceError, TimelineBase, render_sgai, render_ssai
from sidecar.hls.write import render_media
from sidecar.stitch import assets
from sidecar.stitch.fill import decide
from sidecar.stitch.origin import Fetched, OriginClient, OriginError
from sidecar.stitch.plans import observation_changes, to_plan
from sidecar.stitch.tracking import error_beacons, sgai_beacons, ssai_beacons
from sidecar.stitch.variants import VariantMap, rewrite, variant_map
from sidecar.telemetry import catalogue as m
from sidecar.telemetry import tracing
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.stitch")

MASTER_TTL = 10.0
MEDIA_TTL = 0.5
FRESH_CUE_SEGMENTS = 2  # a cue more than this many segments behind the live edge is history
TRUNCATED_FALLBACK = 10.0  # seconds a complete window may stand in for a cut one (never longer)
SCHEDULE_LOOKAHEAD = 12.0  # create scheduled breaks this far ahead of the live edge (SGAI look-ahead)


class NotFoundError(Exception):
    pass


@dataclass(frozen=True)
class Window:
    """One parsed origin window with every URI made absolute (we serve from another path)."""

    playlist: MediaPlaylist
    digest: str


def _absolute(pl: MediaPlaylist, base: str) -> MediaPlaylist:
    import re

    attr = re.compile(r'URI="([^"]*)"')

    def fix_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(attr.sub(lambda mt: f'URI="{urljoin(base, mt.group(1))}"', t) if 'URI="' in t else t for t in tags)

    segments = tuple(replace(s, uri=urljoin(base, s.uri), tags=fix_tags(s.tags)) for s in pl.segments)
    return replace(pl, segments=segments, header_tags=fix_tags(pl.header_tags))


def join_point(
    pl: MediaPlaylist, signal: BreakSignal, fresh_after: datetime, default_duration: float
) -> tuple[float, float] | None:
    """Where to join a break already under way, as (start PDT, seconds left), or None.

    The channel meets a break whose splice-out is history (more than FRESH_CUE_SEGMENTS behind
    the live edge: viewers may have had those segments as content), for example when it is first
    played mid-break. The rest of it is still a break: it is spliced from the first segment
    boundary that is fresh, to the signalled end (or the CUE-IN once seen). Nothing is left to
    join when less than a target duration remains."""
    end = signal.end or signal.start + timedelta(seconds=signal.duration or default_duration)
    for i, seg in enumerate(pl.segments):
        if seg.pdt is None or seg.pdt < fresh_after or i == 0:
            continue
        left = (end - seg.pdt).total_seconds()
        if left < pl.target_duration:
            return None
        return seg.pdt.timestamp(), left
    return None


def _inside_a_break(state: ChannelState, pdt: float) -> bool:
    return any(
        b.start_pdt is not None and b.start_pdt - 0.25 <= pdt < b.start_pdt + media_length(b) - 0.25
        for b in state.breaks()
    )


def _updater(break_id: str, changes: dict[str, Any]) -> Callable[[ChannelState, float], ChannelState | None]:
    def transition(state: ChannelState, now: float) -> ChannelState | None:
        return update_break(state, break_id, changes)

    return transition


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class Stitcher:
    def __init__(
        self,
        actors: ActorRuntime,
        session: aiohttp.ClientSession,
        *,
        origin_timeout: float = 3.0,
        origin_ttl: float = MEDIA_TTL,
        list_pods: Callable[[str], Awaitable[list[AdPod]]] | None = None,
        beacons: BeaconQueue | None = None,
        beacon_delay: float = 10.0,
    ) -> None:
        self.actors = actors
        self.beacons = beacons
        self.beacon_delay = beacon_delay
        self._scheduled: _LRU = _LRU(100_000)  # beacon keys this process already handed to the queue
        self.session = session
        self.list_pods = list_pods
        self.origin = OriginClient(session, ttl=origin_ttl, timeout=origin_timeout)
        self._windows: _LRU = _LRU(512)
        self._latest: _LRU = _LRU(512)  # newest complete window per media playlist URL, and when
        self._masters: _LRU = _LRU(256)  # last complete master per URL (its _variants key)
        self._renders: _LRU = _LRU(4096)
        self._variants: _LRU = _LRU(1024)
        self._fast: _LRU = _LRU(4096)
        self._creating: dict[tuple[str, str], asyncio.Future[None]] = {}

    # --- origin ---------------------------------------------------------------------------------
    async def variants(self, config: ChannelConfig) -> tuple[VariantMap, Fetched]:
        fetched = await self.origin.get(config.origin_url, ttl=MASTER_TTL)
        key = (config.origin_url, fetched.digest)
        cached = self._variants.get(key)
        if cached is None:
            if not fetched.text.endswith("\n"):
                # Cut mid-line: its last variant URI may be cut too. Keep the last complete master.
                previous = self._masters.get(config.origin_url)
                if previous is not None and previous in self._variants:
                    m.origin_truncated_total.labels("master", "previous").inc()
                    return self._variants[previous][1], fetched
                m.origin_truncated_total.labels("master", "rejected").inc()
                raise OriginError("invalid", "origin master playlist was cut mid-line")
            try:
                master = parse_master(fetched.text)
            except PlaylistError as exc:
                raise OriginError("invalid", f"origin master playlist is not valid HLS ({exc.reason})") from None
            cached = (master, variant_map(master, config.origin_url))
            self._variants.put(key, cached)
            self._masters.put(config.origin_url, key)
        return cached[1], fetched

    async def window(self, url: str) -> Window:
        fetched = await self.origin.get(url)
        # Keyed by URL too: two streams of one origin can have byte-identical playlists (relative
        # segment URIs) that resolve to different segments.
        cached = self._windows.get((url, fetched.digest))
        if cached is None:
            text, cut = cut_to_complete(fetched.text)
            latest = self._latest.get(url)
            # The newest complete window, if recent enough to stand in for a cut one.
            previous: Window | None = (
                latest[0] if latest is not None and time.monotonic() - latest[1] < TRUNCATED_FALLBACK else None
            )
            try:
                parsed = parse_media(text)
            except PlaylistError as exc:
                if cut and previous is not None:  # cut before its first complete segment
                    m.origin_truncated_total.labels("media", "previous").inc()
                    return previous
                raise OriginError("invalid", f"origin media playlist is not valid HLS ({exc.reason})") from None
            if cut and previous is not None and previous.playlist.last_msn > parsed.last_msn:
                # Cut further back than what viewers already have: a playlist may only grow at the end.
                m.origin_truncated_total.labels("media", "previous").inc()
                return previous
            if cut:
                m.origin_truncated_total.labels("media", "cut").inc()
            for cue in parsed.cues:  # counted once per origin update, not per viewer
                m.scte35_cues_total.labels(cue.dialect, cue.kind, "true" if cue.valid else "false").inc()
            cached = Window(_absolute(parsed, url), fetched.digest)
            self._windows.put((url, fetched.digest), cached)
            if previous is None or cached.playlist.last_msn >= previous.playlist.last_msn:
                self._latest.put(url, (cached, time.monotonic()))
        return cached

    # --- master ----------------------------------------------------------------------------------
    async def master(self, config: ChannelConfig, mode: str | None) -> str:
        variants, fetched = await self.variants(config)
        key = ("master", config.origin_url, fetched.digest, mode)
        cached = self._renders.get(key)
        if cached is None:
            master, _ = self._variants[(config.origin_url, fetched.digest)]
            cached = rewrite(master, config.origin_url, variants, f"?mode={mode}" if mode else "")
            self._renders.put(key, cached)
        return str(cached)

    # --- media ----------------------------------------------------------------------------------
    async def media(self, config: ChannelConfig, actor: ChannelActor, name: str, mode: str) -> tuple[bytes, str]:
        """(playlist bytes, mode actually used).

        Fast path: while the origin playlist we last rendered is still the shared fetch, and
        neither the channel's config nor its break state moved, the answer is the same bytes.
        """
        hit = self.peek(config, actor, name, mode)
        if hit is not None:
            return hit
        fast_key = (config.id, name, mode)
        body, used, url, digest = await self._media(config, actor, name, mode)
        self._fast.put(fast_key, (url, digest, config.version, actor.version, body, used))
        return body, used

    def peek(self, config: ChannelConfig, actor: ChannelActor, name: str, mode: str) -> tuple[bytes, str] | None:
        """The bytes last rendered for this request, if nothing they depend on has moved: the
        shared origin fetch is still the one rendered, and config and break state are unchanged."""
        hit = self._fast.get((config.id, name, mode))
        if hit is None:
            return None
        url, digest, config_version, actor_version, body, used = hit
        fetched = self.origin.fresh(url)
        if (
            fetched is None
            or fetched.digest != digest
            or config_version != config.version
            or actor_version != actor.version
        ):
            return None
        return body, used

    async def _media(
        self, config: ChannelConfig, actor: ChannelActor, name: str, mode: str
    ) -> tuple[bytes, str, str, str]:
        variants, _ = await self.variants(config)
        rendition = variants.by_name.get(name)
        if rendition is None:
            raise NotFoundError(f"no rendition {name!r} in the channel's master playlist")
        window = await self.window(rendition.url)
        if config.status == "active" and actor.triggers_seen != (window.digest, actor.version, config.version):
            await self._triggers(config, actor, window.playlist)
            # Triggers depend only on the window, the channel state and its config.
            actor.triggers_seen = (window.digest, actor.version, config.version)
        if config.status != "active" or not actor.state.breaks():
            mode = "passthrough"
        key = (rendition.url, window.digest, actor.version, mode, rendition.bandwidth)
        cached = self._renders.get(key)
        if cached is not None:
            return cached, mode, rendition.url, window.digest
        started = time.perf_counter()
        with tracing.span("playlist.render"):
            body = (await self._render(config, actor, window.playlist, rendition.bandwidth, mode)).encode()
        m.playlist_render_seconds.labels(mode).observe(time.perf_counter() - started)
        self._renders.put((rendition.url, window.digest, actor.version, mode, rendition.bandwidth), body)
        return body, mode, rendition.url, window.digest

    async def _render(
        self, config: ChannelConfig, actor: ChannelActor, pl: MediaPlaylist, bandwidth: int, mode: str
    ) -> str:
        if mode == "passthrough":
            return render_media(pl)
        state = actor.state
        restrict, snap = config.interstitial_restrict, config.interstitial_snap
        plans = [
            p
            for b in state.breaks()
            if (p := to_plan(b, asset_list=f"assets.json?break={b.id}", restrict=restrict, snap=snap))
        ]
        if mode == "sgai":
            return render_media(render_sgai(pl, plans))
        try:
            # The origin's target duration, constant like the origin's: ads and slate whose
            # segments would not fit it are not chosen (see decide), so it never has to grow.
            rendered = render_ssai(
                pl,
                plans,
                bandwidth=bandwidth,
                target_duration=pl.target_duration,
                base=TimelineBase(state.base_msn, state.base_dsn),
            )
        except SpliceError as exc:
            m.playlist_validation_failures_total.labels("msn").inc()
            raise OriginError("splice", f"could not splice this window: {exc}") from None
        for obs in rendered.observations:
            # Persist before serving: once these segments slide out nobody could recompute them.
            await actor.mutate(_updater(obs.break_id, observation_changes(obs)))
        await self._schedule_exposed(config, actor, rendered.exposed)
        return render_media(rendered.playlist)

    async def _schedule_exposed(
        self, config: ChannelConfig, actor: ChannelActor, exposed: tuple[tuple[str, int], ...]
    ) -> None:
        """Beacons of the ad segments this playlist exposes (once per key, whatever re-renders)."""
        if self.beacons is None or not exposed:
            return
        by_break: dict[str, list[int]] = {}
        for break_id, j in exposed:
            by_break.setdefault(break_id, []).append(j)
        due = []
        for brk in actor.state.breaks():
            if brk.id in by_break:
                for beacon in ssai_beacons(
                    brk, by_break[brk.id], org=config.org_slug, channel=config.slug, delay=self.beacon_delay
                ):
                    if beacon.key not in self._scheduled:
                        due.append(beacon)
        if due:
            await self.beacons.schedule(due)
            for beacon in due:
                self._scheduled.put(beacon.key, True)

    # --- triggers: cues and schedule ------------------------------------------------------------------
    async def _triggers(self, config: ChannelConfig, actor: ChannelActor, pl: MediaPlaylist) -> None:
        segs = [s for s in pl.segments if s.pdt is not None]
        if not segs:
            return
        last = segs[-1]
        assert last.pdt is not None
        live_edge = last.pdt + timedelta(seconds=last.duration)
        fresh_after = last.pdt - timedelta(seconds=FRESH_CUE_SEGMENTS * pl.target_duration)
        if config.scte35_enabled and config.scte35_auto_insert:
            for cue in pl.cues:
                if cue.kind == "out" and cue.pdt is not None and cue.event_id:
                    if actor.state.knows_event(cue.event_id) or cue.pdt < fresh_after:
                        continue
                    duration = cue.duration or float(config.default_ad_duration_seconds)
                    await self._create_quietly(config, actor, "scte35", cue.event_id, cue.pdt.timestamp(), duration)
                elif cue.kind == "in" and cue.pdt is not None:
                    await self._shorten(actor, cue.pdt.timestamp())
            for signal in breaks_in_window(pl):
                if signal.start >= fresh_after or actor.state.knows_event(signal.event_id):
                    continue  # fresh (the cue itself starts it) or already running
                joined = join_point(pl, signal, fresh_after, float(config.default_ad_duration_seconds))
                if joined is not None and not _inside_a_break(actor.state, joined[0]):
                    await self._create_quietly(config, actor, "scte35", signal.event_id, *joined)
        if config.schedule_enabled:
            interval = config.schedule_interval_minutes * 60
            first_k = math.ceil(last.pdt.timestamp() / interval)
            last_k = math.floor((live_edge.timestamp() + SCHEDULE_LOOKAHEAD) / interval)
            for k in range(first_k, last_k + 1):
                event = f"sched:{k}"
                if not actor.state.knows_event(event):
                    await self._create_quietly(
                        config, actor, "schedule", event, float(k * interval), float(config.schedule_break_seconds)
                    )

    async def _create_quietly(
        self, config: ChannelConfig, actor: ChannelActor, source: str, event_id: str, start_pdt: float, duration: float
    ) -> None:
        try:
            await self.create_break(
                config, actor, source=source, event_id=event_id, start_pdt=start_pdt, duration=duration
            )
        except BreakActive as exc:
            # Remember nothing: if the running break ends early the cue may still apply later.
            log_event(
                log,
                "break_overlap",
                f"Cue {event_id} overlaps running break {exc.current.id}; ignored",
                level=logging.WARNING,
                channel=config.slug,
                org=config.org_slug,
            )

    async def _shorten(self, actor: ChannelActor, in_pdt: float) -> None:
        """A CUE-IN ends the running SCTE-35 break early (never later, never once numbered)."""
        current = actor.state.current
        if current is None or current.source != "scte35" or current.start_pdt is None or current.final:
            return
        new_duration = in_pdt - current.start_pdt
        if 0 < new_duration < current.duration_seconds - 0.25:
            await actor.mutate(_updater(current.id, {"duration_seconds": new_duration}))

    async def create_break(
        self,
        config: ChannelConfig,
        actor: ChannelActor,
        *,
        source: str,
        event_id: str,
        start_pdt: float,
        duration: float,
        pod: AdPod | None = None,
    ) -> tuple[AdBreak | None, bool]:
        """Decide the fill, then persist the break (idempotent per event id). One flight per event."""
        key = (config.id, event_id)
        flight = self._creating.get(key)
        if flight is not None:
            await asyncio.shield(flight)
            return actor.state.current, False
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._creating[key] = future
        try:
            with tracing.span("ad.decision") as span:
                pods = await self.list_pods(config.org_id) if self.list_pods and config.vast_enabled else []
                fill = await decide(
                    self.origin,
                    config,
                    duration,
                    pod,
                    session=self.session,
                    pods=pods,
                    max_segment=await self._target_duration(config),
                )
                if span is not None:
                    span.set_attributes({"sidecar.fill.source": fill.source, "sidecar.fill.reason": fill.reason})
            # Derived from the break, never from its position: the same cue gives the same ID
            # (and interstitial ID) in every process.
            break_id = "brk_" + hashlib.blake2b(f"{config.id}|{event_id}".encode(), digest_size=6).hexdigest()

            def transition(state: ChannelState, now: float) -> ChannelState | None:
                return start_break(
                    state,
                    now=now,
                    duration=duration,
                    source=source,  # type: ignore[arg-type]
                    event_id=event_id,
                    pod_id=pod.id if pod else None,
                    start_pdt=start_pdt,
                    items=fill.items,
                    assets=fill.assets,
                    ads=fill.ads,
                    fill_source=fill.source,
                    fill_reason=fill.reason,
                    break_id=break_id,
                )

            stored, changed = await actor.mutate(transition)
            if changed and fill.error_pings and self.beacons is not None:
                await self.beacons.schedule(
                    error_beacons(break_id, fill.error_pings, now=time.time(), org=config.org_slug, channel=config.slug)
                )
            if changed:
                m.ad_breaks_started_total.labels(config.org_slug, config.slug, source).inc()
                m.break_seconds_total.labels(config.org_slug, config.slug).inc(duration)
                m.avail_seconds_total.labels(config.org_slug, config.slug).inc(duration)
                m.ad_stitched_seconds_total.labels(config.org_slug, config.slug).inc(fill.ad_seconds)
                m.avail_filled_seconds_total.labels(config.org_slug, config.slug).inc(fill.ad_seconds)
                m.slate_seconds_total.labels(config.org_slug, config.slug).inc(fill.slate_seconds)
                start = datetime.fromtimestamp(start_pdt, UTC).isoformat()
                log_event(
                    log,
                    "break_started",
                    f"Ad break started: source={source}, event={event_id}, "
                    f"start={start}, duration={duration:g}s, fill={fill.source}",
                    channel=config.slug,
                    org=config.org_slug,
                    source=source,
                    fill=fill.source,
                )
            return stored.state.current, changed
        finally:
            future.set_result(None)
            del self._creating[key]

    async def _target_duration(self, config: ChannelConfig) -> int | None:
        """The origin's target duration (what the channel's playlists keep), None if unknown."""
        try:
            variants, _ = await self.variants(config)
            return (await self.window(variants.reference.url)).playlist.target_duration
        except (OriginError, ValueError):
            return None

    async def live_edge(self, config: ChannelConfig) -> float | None:
        """Media time at the end of the reference rendition's window: where a cue given now splices."""
        try:
            variants, _ = await self.variants(config)
            window = await self.window(variants.reference.url)
        except (OriginError, ValueError):
            return None
        segs = [s for s in window.playlist.segments if s.pdt is not None]
        if not segs:
            return None
        last = segs[-1]
        return last.pdt.timestamp() + last.duration  # type: ignore[union-attr]

    # --- SGAI asset lists ----------------------------------------------------------------------------
    async def asset_list(
        self, config: ChannelConfig, actor: ChannelActor, break_id: str, base: str, session: str
    ) -> dict[str, Any]:
        """The interstitial's assets; a player asking for them is one viewing (its beacons)."""
        for brk in actor.state.breaks():
            if brk.id == break_id:
                if self.beacons is not None:
                    await self.beacons.schedule(
                        sgai_beacons(brk, session, now=time.time(), org=config.org_slug, channel=config.slug)
                    )
                return assets.asset_list(brk, base)
        raise NotFoundError(f"no break {break_id!r} on this channel")

    def asset_master(self, actor: ChannelActor, break_id: str, index: int) -> str:
        for brk in actor.state.breaks():
            if brk.id == break_id and (text := assets.asset_master(brk, index)) is not None:
                return text
        raise NotFoundError(f"no asset {index} in break {break_id!r}")

    def asset_media(self, actor: ChannelActor, break_id: str, index: int, bandwidth: int) -> str:
        for brk in actor.state.breaks():
            if brk.id == break_id and (text := assets.asset_media(brk, index, bandwidth)) is not None:
                return text
        raise NotFoundError(f"no playlist {index}/{bandwidth} in break {break_id!r}")
