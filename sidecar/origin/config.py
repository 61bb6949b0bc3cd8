"""Configuration of the synthetic live origin.

Everything the origin serves is a pure function of this configuration and the clock, so two
origin processes built from equal configs serve byte-identical playlists at the same instant.
That is what lets tests, the demo and several service workers share one notion of "the live
edge" without talking to each other.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

CueFlavour = Literal[
    "cue-out", "daterange", "daterange-timesignal", "oatcls", "oatcls-asset", "oatcls-timesignal", "none"
]
"""How ad breaks are signalled in the live playlists (see :mod:`sidecar.origin.cues`)."""

MediaMode = Literal["none", "ffmpeg"]
"""``none``: tiny deterministic placeholder segments; ``ffmpeg``: real MPEG-TS made on demand."""

CUE_FLAVOURS: tuple[str, ...] = get_args(CueFlavour)
MEDIA_MODES: tuple[str, ...] = get_args(MediaMode)

FRAME_RATE = 30
"""Frames per second of every generated video; segment durations must hold whole frames."""

TICKS_PER_SECOND = 90_000
"""MPEG 90 kHz clock. Timeline arithmetic is done in integer ticks so that schedules never
depend on float rounding (and so equal configs give equal playlists everywhere)."""


def to_ticks(seconds: float) -> int:
    """Seconds to 90 kHz ticks (rounded to the nearest tick)."""
    return round(seconds * TICKS_PER_SECOND)


SLATE_POD = "slate"
"""Reserved pod name: the slate, a single short segment meant to be looped by the stitcher."""

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RESOLUTION_RE = re.compile(r"^(\d{2,5})x(\d{2,5})$")


def valid_name(name: str) -> bool:
    """True for names usable as a URL path segment (stream, rendition, pod)."""
    return bool(_NAME_RE.match(name))


@dataclass(frozen=True)
class Rendition:
    """One rung of the ABR ladder, shared by the live streams and the ad pods."""

    name: str
    bandwidth: int
    resolution: str

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise ValueError(f"invalid rendition name {self.name!r}")
        if self.bandwidth < 300_000:  # room for audio and MPEG-TS overhead
            raise ValueError(f"rendition {self.name}: bandwidth {self.bandwidth} is below 300000")
        if not _RESOLUTION_RE.match(self.resolution):
            raise ValueError(f"rendition {self.name}: resolution must look like 640x360")
        w, h = self.size
        if w % 2 or h % 2:
            raise ValueError(f"rendition {self.name}: width and height must be even (yuv420p)")

    @property
    def size(self) -> tuple[int, int]:
        m = _RESOLUTION_RE.match(self.resolution)
        assert m is not None
        return int(m.group(1)), int(m.group(2))


RenditionSpec = Rendition | tuple[str, int, str]

DEFAULT_RENDITIONS: tuple[Rendition, ...] = (
    Rendition("800k", 800_000, "640x360"),
    Rendition("1600k", 1_600_000, "1280x720"),
)

DEFAULT_PODS: Mapping[str, tuple[float, ...]] = {
    # Three 10 s ads: 30 s, the default break length.
    "pod-a": (10.0, 10.0, 10.0),
    # One 10 s ad: underfills a 30 s break, which exercises slate fill.
    "pod-short": (10.0,),
    # Ads that are not multiples of the segment duration: short last segments.
    "pod-odd": (7.0, 5.0),
}


def _default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "sidecar-origin-cache"


@dataclass(frozen=True)
class BreakSpec:
    """One ad break of every cycle of ``break_interval`` seconds of media time.

    Attributes:
        offset: seconds from the start of the cycle to the break's nominal start; the break
            starts on the first segment boundary at or after it.
        duration: the signalled (planned) duration, in the cue tags.
        returns_after: early return: the origin signals the return to content (CUE-IN,
            ``SCTE35-IN``) this many seconds into the break, before the planned end.
        back_to_back: start exactly where the previous break of the cycle returns (its CUE-IN and
            this break's CUE-OUT are on the same segment); ``offset`` is then ignored.
    """

    offset: float = 0.0
    duration: float = 30.0
    returns_after: float | None = None
    back_to_back: bool = False

    @property
    def actual(self) -> float:
        """Seconds of media the break covers as signalled by its return."""
        return self.returns_after if self.returns_after is not None else self.duration


@dataclass(frozen=True)
class OriginConfig:
    """Everything that determines what the origin serves.

    Attributes:
        renditions: the ladder; tuples ``(name, bandwidth, "WxH")`` are accepted.
        segment_duration: seconds per live segment (2-6, whole frames at 30 fps).
        window: number of segments in the live sliding window.
        cue_flavour: default ad-signalling dialect for every stream.
        stream_cues: per-stream overrides of ``cue_flavour`` (one origin, several dialects).
        streams: allowed stream names; empty means any well-formed name.
        break_interval: seconds of media time between the starts of consecutive breaks (the
            length of one cycle of ``breaks``).
        break_duration: seconds signalled per break. Breaks start and end on segment
            boundaries (the first boundary at or after the nominal time), so the signalled
            duration can be shorter than the span the break actually covers.
        breaks: the breaks of every cycle (see :class:`BreakSpec`); empty means one break of
            ``break_duration`` at the start of each cycle.
        segment_pattern: per-segment durations, repeated (segment ``n`` lasts
            ``segment_pattern[n % len]``); empty means every segment lasts ``segment_duration``.
            Jittered encoders (29.97 fps: 6.006 s) are modelled this way.
        discontinuity_every: an ``EXT-X-DISCONTINUITY`` (an encoder restart, a source switch)
            before every segment whose MSN is ``discontinuity_phase`` modulo this; 0 for none.
            Timestamps restart at each one, and ``EXT-X-DISCONTINUITY-SEQUENCE`` counts them.
        discontinuity_phase: see ``discontinuity_every``.
        fail_every: answer 503 to every n-th request of each live playlist (master or media, counted
            per path); 0 never.
        truncate_every: cut every n-th request of each live playlist mid-line (200, a shorter
            body, as an origin whose writer was interrupted); 0 never. ``fail_every`` wins when
            both fall on one request.
        daterange_lead: minimum seconds between a SCTE35-OUT DATERANGE first appearing in the
            playlist and its START-DATE (players such as hls.js need to see it ahead).
        epoch: Unix time of the start of segment 0. The default (0.0) puts breaks on
            wall-clock multiples of ``break_interval``.
        media: ``none`` for placeholder bytes, ``ffmpeg`` for real MPEG-TS.
        cache_dir: where ffmpeg-made segments are cached.
        pods: ad pods served as VOD under ``/ads/{pod}/``: pod name to ad durations.
        slate_duration: length of the single slate segment.
        fail_timeout: how long ``/fail/timeout/...`` holds a request before answering.
        huge_bytes: body size of ``/fail/huge/...``.
        clock: returns the current Unix time; injectable so tests can drive the live edge.
    """

    renditions: tuple[RenditionSpec, ...] = DEFAULT_RENDITIONS
    segment_duration: float = 4.0
    window: int = 6
    cue_flavour: CueFlavour = "cue-out"
    stream_cues: Mapping[str, CueFlavour] = field(default_factory=dict)
    streams: tuple[str, ...] = ()
    break_interval: float = 120.0
    break_duration: float = 30.0
    daterange_lead: float = 12.0
    breaks: tuple[BreakSpec, ...] = ()
    segment_pattern: tuple[float, ...] = ()
    discontinuity_every: int = 0
    discontinuity_phase: int = 0
    fail_every: int = 0
    truncate_every: int = 0
    epoch: float = 0.0
    media: MediaMode = "none"
    cache_dir: Path = field(default_factory=_default_cache_dir)
    pods: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: dict(DEFAULT_PODS))
    slate_duration: float = 2.0
    fail_timeout: float = 60.0
    huge_bytes: int = 6 * 1024 * 1024
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __post_init__(self) -> None:
        ladder = tuple(r if isinstance(r, Rendition) else Rendition(*r) for r in self.renditions)
        object.__setattr__(self, "renditions", ladder)
        if not ladder:
            raise ValueError("at least one rendition is required")
        if len({r.name for r in ladder}) != len(ladder):
            raise ValueError("rendition names must be unique")
        if any(r.name == "master" for r in ladder):
            raise ValueError("'master' cannot name a rendition (it names the master playlist)")
        if not 1.0 <= self.segment_duration <= 10.0:
            raise ValueError("segment_duration must be between 1 and 10 seconds")
        _check_whole_frames("segment_duration", self.segment_duration)
        for seconds in self.segment_pattern:
            if not 0.5 <= seconds <= 10.0 or to_ticks(seconds) % (TICKS_PER_SECOND // 1000):
                raise ValueError("segment_pattern: durations must be 0.5-10 s in whole milliseconds")
            if self.media == "ffmpeg":
                _check_whole_frames("segment_pattern duration", seconds)
        _check_whole_frames("slate_duration", self.slate_duration)
        if self.slate_duration <= 0 or self.slate_duration > self.segment_duration:
            raise ValueError("slate_duration must be positive and at most segment_duration")
        if self.window < 3:
            raise ValueError("window must hold at least 3 segments (RFC 8216 section 6.2.2)")
        if self.cue_flavour not in CUE_FLAVOURS:
            raise ValueError(f"cue_flavour must be one of {CUE_FLAVOURS}")
        for stream, flavour in self.stream_cues.items():
            if not valid_name(stream) or flavour not in CUE_FLAVOURS:
                raise ValueError(f"invalid stream_cues entry {stream!r}: {flavour!r}")
        for stream in self.streams:
            if not valid_name(stream):
                raise ValueError(f"invalid stream name {stream!r}")
        if self.media not in MEDIA_MODES:
            raise ValueError(f"media must be one of {MEDIA_MODES}")
        if self.break_duration <= 0:
            raise ValueError("break_duration must be positive")
        self._check_breaks()
        for name in ("discontinuity_every", "fail_every", "truncate_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.discontinuity_every and not 0 <= self.discontinuity_phase < self.discontinuity_every:
            raise ValueError("discontinuity_phase must be in [0, discontinuity_every)")
        if self.daterange_lead < 0:
            raise ValueError("daterange_lead must not be negative")
        if not math.isfinite(self.epoch):
            raise ValueError("epoch must be finite")
        for pod, ads in self.pods.items():
            if pod == SLATE_POD or not valid_name(pod):
                raise ValueError(f"invalid pod name {pod!r}")
            if not ads:
                raise ValueError(f"pod {pod!r} has no ads")
            for ad in ads:
                if ad <= 0:
                    raise ValueError(f"pod {pod!r}: ad durations must be positive")
                _check_whole_frames(f"pod {pod!r} ad duration", ad)
        if self.huge_bytes <= 5 * 1024 * 1024:
            raise ValueError("huge_bytes must exceed 5 MiB")

    def _check_breaks(self) -> None:
        """Breaks of a cycle in order, never overlapping, with two content segments before the
        next cycle. Boundaries are bounded (not computed) for jittered segments."""
        ticks = self.segment_ticks
        longest, shortest = max(ticks), min(ticks)
        specs = self.break_specs
        end: int | None = None
        for spec in specs:
            if spec.duration <= 0:
                raise ValueError("break durations must be positive")
            if spec.returns_after is not None and not 0 < spec.returns_after < spec.duration:
                raise ValueError("returns_after must be between 0 and the break's duration")
            if spec.back_to_back:
                if end is None:
                    raise ValueError("the first break of a cycle cannot be back_to_back")
                start = end
            else:
                if not 0 <= spec.offset < self.break_interval:
                    raise ValueError("break offsets must lie within break_interval")
                start = -(-to_ticks(spec.offset) // longest) * longest
                if end is not None and to_ticks(spec.offset) < end:
                    raise ValueError("breaks must not overlap (use back_to_back for adjacent ones)")
            end = start + -(-to_ticks(spec.actual) // shortest) * longest
        assert end is not None
        if end + 2 * longest > to_ticks(self.break_interval) + to_ticks(specs[0].offset):
            raise ValueError("break_interval must leave at least two content segments between breaks")

    @property
    def break_specs(self) -> tuple[BreakSpec, ...]:
        """The breaks of one cycle (the default: one of ``break_duration`` at its start)."""
        return self.breaks or (BreakSpec(0.0, self.break_duration),)

    @property
    def segment_ticks(self) -> tuple[int, ...]:
        """Durations of the repeating segment pattern, in 90 kHz ticks."""
        return tuple(to_ticks(s) for s in self.segment_pattern) or (to_ticks(self.segment_duration),)

    @property
    def ladder(self) -> tuple[Rendition, ...]:
        """The renditions, normalised to :class:`Rendition` (``renditions`` is typed loosely)."""
        return tuple(r for r in self.renditions if isinstance(r, Rendition))

    def rendition(self, name: str) -> Rendition | None:
        return next((r for r in self.ladder if r.name == name), None)

    def flavour_for(self, stream: str) -> CueFlavour:
        return self.stream_cues.get(stream, self.cue_flavour)

    def stream_allowed(self, stream: str) -> bool:
        if not valid_name(stream):
            return False
        return not self.streams or stream in self.streams


def _check_whole_frames(what: str, seconds: float) -> None:
    ticks = to_ticks(seconds)
    if ticks % (TICKS_PER_SECOND // FRAME_RATE) or abs(seconds * TICKS_PER_SECOND - ticks) > 1e-3:
        raise ValueError(f"{what} ({seconds}) must be a whole number of frames at {FRAME_RATE} fps")
