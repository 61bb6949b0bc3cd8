"""Ad pods and the slate as VOD HLS: how each pod is cut into segments.

Each ad is encoded on its own (timestamps restart per ad), so a pod playlist carries
``EXT-X-DISCONTINUITY`` between ads, as a real pod of separately transcoded creatives does.
Ads are cut into segments of the live segment duration, with a shorter last segment when the
ad is not a multiple of it; stitchers must cope with both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.origin.config import SLATE_POD, OriginConfig, to_ticks


@dataclass(frozen=True)
class PodSegment:
    """Segment ``index`` of a pod: part of ad ``ad`` starting ``offset_ticks`` into that ad."""

    index: int
    ad: int
    offset_ticks: int
    duration_ticks: int

    @property
    def discontinuity(self) -> bool:
        """True on the first segment of every ad but the first."""
        return self.ad > 0 and self.offset_ticks == 0


def pod_names(config: OriginConfig) -> list[str]:
    return [*config.pods, SLATE_POD]


def pod_layout(config: OriginConfig, pod: str) -> list[PodSegment] | None:
    """Segments of ``pod`` in order, or None if there is no such pod."""
    if pod == SLATE_POD:
        return [PodSegment(0, 0, 0, to_ticks(config.slate_duration))]
    ads = config.pods.get(pod)
    if ads is None:
        return None
    step = to_ticks(config.segment_duration)
    segments: list[PodSegment] = []
    for ad, seconds in enumerate(ads):
        length = to_ticks(seconds)
        for offset in range(0, length, step):
            segments.append(PodSegment(len(segments), ad, offset, min(step, length - offset)))
    return segments
