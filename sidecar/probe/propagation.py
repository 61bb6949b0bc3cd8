"""Config propagation: how long an admin change takes to show on every viewer endpoint.

Every round changes the canary channel's ``name`` through the admin API (harmless to viewers;
it still bumps the config version and goes through the whole invalidation path), then polls
the canary's master playlist on every target until its ``X-Config-Version`` reaches the version
the admin API answered with. The clock starts before the admin request is sent: the latency is
end to end, as an operator experiences it (the seed's KPI 1, "config update latency < 1 s").
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp

from sidecar.probe.admin import AdminClient, AdminError
from sidecar.probe.config import ProbeConfig, Target
from sidecar.telemetry import catalogue as m
from sidecar.telemetry.logging import log_event

log = logging.getLogger("sidecar.probe.propagation")


@dataclass(frozen=True)
class Outcome:
    """One target's result for one change: seconds to show it, or None for a timeout."""

    target: str
    version: int
    seconds: float | None


class Propagation:
    """The canary and the rounds; see the module docstring."""

    def __init__(self, config: ProbeConfig, http: aiohttp.ClientSession, admin: AdminClient) -> None:
        self.config = config
        self.http = http
        self.admin = admin
        self.org: str | None = None
        self.round = 0
        for target in config.targets:  # export zeros, so increase() works from the first scrape
            m.probe_propagation_timeouts_total.labels(target.name)
            m.probe_config_propagation_seconds.labels(target.name)

    async def ensure_canary(self) -> None:
        """Find the canary channel, creating it if missing (needs an editor token)."""
        self.org = self.org or await self.admin.org_slug()
        if await self.admin.channel(self.config.canary) is not None:
            return
        origin = self.config.canary_origin
        if origin is None:
            others = [c for c in await self.admin.channels() if c.get("originUrl")]
            if not others:
                raise AdminError(0, "no canary origin: pass --canary-origin or create a channel first")
            origin = str(others[0]["originUrl"])
        body = {
            "slug": self.config.canary,
            "name": "probe canary",
            "originUrl": origin,
            "mode": "ssai",
            "scte35Enabled": False,
        }
        try:
            await self.admin.create("channels", body)
        except AdminError as exc:
            if exc.status != 409:  # another probe created it meanwhile
                raise
        log_event(
            log,
            "probe_canary_created",
            f"Created canary channel {self.org}/{self.config.canary}",
            channel=self.config.canary,
            origin=origin,
        )

    async def run_once(self) -> list[Outcome]:
        """One change, observed on every target concurrently."""
        if self.org is None:
            await self.ensure_canary()
        self.round += 1
        started = time.monotonic()
        changes = {"name": f"probe canary {'AB'[self.round % 2]}"}
        try:
            channel = await self.admin.update_channel(self.config.canary, changes)
        except AdminError as exc:
            if exc.status == 404:  # deleted under us: recreate next round
                self.org = None
            raise
        version = int(channel["version"])
        return list(await asyncio.gather(*(self._await_version(t, version, started) for t in self.config.targets)))

    async def _version(self, target: Target) -> int | None:
        """The X-Config-Version a new connection to ``target`` gets, or None."""
        url = f"{target.url}/{self.org}/{self.config.canary}/master.m3u8"
        try:
            async with self.http.get(url, headers={"Connection": "close"}) as resp:
                await resp.read()
                header = resp.headers.get("X-Config-Version")
                return int(header) if header and header.isdigit() else None
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None

    async def _await_version(self, target: Target, version: int, started: float) -> Outcome:
        cfg = self.config
        deadline = started + cfg.timeout
        streak, first_seen = 0, 0.0
        seen: int | None = None
        while True:
            seen = await self._version(target)
            now = time.monotonic()
            if seen is not None and seen >= version:
                if streak == 0:
                    first_seen = now
                streak += 1
                if streak >= cfg.confirmations:
                    seconds = first_seen - started
                    m.probe_config_propagation_seconds.labels(target.name).observe(seconds)
                    log_event(
                        log,
                        "probe_propagated",
                        f"Config version {version} showed on {target.name} after {seconds * 1000:.0f} ms",
                        target=target.name,
                        version=version,
                        seconds=round(seconds, 4),
                    )
                    return Outcome(target.name, version, seconds)
            else:
                streak = 0
            if now >= deadline:
                m.probe_propagation_timeouts_total.labels(target.name).inc()
                log_event(
                    log,
                    "probe_propagation_timeout",
                    f"Config version {version} not shown on {target.name} after {cfg.timeout:g} s (last seen: {seen})",
                    level=logging.WARNING,
                    target=target.name,
                    version=version,
                    seen=seen,
                )
                return Outcome(target.name, version, None)
            await asyncio.sleep(cfg.poll_interval)

    async def run_forever(self) -> None:
        """A round every ``interval`` seconds (measured start to start, never overlapping)."""
        while True:
            began = time.monotonic()
            try:
                await self.run_once()
            except AdminError as exc:
                log_event(
                    log,
                    "probe_admin_error",
                    f"Config propagation round failed: {exc}",
                    level=logging.ERROR,
                    status=exc.status,
                )
            await asyncio.sleep(max(0.0, self.config.interval - (time.monotonic() - began)))
