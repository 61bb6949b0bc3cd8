"""Typed VAST data: what the parser produces and what the client returns.

Pure data, no I/O. The shapes are deliberately narrower than the VAST schema: they keep what a
server-side inserter needs (linear creatives, media files, impressions, tracking, errors) and
drop player-only material (companions, non-linear ads, icons, verification scripts).

URLs are stored exactly as the ad server sent them, macros included. Macros such as
``[TIMESTAMP]`` and ``[CACHEBUSTING]`` mean "when this URL is requested", so they are expanded
by whoever fires the URL (``sidecar.ads.vast_macros.expand_macros``), not when the response is
parsed: a response is shared by every viewer of a break, and baking one cache-buster into it
would make every viewer's beacon identical (seed review, weakness 22).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

AdKind = Literal["inline", "wrapper"]

Outcome = Literal[
    "ok",
    "empty",
    "timeout",
    "http_error",
    "invalid",
    "wrapper_limit",
    "no_ads_after_wrapper",
    "connect_error",
    "denied",
]
"""How a VAST request ended. Every value is meant to become a metric label
(``ssai_ads_requests_total{result}``), so a failure is never hidden behind a fallback pod."""

QUARTILE_EVENTS = ("start", "firstQuartile", "midpoint", "thirdQuartile", "complete")


class VastErrorCode(IntEnum):
    """IAB VAST error codes (VAST 4.2 §2.3.6.3) that this service can report for ``[ERRORCODE]``.

    Only the codes a server-side client can actually detect are listed; the player-side ones
    (4xx media problems, 9xx VPAID) are reported by the stitcher or the player.
    """

    XML_PARSE = 100
    SCHEMA_VALIDATION = 101
    VERSION_NOT_SUPPORTED = 102
    TRAFFICKING = 200
    WRAPPER_ERROR = 300
    WRAPPER_TIMEOUT = 301
    WRAPPER_LIMIT = 302
    NO_ADS_AFTER_WRAPPER = 303
    INLINE_DISPLAY_TIMEOUT = 304
    LINEAR_GENERAL = 400
    FILE_NOT_FOUND = 401
    MEDIA_TIMEOUT = 402
    NO_SUPPORTED_MEDIA = 403
    UNDEFINED = 900


class VastError(Exception):
    """A VAST document (or fetch) could not be used; ``code`` is the IAB error code to report."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"VAST error {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One rendition of a linear creative.

    ``bitrate_kbps`` is the ``bitrate`` attribute, or ``maxBitrate`` when an adaptive file only
    declares a range: matching an ad rendition to a content variant must not under-estimate it.
    """

    url: str
    delivery: str | None
    mime_type: str | None
    bitrate_kbps: int | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None

    @property
    def is_hls(self) -> bool:
        """SSAI can only stitch HLS creatives; MP4s must be transcoded first (weakness 22)."""
        mime = (self.mime_type or "").lower()
        return "mpegurl" in mime or self.url.split("?", 1)[0].lower().endswith(".m3u8")


@dataclass(frozen=True, slots=True)
class LinearCreative:
    """A ``<Creative><Linear>``. In a wrapper it carries only tracking and click tracking.

    ``tracking`` maps the VAST event name to its URLs. ``progress`` events are keyed
    ``progress@<offset>`` (for example ``progress@00:00:10`` or ``progress@50%``) because the
    offset is what distinguishes them. ``duration_seconds`` is None for wrappers and for a
    missing or unparseable ``<Duration>``: callers must not guess an ad's length.
    """

    id: str | None
    ad_id: str | None
    universal_ad_id: str | None
    duration_seconds: float | None
    media_files: list[MediaFile] = field(default_factory=list)
    tracking: dict[str, list[str]] = field(default_factory=dict)
    click_through: str | None = None
    click_tracking: list[str] = field(default_factory=list)
    universal_ad_id_registry: str | None = None


@dataclass(frozen=True, slots=True)
class Ad:
    """One ``<Ad>``. ``sequence`` set means it belongs to a pod, in that order.

    The wrapper flags default as the VAST spec says when the attribute is absent
    (``followAdditionalWrappers`` true, ``allowMultipleAds`` false); ``fallbackOnNoAd`` has no
    stated default and is taken as true, which only matters to whoever picks a buffet ad.

    After ``fetch_vast`` resolves a wrapper, the resulting inline ad carries the merged
    impressions, errors and tracking of every wrapper above it, and ``wrapper_chain`` lists the
    tag URLs that were followed (outermost first) for logs.
    """

    id: str | None
    sequence: int | None
    kind: AdKind
    ad_system: str | None
    title: str | None
    impressions: list[str] = field(default_factory=list)
    error_urls: list[str] = field(default_factory=list)
    creatives: list[LinearCreative] = field(default_factory=list)
    wrapper_uri: str | None = None
    follow_additional_wrappers: bool = True
    allow_multiple_ads: bool = False
    fallback_on_no_ad: bool = True
    ad_serving_id: str | None = None
    wrapper_chain: list[str] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float | None:
        """Length of the ad's first timed linear creative (an ad plays one linear creative)."""
        for creative in self.creatives:
            if creative.duration_seconds is not None:
                return creative.duration_seconds
        return None


@dataclass(frozen=True, slots=True)
class VastResponse:
    """A parsed VAST document. ``errors`` are root-level ``<Error>`` URLs (no-ad responses)."""

    version: str
    ads: list[Ad] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ErrorPing:
    """An error URL the caller should request, with ``[ERRORCODE]`` and friends filled in.

    The client never fires these itself: beacons go through the beacon pipeline so that they
    are retried, de-duplicated and counted like every other event.
    """

    code: int
    url: str


@dataclass(frozen=True, slots=True)
class VastResult:
    """Everything ``fetch_vast`` learned, success or not. It never raises for remote failures.

    ``ads`` are inline ads with wrappers resolved, in response order. ``wrapper_depth`` is the
    largest number of wrappers followed on any chain. ``error_code``/``reason`` describe the
    failure that decided ``outcome`` (both empty on ``ok``; individual ads that failed inside
    an otherwise good response still appear in ``error_pings``). ``http_status`` is the status
    of the response that decided the outcome: the tag's on success, the failing hop's when a
    wrapper fetch failed, None when no response was involved (refused connection, deadline,
    wrapper limit). ``version`` is the tag's VAST version when it parsed.

    Transport failures (timeout, HTTP error, refused connection) carry code 301 even on the tag
    itself: IAB has no separate code for the first request, and treating the channel's tag as
    the outermost wrapper keeps one code per failure kind.
    """

    outcome: Outcome
    ads: list[Ad]
    wrapper_depth: int
    elapsed_s: float
    error_pings: list[ErrorPing] = field(default_factory=list)
    error_code: int | None = None
    reason: str = ""
    http_status: int | None = None
    version: str | None = None
