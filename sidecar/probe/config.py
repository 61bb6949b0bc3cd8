"""What ``sidecar probe`` is told to watch, parsed once so the loops never see a bad value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Target:
    """One viewer endpoint (a worker, a colo, a load balancer) the probe reads manifests from.

    ``name`` is the ``target`` label; it is configured, never derived from responses, so the
    label set stays bounded.
    """

    name: str
    url: str


def parse_target(spec: str) -> Target:
    """``URL`` or ``NAME=URL`` (a short label for a long URL)."""
    name, sep, url = spec.partition("=")
    if not sep or "://" in name:
        name, url = "", spec
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"target {spec!r}: expected http(s)://HOST:PORT or NAME=http(s)://HOST:PORT")
    return Target(name or url, url)


def parse_channel(spec: str) -> tuple[str, str]:
    """``org/slug`` as the viewer URLs spell it."""
    org, sep, slug = spec.strip("/").partition("/")
    if not sep or not _SLUG.match(org) or not _SLUG.match(slug):
        raise ValueError(f"channel {spec!r}: expected ORG/SLUG (e.g. demo/sports1)")
    return org, slug


@dataclass(frozen=True)
class ProbeConfig:
    """Every knob of the probe (the CLI options of ``sidecar probe``)."""

    targets: tuple[Target, ...]
    admin_url: str = "http://127.0.0.1:8791"
    token: str | None = None
    #: ``(org, slug)`` pairs; empty means every channel of the token's organization.
    channels: tuple[tuple[str, str], ...] = ()
    #: Seconds between config changes of the canary channel.
    interval: float = 10.0
    #: Seconds after which a target that has not shown a change counts as a timeout.
    timeout: float = 10.0
    #: Seconds between manifest polls while waiting for a change to show.
    poll_interval: float = 0.05
    #: Consecutive polls (each on a new connection) that must show the new version. With several
    #: workers behind one port the kernel spreads connections, so two in a row make it likely
    #: that more than one worker has it; a stale answer in between restarts the count.
    confirmations: int = 2
    canary: str = "probe-canary"
    #: Origin master playlist for the canary when the probe has to create it; by default the
    #: origin of the first channel of the organization.
    canary_origin: str | None = None
    modes: tuple[str, ...] = ("ssai", "sgai")
    #: Seconds between reloads of a variant; None means its target duration, as a player does.
    validity_interval: float | None = None
    #: Seconds between refreshes of the channel list and each channel's variants.
    discover_every: float = 60.0
    request_timeout: float = 5.0
    propagation: bool = True
    validity: bool = True
    extra_headers: dict[str, str] = field(default_factory=lambda: {"User-Agent": "sidecar-probe"})

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("at least one target is required")
        if len({t.name for t in self.targets}) != len(self.targets):
            raise ValueError("target names must be unique")
        positive = {"interval": self.interval, "timeout": self.timeout, "poll_interval": self.poll_interval}
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        if not _SLUG.match(self.canary):
            raise ValueError(f"canary {self.canary!r} is not a channel slug")
        if (self.propagation or not self.channels) and not self.token:
            raise ValueError("a token is required for the config propagation probe and for channel discovery")
