"""The VAST client's public surface: import from here, not from the ``vast_*`` modules.

The implementation is split by concern (``vast_model`` data, ``vast_parse`` hostile-input
parsing, ``vast_macros`` URL macros, ``vast_client`` fetching and wrapper resolution) so each
piece stays small and can be tested alone; callers should not need to know that.
"""

from __future__ import annotations

from sidecar.ads.vast_client import DEFAULT_MAX_WRAPPER_DEPTH, fetch_vast
from sidecar.ads.vast_macros import SUPPORTED_MACROS, expand_macros
from sidecar.ads.vast_model import (
    QUARTILE_EVENTS,
    Ad,
    AdKind,
    ErrorPing,
    LinearCreative,
    MediaFile,
    Outcome,
    VastError,
    VastErrorCode,
    VastResponse,
    VastResult,
)
from sidecar.ads.vast_parse import DEFAULT_MAX_BYTES, parse_duration, parse_vast

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_WRAPPER_DEPTH",
    "QUARTILE_EVENTS",
    "SUPPORTED_MACROS",
    "Ad",
    "AdKind",
    "ErrorPing",
    "LinearCreative",
    "MediaFile",
    "Outcome",
    "VastError",
    "VastErrorCode",
    "VastResponse",
    "VastResult",
    "expand_macros",
    "fetch_vast",
    "parse_duration",
    "parse_vast",
]
