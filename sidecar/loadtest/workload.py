"""The load itself: simulated viewers, and the operator actions that run meanwhile.

A viewer behaves like a live HLS player: it reads the master playlist once, picks a variant,
and reloads that variant once per target duration (each interval jittered, the first at a random
phase, so reloads spread out as real players' do) until it leaves, tallying the ads it is served.
Viewers join and leave to follow the load profile (k6-style stages: ramp-up, soak, ramp-down). A
viewer never abandons a request in flight (the run waits for the last answers), so every request
the service counted is also in the samples and the two counts can be compared exactly.

Actions run on their own schedules beside the viewers: ad breaks through the cue API, config
updates through the admin API, and restarts (a command, or SIGKILL of one ``sidecar serve``
worker, which its supervisor restarts): the disturbances the seed's KPIs are about.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from sidecar.loadtest.config import LoadConfig, viewers_at
from sidecar.loadtest.outcomes import AdOutcome
from sidecar.loadtest.samples import Event, Sample
from sidecar.probe.admin import AdminClient, AdminError

TARGET_DURATION = re.compile(r"^#EXT-X-TARGETDURATION:(\d+)", re.MULTILINE)
# The service's errors are RFC 9457 problems: keep the type (origin-timeout, persist-failed ...).
PROBLEM_TYPE = re.compile(r'"type"\s*:\s*"urn:sidecar:problem:([a-z0-9-]+)"')
VARIANT_URI = re.compile(r"^#EXT-X-STREAM-INF:[^\n]*\n([^#\n][^\n]*)", re.MULTILINE)


@dataclass
class Recorder:
    """Collects samples and events, with the run's clock."""

    started: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started


async def _fetch(http: aiohttp.ClientSession, rec: Recorder, url: str, kind: str, channel: str) -> str | None:
    sent = rec.now()
    began = time.perf_counter()
    try:
        async with http.get(url) as resp:
            body = await resp.text()
            latency = time.perf_counter() - began
            problem = PROBLEM_TYPE.search(body) if resp.status != 200 else None
            rec.samples.append(Sample(sent, latency, resp.status, kind, channel, problem.group(1) if problem else ""))
            return body if resp.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, OSError, UnicodeDecodeError) as exc:
        rec.samples.append(Sample(sent, time.perf_counter() - began, 0, kind, channel, type(exc).__name__))
        return None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))


@dataclass
class Viewer:
    """One simulated player: where it watches, how it reloads, and what it saw of the ads."""

    index: int
    base: str
    channel: str
    variant_index: int
    rng: random.Random
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: AdOutcome = field(default_factory=AdOutcome)
    joined: float = 0.0
    left: float | None = None


async def viewer(http: aiohttp.ClientSession, rec: Recorder, cfg: LoadConfig, v: Viewer) -> None:
    """Play ``{base}/{channel}`` until ``v.stop``: the master playlist once, then one variant
    reloaded once per target duration, each interval drawn from 1 ± ``cfg.jitter`` of it and the
    first one at a random phase, so reloads spread over the target duration as real players'
    do rather than arriving in lock-step."""
    variant: str | None = None
    master_url = f"{v.base}/master.m3u8?mode={cfg.mode}"
    first = True
    while not v.stop.is_set():
        began = time.monotonic()
        if variant is None:
            text = await _fetch(http, rec, master_url, "master", v.channel)
            uris = VARIANT_URI.findall(text or "")
            if uris:
                variant = urljoin(master_url, uris[v.variant_index % len(uris)].strip())
            wait = 0.0 if variant else 1.0
        else:
            text = await _fetch(http, rec, variant, "media", v.channel)
            if text is not None:
                await _ads(http, rec, cfg, v, variant, text)
            found = TARGET_DURATION.search(text or "")
            interval = cfg.poll_interval or (float(found.group(1)) if found else 1.0)
            if first:
                wait, first = interval * v.rng.random(), False
            else:
                wait = interval * (1.0 + v.rng.uniform(-cfg.jitter, cfg.jitter))
        await _pause(v.stop, wait - (time.monotonic() - began))


async def _ads(http: aiohttp.ClientSession, rec: Recorder, cfg: LoadConfig, v: Viewer, url: str, text: str) -> None:
    if cfg.mode == "ssai":
        v.outcome.observe_ssai(text, cfg.slate_prefixes)
        return
    for ident, asset_list in v.outcome.new_interstitials(text):
        body = await _fetch(http, rec, urljoin(url, asset_list), "assets", v.channel) if asset_list else None
        v.outcome.observe_asset_list(ident, body, cfg.slate_prefixes)


