"""Everything ``sidecar loadtest`` is told, validated once (the CLI options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LoadConfig:
    viewer_url: str
    admin_url: str
    token: str
    out: Path
    channels: int = 4
    viewers: int = 40
    duration: float = 60.0
    #: Base URL of a synthetic origin: the load test creates (or refreshes) its own channels
    #: ``<prefix>0..N-1`` there, with an ad pod and slate. None: use the organization's channels.
    origin: str | None = None
    prefix: str = "lt"
    mode: str = "ssai"
    #: Seconds between a viewer's reloads; None means the playlist's target duration.
    poll_interval: float | None = None
    #: Seconds over which viewers join (a thundering herd at t=0 is a different test).
    ramp: float = 2.0
    cue_every: float = 20.0
    cue_duration: float = 10.0
    config_every: float = 10.0
    restart_every: float = 0.0
    restart_cmd: str | None = None
    #: PID file of a ``sidecar serve`` supervisor: each restart SIGKILLs one of its workers
    #: (round robin) and the supervisor starts it again.
    kill_worker_of: Path | None = None
    metrics_urls: tuple[str, ...] = ()
    prometheus: str | None = None
    #: Seconds to wait after the run before asking Prometheus (two scrape intervals).
    prometheus_settle: float = 3.0
    request_timeout: float = 10.0
    progress: bool = True
    command: str = ""

    def __post_init__(self) -> None:
        if self.channels < 1 or self.viewers < 1:
            raise ValueError("--channels and --viewers must be at least 1")
        if self.duration <= 0:
            raise ValueError("--duration must be positive")
        if self.mode not in ("ssai", "sgai"):
            raise ValueError("--mode must be ssai or sgai")
        if self.restart_every > 0 and not (self.restart_cmd or self.kill_worker_of):
            raise ValueError("--restart-every needs --restart-cmd or --kill-worker-of")
        for name, value in (
            ("cue_every", self.cue_every),
            ("config_every", self.config_every),
            ("restart_every", self.restart_every),
            ("ramp", self.ramp),
        ):
            if value < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative")
