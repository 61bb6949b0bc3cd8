"""Everything ``sidecar loadtest`` is told, validated once (the CLI options)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sidecar.loadtest.thresholds import Threshold

_STAGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*:\s*(\d+)\s*$")
_SECONDS = {None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Stage:
    """k6-style stage: move the number of active viewers linearly to ``target`` over ``seconds``."""

    seconds: float
    target: int


def parse_stage(text: str) -> Stage:
    match = _STAGE.match(text)
    if match is None:
        raise ValueError(f"--stage {text!r}: expected DURATION:VIEWERS, e.g. 30s:200 or 2m:200")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"--stage {text!r}: the duration must be positive")
    return Stage(seconds, int(match.group(3)))


def viewers_at(stages: tuple[Stage, ...], t: float) -> float:
    """Active viewers the profile asks for at ``t`` seconds (linear within a stage, from 0)."""
    start, level = 0.0, 0.0
    for stage in stages:
        if t < start + stage.seconds:
            return level + (stage.target - level) * (t - start) / stage.seconds
        start, level = start + stage.seconds, float(stage.target)
    return level


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
    #: Load profile; empty means: ramp to ``viewers`` over ``ramp`` seconds, hold until ``duration``.
    stages: tuple[Stage, ...] = ()
    #: Each reload interval is the target duration times a factor drawn from 1 ± jitter.
    jitter: float = 0.1
    seed: int | None = None
    #: Seconds between scrapes of --metrics-url during the run (and one just before each kill).
    scrape_interval: float = 1.0
    thresholds: tuple[Threshold, ...] = ()
    #: Where the slate's segments live (a break segment under one of these is slate, not an ad).
    slate_prefixes: tuple[str, ...] = ()

    @property
    def profile(self) -> tuple[Stage, ...]:
        if self.stages:
            return self.stages
        ramp = min(self.ramp, self.duration)
        head = (Stage(ramp, self.viewers),) if ramp > 0 else (Stage(1e-9, self.viewers),)
        return (*head, Stage(max(self.duration - ramp, 1e-9), self.viewers))

    @property
    def run_seconds(self) -> float:
        return sum(s.seconds for s in self.stages) if self.stages else self.duration

    @property
    def max_viewers(self) -> int:
        return max(s.target for s in self.stages) if self.stages else self.viewers

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
        if not 0 <= self.jitter < 1:
            raise ValueError("--jitter must be at least 0 and less than 1")
        if self.stages and self.max_viewers < 1:
            raise ValueError("--stage: at least one stage needs a target of 1 viewer or more")
