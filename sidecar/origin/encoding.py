"""Encoding parameters per rendition, shared by the master playlists and the ffmpeg runs.

Kept in one place so the ``CODECS`` / ``BANDWIDTH`` attributes advertised in master playlists
always describe what ffmpeg actually produces (a test probes real segments against them).
"""

from __future__ import annotations

from sidecar.origin.config import FRAME_RATE, Rendition

AUDIO_CODEC = "mp4a.40.2"  # AAC-LC
AUDIO_BITRATE = 64_000
AUDIO_SAMPLE_RATE = 48_000
AAC_FRAME_SAMPLES = 1024

# Measured on 4 s segments (ffmpeg 5.1, x264 ultrafast, testsrc2): x264 overshoots its target by
# up to ~11%, and MPEG-TS packetisation (PES headers, PAT/PMT, padding) adds ~100-140 kbit/s.
_ENCODER_OVERSHOOT = 1.25
_TS_OVERHEAD_BPS = 120_000

# (level_idc, max macroblocks per frame, max macroblocks per second): H.264 Table A-1.
_H264_LEVELS: tuple[tuple[int, int, int], ...] = (
    (30, 1_620, 40_500),
    (31, 3_600, 108_000),
    (32, 5_120, 216_000),
    (40, 8_192, 245_760),
    (42, 8_704, 522_240),
    (50, 22_080, 589_824),
    (51, 36_864, 983_040),
)


def h264_level(rendition: Rendition) -> int:
    """Lowest H.264 level (``level_idc``, e.g. 31 for 3.1) that fits the picture at 30 fps."""
    width, height = rendition.size
    mbs = -(-width // 16) * -(-height // 16)
    for level, max_frame, max_rate in _H264_LEVELS:
        if mbs <= max_frame and mbs * FRAME_RATE <= max_rate:
            return level
    raise ValueError(f"rendition {rendition.name} is too large for H.264 level 5.1")


def level_name(level: int) -> str:
    """``31`` -> ``"3.1"`` (the form ffmpeg's ``-level`` takes)."""
    return f"{level // 10}.{level % 10}"


def codecs(rendition: Rendition) -> str:
    """RFC 6381 codecs string: Constrained Baseline (profile 66, constraint flags 0xC0)."""
    return f"avc1.42c0{h264_level(rendition):02x},{AUDIO_CODEC}"


def video_bitrate(rendition: Rendition) -> int:
    """Video target so that real segments (video + audio + TS overhead) stay under BANDWIDTH."""
    budget = rendition.bandwidth - AUDIO_BITRATE - _TS_OVERHEAD_BPS
    return max(50_000, int(budget / _ENCODER_OVERSHOOT))


def average_bandwidth(rendition: Rendition) -> int:
    """Expected average bitrate of the segments, as AVERAGE-BANDWIDTH (never above BANDWIDTH)."""
    expected = video_bitrate(rendition) * 1.1 + AUDIO_BITRATE + _TS_OVERHEAD_BPS
    return min(rendition.bandwidth, int(expected))
