"""Manifest validity: reload each channel's variant playlists as a player does, and judge them.

For every (target, channel, mode) a watcher reads the master playlist, then reloads every
variant it lists once per target duration. Each reload is one check: it must fetch (200),
parse, by ``m3u8`` and by ``sidecar.hls.parse`` alike (``sidecar.probe.independent``: the two must
agree, and the invariants run on ``m3u8``'s reading), keep the reload invariants of
``sidecar.probe.invariants.check_reload`` against the previous reloads of that variant, have
balanced ad markers (``check_markers``), and never change an attribute of a DATERANGE ID
(``check_dateranges``: an SGAI interstitial that changes is dropped by players). A check counts
``ssai_probe_manifest_checks_total{channel, result}`` once, and a failed one also
``ssai_probe_manifest_failures_total{channel, reason}`` with the first rule it broke.

After a failure the variant's history starts again from the next good reload (as a player that
rejoins would), so one incident is counted once rather than on every later reload. The same
happens when the probe itself reloaded too late to have seen every segment (the window slid
further than it holds): that is the probe's problem, not the service's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp

from sidecar.hls.attributes import parse_attributes
from sidecar.hls.model import MediaPlaylist
from sidecar.hls.parse import PlaylistError, parse_master, parse_media
from sidecar.probe.config import ProbeConfig, Target
from sidecar.probe.independent import ParsersDisagree, compare, read_media
from sidecar.probe.invariants import (
    REASONS,
    DateRanges,
    History,
    InvariantViolation,
    Reason,
    check_dateranges,
    check_markers,
    check_reload,
)
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.probe.validity")
#: Lists the ``(org, slug)`` pairs to watch when none are configured.
ChannelLister = Callable[[], Awaitable[list[tuple[str, str]]]]
MIN_RELOAD_SECONDS = 0.2


class CheckFailed(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def channel_label(org: str, slug: str) -> str:
    """The ``channel`` label: ``org/slug`` (slugs are unique only within an organization)."""
    return f"{org}/{slug}"


def init_labels(label: str) -> None:
    """Export zeros for a channel, so rates and increases work from the first scrape."""
    for result in ("ok", "failed"):
        m.probe_manifest_checks_total.labels(label, result)
    for reason in REASONS:
        m.probe_manifest_failures_total.labels(label, reason)


def record(label: str, reason: Reason | None) -> None:
    m.probe_manifest_checks_total.labels(label, "ok" if reason is None else "failed").inc()
    if reason is not None:
        m.probe_manifest_failures_total.labels(label, reason).inc()


async def fetch_text(http: aiohttp.ClientSession, url: str) -> str:
    try:
        async with http.get(url) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise CheckFailed("fetch", f"HTTP {resp.status} for {url}: {body[:200]}")
            return body
    except (aiohttp.ClientError, TimeoutError, OSError, UnicodeDecodeError) as exc:
        raise CheckFailed("fetch", f"{url}: {type(exc).__name__}: {exc}") from None


def _daterange_tags(pl: MediaPlaylist) -> list[str]:
    tags = [t for seg in pl.segments for t in seg.tags] + list(pl.trailer_tags)
    return [t for t in tags if t.startswith("#EXT-X-DATERANGE:")]


@dataclass
class VariantState:
    """What the probe remembers about one variant URL between reloads."""

    url: str
    history: History = field(default_factory=lambda: History({}))
    last_ok: float | None = None
    dateranges: DateRanges = field(default_factory=dict)

    def reset(self) -> None:
        self.history = History({})
        self.last_ok = None
        self.dateranges = {}

    def window_seconds(self) -> float:
        last = self.history.last
        return sum(s.duration for s in last.segments) if last is not None else 0.0

    def judge(self, text: str, now: float) -> MediaPlaylist:
        """Parse and check one reload; raises CheckFailed with the first rule broken."""
        try:
            pl = parse_media(text)
            independent = read_media(text)
            compare(pl, independent)
        except ParsersDisagree as exc:
            raise CheckFailed("parse", f"{self.url}: the parsers disagree: {exc}") from None
        except (PlaylistError, ValueError) as exc:
            raise CheckFailed("parse", f"{self.url}: {exc}") from None
        if self.last_ok is not None and self.history.last is not None:
            # Reloaded later than the window lasts (minus one segment): segments may have slid by
            # unseen through no fault of the service.
            late = now - self.last_ok > max(self.window_seconds() - self.history.last.target_duration, 0.0)
            if late:
                log_event(
                    log,
                    "probe_reload_late",
                    f"Reloaded {self.url} too late to check continuity; starting its history again",
                    level=logging.WARNING,
                    url=self.url,
                )
                self.reset()
        try:
            check_reload(self.history, independent, self.url)
            self.history.forget_before(pl.media_sequence)
            check_markers(pl, self.url)
            check_dateranges(self.dateranges, pl, self.url)
            current = {parse_attributes(t.partition(":")[2]).get("ID") for t in _daterange_tags(pl)}
            self.dateranges = {k: v for k, v in self.dateranges.items() if k in current}
        except InvariantViolation as exc:
            raise CheckFailed(exc.reason, str(exc)) from None
        self.last_ok = now
        return pl


class ChannelWatcher:
    """One channel, one mode, on one target: discover variants, reload them, count checks."""

    def __init__(
        self, config: ProbeConfig, http: aiohttp.ClientSession, target: Target, org: str, slug: str, mode: str
    ) -> None:
        self.config = config
        self.http = http
        self.target = target
        self.label = channel_label(org, slug)
        self.master_url = f"{target.url}/{org}/{slug}/master.m3u8?mode={mode}"
        self.variants: dict[str, VariantState] = {}
        self.discovered_at = -1e18
        init_labels(self.label)

    async def discover(self) -> None:
        text = await fetch_text(self.http, self.master_url)
        try:
            master = parse_master(text)
        except PlaylistError as exc:
            raise CheckFailed("parse", f"{self.master_url}: {exc}") from None
        if not master.variants:
            raise CheckFailed("parse", f"{self.master_url}: no variants")
        urls = [urljoin(self.master_url, v.uri) for v in master.variants]
        self.variants = {u: self.variants.get(u) or VariantState(u) for u in urls}
        self.discovered_at = time.monotonic()

    async def _check_variant(self, state: VariantState) -> float | None:
        """One reload of one variant; returns its target duration when it parsed."""
        reason: Reason | None = None
        target_duration: float | None = None
        try:
            text = await fetch_text(self.http, state.url)
            pl = state.judge(text, time.monotonic())
            target_duration = pl.target_duration
        except CheckFailed as exc:
            reason = exc.reason
            state.reset()
            log_event(
                log,
                "probe_manifest_invalid",
                f"Invalid manifest on {self.label} via {self.target.name}: {exc}",
                level=logging.WARNING,
                channel=self.label,
                target=self.target.name,
                reason=reason,
                url=state.url,
            )
        record(self.label, reason)
        return target_duration

    async def run_once(self) -> float:
        """Reload every variant once; returns seconds until the next reload."""
        fallback = self.config.validity_interval or 2.0
        if not self.variants or time.monotonic() - self.discovered_at > self.config.discover_every:
            try:
                await self.discover()
            except CheckFailed as exc:
                record(self.label, exc.reason)
                log_event(
                    log,
                    "probe_manifest_invalid",
                    f"Invalid master playlist on {self.label} via {self.target.name}: {exc}",
                    level=logging.WARNING,
                    channel=self.label,
                    target=self.target.name,
                    reason=exc.reason,
                    url=self.master_url,
                )
                self.variants = {}
                return fallback
        durations = await asyncio.gather(*(self._check_variant(s) for s in self.variants.values()))
        if any(d is None for d in durations):
            self.discovered_at = -1e18  # a variant failed: read the master again next time
        if self.config.validity_interval is not None:
            return self.config.validity_interval
        known = [d for d in durations if d is not None]
        return max(min(known), MIN_RELOAD_SECONDS) if known else fallback

    async def run_forever(self) -> None:
        while True:
            began = time.monotonic()
            try:
                delay = await self.run_once()
            except Exception:  # a bug here must not silently stop watching the channel
                log.exception("validity check crashed", extra={"event": "probe_error", "channel": self.label})
                delay = self.config.validity_interval or 2.0
            await asyncio.sleep(max(0.0, delay - (time.monotonic() - began)))


class Validity:
    """Keeps one watcher per (target, channel, mode) running; re-reads the channel list."""

    def __init__(self, config: ProbeConfig, http: aiohttp.ClientSession, list_channels: ChannelLister) -> None:
        self.config = config
        self.http = http
        self.list_channels = list_channels
        self.tasks: dict[tuple[str, str, str, str], asyncio.Task[None]] = {}

    async def refresh(self) -> None:
        try:
            channels = list(self.config.channels) or await self.list_channels()
        except Exception as exc:
            log_event(log, "probe_discovery_failed", f"Cannot list channels: {exc}", level=logging.ERROR)
            return
        wanted = {
            (t.name, org, slug, mode): (t, org, slug, mode)
            for t in self.config.targets
            for org, slug in channels
            for mode in self.config.modes
        }
        for key in [k for k in self.tasks if k not in wanted]:
            self.tasks.pop(key).cancel()
        for key, (target, org, slug, mode) in wanted.items():
            if key not in self.tasks or self.tasks[key].done():
                watcher = ChannelWatcher(self.config, self.http, target, org, slug, mode)
                self.tasks[key] = asyncio.create_task(watcher.run_forever(), name=f"validity:{'/'.join(key)}")

    async def run_forever(self) -> None:
        try:
            while True:
                await self.refresh()
                await asyncio.sleep(self.config.discover_every)
        finally:
            for task in self.tasks.values():
                task.cancel()
            for task in self.tasks.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
