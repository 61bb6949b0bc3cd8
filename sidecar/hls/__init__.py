"""The pure HLS text layer: parse, detect cues (SCTE-35), render. No I/O anywhere in here.

Parse each origin playlist once per update (``parse_media``), read ``MediaPlaylist.cues``, and
render every output from the structured window (``render_media``). ``rewrite_master`` maps the
URIs of a master playlist and leaves every other byte alone.
"""

from sidecar.hls.attributes import parse_attributes, parse_pdt
from sidecar.hls.cues import cues_of, detect_cues, pdt_key, snap_to_boundary
from sidecar.hls.model import (
    Cue,
    CueDialect,
    CueKind,
    HeaderSource,
    MasterPlaylist,
    MediaPlaylist,
    Segment,
    SegmentSource,
    Variant,
)
from sidecar.hls.parse import PlaylistError, parse_master, parse_media
from sidecar.hls.scte35 import (
    SEGMENTATION_TYPES,
    Scte35Info,
    Segmentation,
    SegmentationType,
    Signal,
    decode_scte35,
    encode_splice_insert,
    encode_time_signal,
    segmentation_type,
    signals,
    to_base64,
    to_hex,
)
from sidecar.hls.write import format_duration, format_pdt, render_media, rewrite_master

__all__ = [
    "SEGMENTATION_TYPES",
    "Cue",
    "CueDialect",
    "CueKind",
    "HeaderSource",
    "MasterPlaylist",
    "MediaPlaylist",
    "PlaylistError",
    "Scte35Info",
    "Segment",
    "SegmentSource",
    "Segmentation",
    "SegmentationType",
    "Signal",
    "Variant",
    "cues_of",
    "decode_scte35",
    "detect_cues",
    "encode_splice_insert",
    "encode_time_signal",
    "format_duration",
    "format_pdt",
    "parse_attributes",
    "parse_master",
    "parse_media",
    "parse_pdt",
    "pdt_key",
    "render_media",
    "rewrite_master",
    "segmentation_type",
    "signals",
    "snap_to_boundary",
    "to_base64",
    "to_hex",
]
