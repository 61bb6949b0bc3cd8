"""The load itself: simulated viewers, and the operator actions that run meanwhile.

A viewer behaves like a live HLS player: it reads the master playlist once, picks a variant,
and reloads that variant once per target duration until the run ends. It never abandons a
request in flight (the run waits for the last answers), so every request the service counted
is also in the samples and the two counts can be compared exactly.

Actions run on their own schedules beside the viewers: ad breaks through the cue API, config
updates through the admin API, and restarts (a command, or SIGKILL of one ``sidecar serve``
worker, which its supervisor restarts): the disturbances the seed's KPIs are about.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

from sidecar.loadtest.config import LoadConfig
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


async def viewer(
    http: aiohttp.ClientSession,
    rec: Recorder,
    cfg: LoadConfig,
    base: str,
    channel: str,
    index: int,
    stop: asyncio.Event,
    delay: float,
) -> None:
    """One player on ``{base}/{channel}``; ``index`` spreads viewers over the variants."""
    await _pause(stop, delay)
    variant: str | None = None
    master_url = f"{base}/master.m3u8?mode={cfg.mode}"
    while not stop.is_set():
        began = time.monotonic()
        if variant is None:
            text = await _fetch(http, rec, master_url, "master", channel)
            uris = VARIANT_URI.findall(text or "")
            if uris:
                variant = urljoin(master_url, uris[index % len(uris)].strip())
            wait = 0.0 if variant else 1.0
        else:
            text = await _fetch(http, rec, variant, "media", channel)
            found = TARGET_DURATION.search(text or "")
            wait = cfg.poll_interval or (float(found.group(1)) if found else 1.0)
        await _pause(stop, wait - (time.monotonic() - began))


def worker_pids(supervisor: int) -> list[int]:
    """Children of a ``sidecar serve`` supervisor (Linux /proc)."""
    path = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except (OSError, ValueError):
        return []


class Actions:
    """Cues, config updates and restarts on their schedules; each outcome is an :class:`Event`."""

    def __init__(self, cfg: LoadConfig, admin: AdminClient, rec: Recorder, channels: list[str]) -> None:
        self.cfg = cfg
        self.admin = admin
        self.rec = rec
        self.channels = channels
        self.kills = 0

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