class Audience:
    """Starts and stops viewers so that the number watching follows the load profile (k6-style
    stages), and records how many were watching, second by second."""

    def __init__(self, http: aiohttp.ClientSession, rec: Recorder, cfg: LoadConfig, org: str, slugs: list[str]):
        self.http, self.rec, self.cfg = http, rec, cfg
        self.base = cfg.viewer_url.rstrip("/") + f"/{org}"
        self.slugs = slugs
        self.rng = random.Random(cfg.seed)
        self.viewers: list[Viewer] = []
        self.active: list[Viewer] = []
        self.tasks: list[asyncio.Task[None]] = []
        #: (t, target, active) samples, one per tick
        self.counts: list[tuple[float, float, int]] = []

    def _join(self) -> None:
        i = len(self.viewers)
        slug = self.slugs[i % len(self.slugs)]
        v = Viewer(i, f"{self.base}/{slug}", slug, i // len(self.slugs), random.Random(self.rng.random()))
        v.joined = self.rec.now()
        self.viewers.append(v)
        self.active.append(v)
        self.tasks.append(asyncio.create_task(viewer(self.http, self.rec, self.cfg, v)))

    def _leave(self) -> None:
        v = self.active.pop()  # the latest to join leaves first
        v.left = self.rec.now()
        v.stop.set()

    async def run(self, stop: asyncio.Event, tick: float = 0.05) -> None:
        profile = self.cfg.profile
        while not stop.is_set():
            t = self.rec.now()
            target = viewers_at(profile, t)
            while len(self.active) < int(target + 1e-9):
                self._join()
            while len(self.active) > math.ceil(target - 1e-9):
                self._leave()
            self.counts.append((round(t, 3), round(target, 3), len(self.active)))
            await _pause(stop, tick)

    async def finish(self) -> None:
        """Every viewer stops; every request in flight is waited for (exact counts)."""
        while self.active:
            self._leave()
        await asyncio.gather(*self.tasks)

    def per_second(self, duration: float) -> list[float]:
        """Viewers watching during each whole second of the run (the mean over that second)."""
        buckets: list[list[int]] = [[] for _ in range(max(1, math.ceil(duration)))]
        for t, _target, active in self.counts:
            buckets[min(int(t), len(buckets) - 1)].append(active)
        return [round(sum(b) / len(b), 1) if b else 0.0 for b in buckets]


def worker_pids(supervisor: int) -> list[int]:
    """Children of a ``sidecar serve`` supervisor (Linux /proc)."""
    path = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []


class Actions:
    """Cues, config updates and restarts on their schedules; each outcome is an :class:`Event`."""

    def __init__(
        self,
        cfg: LoadConfig,
        admin: AdminClient,
        rec: Recorder,
        channels: list[str],
        before_kill: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.admin = admin
        self.rec = rec
        self.channels = channels
        self.kills = 0
        #: Runs just before a worker is killed (the last scrape of what it counted).
        self.before_kill = before_kill

    async def _timed(self, kind: str, target: str, action: Callable[[], Awaitable[str]]) -> None:
        t = self.rec.now()
        began = time.perf_counter()
        try:
            detail = await action()
            ok = True
        except (AdminError, OSError, RuntimeError) as exc:
            detail, ok = str(exc)[:300], False
        self.rec.events.append(Event(t, kind, target, ok, time.perf_counter() - began, detail))

    async def cue(self, n: int) -> None:
        slug = self.channels[n % len(self.channels)]

        async def go() -> str:
            body = await self.admin.cue(slug, {"action": "start", "duration": self.cfg.cue_duration})
            return f"break {body.get('break', {}).get('id', '?')}"

        await self._timed("cue", slug, go)

    async def config(self, n: int) -> None:
        slug = self.channels[n % len(self.channels)]

        async def go() -> str:
            channel = await self.admin.update_channel(slug, {"name": f"load test {slug} #{n}"})
            return f"version {channel['version']}"

        await self._timed("config", slug, go)

    async def restart(self, n: int) -> None:
        cfg = self.cfg

        async def go() -> str:
            if cfg.restart_cmd:
                proc = await asyncio.create_subprocess_shell(cfg.restart_cmd)
                code = await proc.wait()
                if code:
                    raise RuntimeError(f"restart command exited {code}")
                return "restart command ok"
            if cfg.kill_worker_of is None:
                raise RuntimeError("no --restart-cmd or --kill-worker-of")
            supervisor = int(cfg.kill_worker_of.read_text().strip())
            workers = sorted(worker_pids(supervisor))
            if not workers:
                raise RuntimeError(f"no workers under PID {supervisor}")
            victim = workers[self.kills % len(workers)]
            self.kills += 1
            if self.before_kill is not None:
                await self.before_kill()
            os.kill(victim, signal.SIGKILL)
            return f"SIGKILL worker PID {victim}"

        await self._timed("restart", "service", go)

    async def run(self, stop: asyncio.Event) -> None:
        schedules = [
            (self.cfg.cue_every, self.cue),
            (self.cfg.config_every, self.config),
            (self.cfg.restart_every, self.restart),
        ]
        await asyncio.gather(*(self._every(every, fn, stop) for every, fn in schedules if every > 0))

    async def _every(self, every: float, fn: Callable[[int], Awaitable[None]], stop: asyncio.Event) -> None:
        n = 0
        await _pause(stop, every / 2)  # first action mid-interval, once viewers have joined
        while not stop.is_set():
            await fn(n)
            n += 1
            await _pause(stop, self.rec.started + every / 2 + n * every - time.monotonic())
