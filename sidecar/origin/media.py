"""Segment bodies: deterministic placeholders, or real MPEG-TS made by ffmpeg on demand.

Placeholders keep playlist-level tests fast. The ffmpeg mode makes media a real player (hls.js)
and ffprobe accept: H.264 Constrained Baseline + AAC-LC, one GOP per segment starting with an
IDR frame, and timestamps continuous across consecutive live segments (``-output_ts_offset``
is the segment's PTS on the live timeline), so a live stream plays without gaps or jumps.

Each segment is encoded independently from a lavfi source; ffmpeg runs are serialised per file
(one ffmpeg run however many requests race for a segment), limited in number overall, and
cached on disk under a name that includes a hash of the whole command, so a parameter change can
never serve a stale file and several processes may share one cache directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from sidecar.origin import encoding
from sidecar.origin.config import FRAME_RATE, TICKS_PER_SECOND, Rendition

log = logging.getLogger(__name__)

Picture = Literal["content", "ad", "slate"]

TS_PACKET = 188
SLATE_COLOUR = "0x1f3a5f"
CONTENT_TONE_HZ = 1000


@dataclass(frozen=True)
class SegmentJob:
    """One segment body to produce.

    ``cache_key`` names it (path parts below the cache directory); ``pts_ticks`` is the
    timestamp its first frame carries; ``label`` is burnt into the picture (and is the
    placeholder payload), so a human or a test can tell which segment is on screen.
    """

    cache_key: tuple[str, ...]
    rendition: Rendition
    duration_ticks: int
    pts_ticks: int
    picture: Picture
    label: str
    tone_hz: int = CONTENT_TONE_HZ


class MediaError(RuntimeError):
    """A segment could not be produced (ffmpeg failed or timed out)."""


class MediaSource(Protocol):
    async def segment(self, job: SegmentJob) -> bytes: ...


class PlaceholderMedia:
    """Tiny deterministic segment bodies: one MPEG-TS null packet naming the segment.

    Valid TS framing (sync byte, null PID 0x1FFF) so "is this TS?" checks pass, and the label
    inside lets stitching tests assert exactly which origin segment a URL resolves to.
    """

    async def segment(self, job: SegmentJob) -> bytes:
        return placeholder_bytes(job.label)


def placeholder_bytes(label: str) -> bytes:
    payload = label.encode("utf-8")[: TS_PACKET - 4]
    return b"\x47\x1f\xff\x10" + payload + b"\xff" * (TS_PACKET - 4 - len(payload))


def drawtext_safe(text: str) -> str:
    """Keep only characters that need no escaping in an ffmpeg filtergraph and drawtext."""
    return re.sub(r"[^A-Za-z0-9 _.+=-]", "-", text)


def ffmpeg_arguments(job: SegmentJob, *, drawtext: bool) -> list[str]:
    """ffmpeg arguments (output path excluded) that encode ``job`` as one MPEG-TS segment."""
    width, height = job.rendition.size
    seconds = job.duration_ticks / TICKS_PER_SECOND
    frames = round(seconds * FRAME_RATE)
    priming = encoding.AAC_FRAME_SAMPLES / encoding.AUDIO_SAMPLE_RATE
    size = f"size={width}x{height}:rate={FRAME_RATE}:duration={seconds:.6f}"
    if job.picture == "content":
        video = f"testsrc2={size}"
    elif job.picture == "ad":
        video = f"smptehdbars={size}"
    else:
        video = f"color=c={SLATE_COLOUR}:{size}"
    # The AAC encoder prepends one frame of priming; shorten the tone by that much and delay it
    # by one frame so audio starts exactly at the segment's PTS and ends within a frame of its end.
    audio_seconds = max(seconds - priming, priming)
    if job.picture == "slate":
        audio = f"aevalsrc=0:s={encoding.AUDIO_SAMPLE_RATE}:d={audio_seconds:.6f}"
    else:
        audio = f"sine=frequency={job.tone_hz}:sample_rate={encoding.AUDIO_SAMPLE_RATE}:d={audio_seconds:.6f}"
    vb = encoding.video_bitrate(job.rendition)
    args = [
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        audio,
        "-map",
        "0:v",
        "-map",
        "1:a",
    ]
    if drawtext:
        font = max(16, height // 14)
        text = drawtext_safe(job.label)
        args += [
            "-vf",
            f"drawtext=text='{text}':fontsize={font}:fontcolor=white:x=(w-tw)/2:y=h-2*th:"
            "box=1:boxcolor=black@0.6:boxborderw=8",
        ]
    args += [
        "-af", f"asetpts=PTS+{encoding.AAC_FRAME_SAMPLES}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
        "-profile:v", "baseline", "-level:v", encoding.level_name(encoding.h264_level(job.rendition)),
        "-pix_fmt", "yuv420p",
        "-g", str(frames), "-keyint_min", str(frames), "-sc_threshold", "0",
        "-b:v", str(vb), "-maxrate", str(vb), "-bufsize", str(vb),
        "-c:a", "aac", "-b:a", str(encoding.AUDIO_BITRATE), "-ac", "2",
        "-ar", str(encoding.AUDIO_SAMPLE_RATE),
        "-output_ts_offset", f"{job.pts_ticks / TICKS_PER_SECOND:.6f}",
        "-muxdelay", "0", "-muxpreload", "0",
        "-f", "mpegts",
    ]  # fmt: skip
    return args


class _KeyedLocks:
    """One asyncio.Lock per key, dropped again once nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class FfmpegMedia:
    """Real segments from ffmpeg, cached on disk.

    Args:
        cache_dir: where segments are kept.
        parallel: ffmpeg processes allowed at once (the machine has few cores).
        max_files: files this process keeps in the cache; least recently used ones beyond that
            are deleted, so a long-running demo does not fill the disk with live segments.
        timeout: seconds one ffmpeg run may take.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        binary: str = "ffmpeg",
        parallel: int = 2,
        max_files: int = 600,
        timeout: float = 60.0,
    ) -> None:
        found = shutil.which(binary)
        if found is None:
            raise MediaError(f"{binary} not found on PATH; install ffmpeg or use media mode 'none'")
        self.binary = found
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.max_files = max_files
        self.runs = 0
        """Number of ffmpeg runs so far (tests assert cache hits and per-file serialisation)."""
        self._locks = _KeyedLocks()
        self._slots = asyncio.Semaphore(parallel)
        self._recent: OrderedDict[Path, None] = OrderedDict()
        self._drawtext: bool | None = None

    async def segment(self, job: SegmentJob) -> bytes:
        args = ffmpeg_arguments(job, drawtext=await self._has_drawtext())
        digest = hashlib.sha256("\0".join(args).encode()).hexdigest()[:16]
        path = self.cache_dir.joinpath(*job.cache_key).with_name(f"{job.cache_key[-1]}-{digest}.ts")
        async with self._locks.hold(str(path)):
            if not path.exists():
                await self._encode(args, path)
        self._remember(path)
        return await asyncio.to_thread(path.read_bytes)

    async def _encode(self, args: list[str], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        async with self._slots:
            self.runs += 1
            proc = await asyncio.create_subprocess_exec(
                self.binary, *args, str(partial),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                _, stderr = await asyncio.wait_for(proc.communicate(), self.timeout)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                partial.unlink(missing_ok=True)
                raise
        if proc.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            tail = stderr.decode(errors="replace").strip()[-500:]
            raise MediaError(f"ffmpeg exited with {proc.returncode}: {tail}")
        os.replace(partial, path)  # atomic: readers never see a half-written segment

    def _remember(self, path: Path) -> None:
        self._recent[path] = None
        self._recent.move_to_end(path)
        while len(self._recent) > self.max_files:
            old, _ = self._recent.popitem(last=False)
            old.unlink(missing_ok=True)

    async def _has_drawtext(self) -> bool:
        """drawtext needs an ffmpeg built with libfreetype; fall back to no burnt-in text."""
        if self._drawtext is None:
            proc = await asyncio.create_subprocess_exec(
                self.binary, "-hide_banner", "-filters",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await proc.communicate()
            self._drawtext = b" drawtext " in out
            if not self._drawtext:
                log.warning("ffmpeg has no drawtext filter; segments will carry no burnt-in text")
        return self._drawtext
