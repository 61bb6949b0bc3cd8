"""SCTE-35 ``splice_info_section`` decoding and encoding: pure, typed, never raises, never prints.

Why this is not threefive: the ``threefive==2.5.9`` wheel pinned in pyproject is a deprecation
stub. Its ``__init__`` prints a banner to stdout and calls ``sys.exit()``, so importing it ends
the process with status 0. threefive 3.x is GPL, and the real 2.x releases (2.5.5 and earlier)
pull in further packages by the same author. This module therefore implements the part of
ANSI/SCTE 35 2023r1 that an ad inserter needs, and nothing more:

* the section header (section 9.6), including its length checks and the MPEG-2 CRC-32;
* ``splice_null`` (9.7.1), ``splice_insert`` (9.7.3), ``time_signal`` (9.7.4),
  ``bandwidth_reservation`` (9.7.5) and ``private_command`` (9.7.6), the last two by name only;
* ``segmentation_descriptor`` (10.3.3) with its UPID bytes, type, duration and segment numbers.
  Other descriptors are skipped.

During development its results were cross-checked field by field against threefive 2.5.5 (MIT)
on the published payloads used in ``tests/hls``.

Payloads arrive as base64 (``EXT-OATCLS-SCTE35``, ``EXT-X-SPLICEPOINT-SCTE35``, the ``CUE``
attribute, and ``SCTE35=`` in ``CUE-OUT-CONT``) or as hex with ``0x`` (DATERANGE ``SCTE35-*``,
RFC 8216 section 4.3.2.7.1). ``decode_scte35`` accepts both. Every failure becomes an
``Scte35Info`` with ``valid=False`` and a short machine-readable ``error``, because an origin's
garbage must never take a channel down.

Results are memoised, since the same payload repeats on every ``CUE-OUT-CONT`` line and on every
reload. ``SEGMENTATION_TYPES`` is the single table that maps a ``segmentation_type_id`` to a cue
kind: the splicer, the metrics and the probes all use it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

TICKS_PER_SECOND = 90_000
PTS_MODULO = 1 << 33
MAX_PAYLOAD_CHARS = 8192  # a splice_info_section is at most 4096 bytes: 5462 base64 chars or 8194 hex chars

SignalKind = Literal["out", "in", "other"]


# ---------------------------------------------------------------------------------------------
# The segmentation_type_id table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentationType:
    """One row of ANSI/SCTE 35 2023r1 Table 23 (``segmentation_type_id``).

    ``kind`` is what an ad inserter does with it: ``out``/``in`` for the edges of a linear ad
    break, ``other`` for everything else. ``other`` covers program and chapter boundaries,
    overlays, promos and unscheduled events; such signals are counted but never opened as breaks.
    """

    type_id: int
    name: str
    kind: SignalKind


def _row(type_id: int, name: str, kind: SignalKind = "other") -> tuple[int, SegmentationType]:
    return type_id, SegmentationType(type_id, name, kind)


# ANSI/SCTE 35 2023r1, section 10.3.3.1, Table 23 "segmentation_type_id". Ad-break edges follow
# what ad inserters act on (AWS MediaTailor treats 0x22, 0x30, 0x32, 0x34 and 0x36 as cue-outs;
# SCTE 35 2023 adds the 0x44/0x46 ad blocks as containers of ad breaks).
#
# Decisions worth knowing:
# * 0x10/0x11 Program Start/End are NOT ad breaks. The seed system read 0x10 as an OUT in one code
#   path and as an END in another.
# * 0x38-0x3B overlay placement opportunities are ad-related, but an overlay runs on top of
#   content and does not replace it, so they are ``other`` (counted, never spliced).
# * 0x3C-0x3F promos and 0x40/0x41 unscheduled events (for example breaking news) are not ads.
SEGMENTATION_TYPES: Mapping[int, SegmentationType] = dict(
    [
        _row(0x00, "Not Indicated"),
        _row(0x01, "Content Identification"),
        _row(0x02, "Call Ad Server"),
        _row(0x10, "Program Start"),
        _row(0x11, "Program End"),
        _row(0x12, "Program Early Termination"),
        _row(0x13, "Program Breakaway"),
        _row(0x14, "Program Resumption"),
        _row(0x15, "Program Runover Planned"),
        _row(0x16, "Program Runover Unplanned"),
        _row(0x17, "Program Overlap Start"),
        _row(0x18, "Program Blackout Override"),
        _row(0x19, "Program Join"),
        _row(0x20, "Chapter Start"),
        _row(0x21, "Chapter End"),
        _row(0x22, "Break Start", "out"),
        _row(0x23, "Break End", "in"),
        _row(0x30, "Provider Advertisement Start", "out"),
        _row(0x31, "Provider Advertisement End", "in"),
        _row(0x32, "Distributor Advertisement Start", "out"),
        _row(0x33, "Distributor Advertisement End", "in"),
        _row(0x34, "Provider Placement Opportunity Start", "out"),
        _row(0x35, "Provider Placement Opportunity End", "in"),
        _row(0x36, "Distributor Placement Opportunity Start", "out"),
        _row(0x37, "Distributor Placement Opportunity End", "in"),
        _row(0x38, "Provider Overlay Placement Opportunity Start"),
        _row(0x39, "Provider Overlay Placement Opportunity End"),
        _row(0x3A, "Distributor Overlay Placement Opportunity Start"),
        _row(0x3B, "Distributor Overlay Placement Opportunity End"),
        _row(0x3C, "Provider Promo Start"),
        _row(0x3D, "Provider Promo End"),
        _row(0x3E, "Distributor Promo Start"),
        _row(0x3F, "Distributor Promo End"),
        _row(0x40, "Unscheduled Event Start"),
        _row(0x41, "Unscheduled Event End"),
        _row(0x42, "Alternate Content Opportunity Start"),
        _row(0x43, "Alternate Content Opportunity End"),
        _row(0x44, "Provider Ad Block Start", "out"),
        _row(0x45, "Provider Ad Block End", "in"),
        _row(0x46, "Distributor Ad Block Start", "out"),
        _row(0x47, "Distributor Ad Block End", "in"),
        _row(0x50, "Network Start"),
        _row(0x51, "Network End"),
    ]
)


def segmentation_type(type_id: int) -> SegmentationType:
    """The table row for ``type_id``. Unknown ids are ``other``, named by their hex value."""
    row = SEGMENTATION_TYPES.get(type_id)
    return row if row is not None else SegmentationType(type_id, f"Unknown 0x{type_id:02X}", "other")


COMMAND_NAMES: Mapping[int, str] = {
    0x00: "splice_null",
    0x04: "splice_schedule",
    0x05: "splice_insert",
    0x06: "time_signal",
    0x07: "bandwidth_reservation",
    0xFF: "private_command",
}


# ---------------------------------------------------------------------------------------------
# Decoded model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segmentation:
    """One ``segmentation_descriptor`` (SCTE 35 section 10.3.3). Also the encoder's input."""

    event_id: int
    type_id: int = 0
    duration_ticks: int | None = None
    upid_type: int = 0
    upid: bytes = b""
    segment_num: int = 0
    segments_expected: int = 0
    cancel: bool = False

    @property
    def duration(self) -> float | None:
        """``segmentation_duration`` in seconds."""
        return None if self.duration_ticks is None else self.duration_ticks / TICKS_PER_SECOND

    @property
    def type(self) -> SegmentationType:
        return segmentation_type(self.type_id)


@dataclass(frozen=True, slots=True)
class Scte35Info:
    """A decoded ``splice_info_section``, or the reason it could not be decoded.

    Times are kept in 90 kHz ticks, as on the wire, so that nothing is lost to float rounding.
    The ``*_seconds`` properties convert them. ``splice_pts_seconds`` applies ``pts_adjustment``
    modulo 2^33, as section 9.6.1 requires.
    """

    valid: bool
    error: str | None = None
    command_type: int | None = None
    command: str = ""
    pts_adjustment_ticks: int = 0
    pts_time_ticks: int | None = None
    splice_event_id: int | None = None
    cancel: bool = False
    out_of_network: bool | None = None
    splice_immediate: bool = False
    break_duration_ticks: int | None = None
    auto_return: bool | None = None
    unique_program_id: int | None = None
    avail_num: int | None = None
    avails_expected: int | None = None
    segmentations: tuple[Segmentation, ...] = ()

    @property
    def break_duration(self) -> float | None:
        """``break_duration`` of a ``splice_insert`` in seconds."""
        t = self.break_duration_ticks
        return None if t is None else t / TICKS_PER_SECOND

    @property
    def pts_adjustment(self) -> float:
        return self.pts_adjustment_ticks / TICKS_PER_SECOND

    @property
    def pts_time(self) -> float | None:
        """The splice_time ``pts_time`` in seconds, before ``pts_adjustment``."""
        t = self.pts_time_ticks
        return None if t is None else t / TICKS_PER_SECOND

    @property
    def splice_pts_seconds(self) -> float | None:
        """The splice point in the stream's PTS timeline: (pts_time + pts_adjustment) mod 2^33."""
        t = self.pts_time_ticks
        if t is None:
            return None
        return ((t + self.pts_adjustment_ticks) % PTS_MODULO) / TICKS_PER_SECOND


def invalid(error: str) -> Scte35Info:
    return Scte35Info(valid=False, error=error)


# ---------------------------------------------------------------------------------------------
# CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor)
# ---------------------------------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[((crc >> 24) ^ b) & 0xFF]
    return crc


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


class _Truncated(Exception):
    """Raised inside the decoder only; ``decode_bytes`` turns it into ``invalid("truncated")``."""


class _Bits:
    """A big-endian bit reader over a bytes slice. Reads past ``end`` raise ``_Truncated``."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data = data
        self.pos = start * 8
        self.end = end * 8

    def read(self, n: int) -> int:
        if self.pos + n > self.end:
            raise _Truncated
        first, last = self.pos >> 3, (self.pos + n + 7) >> 3
        chunk = int.from_bytes(self.data[first:last], "big")
        shift = (last << 3) - (self.pos + n)
        self.pos += n
        return (chunk >> shift) & ((1 << n) - 1)

    def flag(self) -> bool:
        return self.read(1) == 1

    def skip(self, n: int) -> None:
        if self.pos + n > self.end:
            raise _Truncated
        self.pos += n

    def take(self, nbytes: int) -> bytes:
        if self.pos & 7 or self.pos + nbytes * 8 > self.end:
            raise _Truncated
        start = self.pos >> 3
        self.pos += nbytes * 8
        return self.data[start : start + nbytes]

    @property
    def byte_pos(self) -> int:
        return self.pos >> 3


def payload_bytes(payload: str) -> bytes | None:
    """The raw section bytes of a ``0x``-hex or base64 payload, or None if it is neither."""
    text = payload.strip().strip('"')
    if not text or len(text) > MAX_PAYLOAD_CHARS:
        return None
    try:
        if text[:2] in ("0x", "0X"):
            return bytes.fromhex(text[2:])
        if text[:2] in ("FC", "fc") and len(text) % 2 == 0:
            try:
                return bytes.fromhex(text)
            except ValueError:
                pass  # not hex after all: fall through to base64
        if "-" in text or "_" in text:
            text = text.replace("-", "+").replace("_", "/")
        text += "=" * (-len(text) % 4)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return None


def _splice_time(r: _Bits) -> int | None:
    if r.flag():  # time_specified_flag
        r.skip(6)
        return r.read(33)
    r.skip(7)
    return None


def _segmentation(r: _Bits) -> Segmentation:
    event_id = r.read(32)
    cancel = r.flag()
    r.skip(7)  # segmentation_event_id_compliance_indicator + reserved
    if cancel:
        return Segmentation(event_id=event_id, cancel=True)
    program_segmentation = r.flag()
    has_duration = r.flag()
    r.skip(6)  # delivery_not_restricted_flag + restriction flags (or reserved)
    if not program_segmentation:
        r.skip(r.read(8) * 48)  # per component: component_tag 8, reserved 7, pts_offset 33
    duration = r.read(40) if has_duration else None
    upid_type = r.read(8)
    upid = r.take(r.read(8))
    type_id = r.read(8)
    segment_num = r.read(8)
    segments_expected = r.read(8)
    # sub_segment_num / sub_segments_expected may follow for some types: not needed here.
    return Segmentation(event_id, type_id, duration, upid_type, upid, segment_num, segments_expected)


def _splice_insert(r: _Bits) -> Scte35Info:
    event_id = r.read(32)
    cancel = r.flag()
    r.skip(7)
    if cancel:
        return Scte35Info(valid=True, splice_event_id=event_id, cancel=True)
    out_of_network = r.flag()
    program_splice = r.flag()
    has_duration = r.flag()
    immediate = r.flag()
    r.skip(4)  # event_id_compliance_flag + reserved
    pts: int | None = None
    if program_splice and not immediate:
        pts = _splice_time(r)
    if not program_splice:
        for _ in range(r.read(8)):
            r.skip(8)  # component_tag
            if not immediate:
                _splice_time(r)
    auto_return: bool | None = None
    duration: int | None = None
    if has_duration:
        auto_return = r.flag()
        r.skip(6)
        duration = r.read(33)
    return Scte35Info(
        valid=True,
        pts_time_ticks=pts,
        splice_event_id=event_id,
        out_of_network=out_of_network,
        splice_immediate=immediate,
        break_duration_ticks=duration,
        auto_return=auto_return,
        unique_program_id=r.read(16),
        avail_num=r.read(8),
        avails_expected=r.read(8),
    )


def decode_bytes(data: bytes) -> Scte35Info:
    """Decode one ``splice_info_section``. Never raises."""
    try:
        return _decode(data)
    except _Truncated:
        return invalid("truncated")
    except Exception:  # a decoder bug must not take a channel down
        return invalid("decoder-error")


# Bytes after section_length: protocol_version .. splice_command_type (11), descriptor_loop_length
# (2) and CRC_32 (4). A section is never shorter than that.
_MIN_SECTION_LENGTH = 17


def _decode(data: bytes) -> Scte35Info:
    if len(data) < _MIN_SECTION_LENGTH + 3:
        return invalid("too-short")
    if data[0] != 0xFC:
        return invalid("not-scte35")
    section_length = ((data[1] & 0x0F) << 8) | data[2]
    total = section_length + 3
    if total > len(data) or section_length < _MIN_SECTION_LENGTH:
        return invalid("bad-length")
    crc_ok = crc32_mpeg2(data[:total]) == 0
    r = _Bits(data, 3, total - 4)
    r.skip(8)  # protocol_version
    if r.flag():
        return invalid("encrypted")
    r.skip(6)  # encryption_algorithm
    pts_adjustment = r.read(33)
    r.skip(8 + 12)  # cw_index, tier
    command_length = r.read(12)
    command_type = r.read(8)
    command_start = r.byte_pos
    if command_type == 0x05:
        info = _splice_insert(r)
    elif command_type == 0x06:
        info = Scte35Info(valid=True, pts_time_ticks=_splice_time(r))
    elif command_type in (0x00, 0x07) or command_length != 0xFFF:
        # splice_null and bandwidth_reservation are empty; splice_schedule, private_command and
        # reserved types are skipped by their declared length.
        info = Scte35Info(valid=True)
        if command_type not in (0x00, 0x07):
            r.skip(command_length * 8)
    else:
        return invalid("unsupported-command")
    if command_length != 0xFFF and r.byte_pos != command_start + command_length:
        return invalid("bad-command-length")
    segmentations: list[Segmentation] = []
    loop_end = r.byte_pos + 2 + r.read(16)
    if loop_end > total - 4:
        raise _Truncated
    while r.byte_pos < loop_end:
        tag = r.read(8)
        length = r.read(8)
        body_end = r.byte_pos + length
        if body_end > loop_end:
            raise _Truncated
        if tag == 0x02 and r.read(32) == 0x43554549:  # segmentation_descriptor, "CUEI"
            segmentations.append(_segmentation(_Bits(data, r.byte_pos, body_end)))
        r.pos = body_end * 8
    return replace(
        info,
        valid=crc_ok,
        error=None if crc_ok else "crc-mismatch",
        command_type=command_type,
        command=COMMAND_NAMES.get(command_type, f"reserved_0x{command_type:02x}"),
        pts_adjustment_ticks=pts_adjustment,
        segmentations=tuple(segmentations),
    )


@lru_cache(maxsize=1024)
def decode_scte35(payload: str) -> Scte35Info | None:
    """Decode a base64 or ``0x``-hex payload. None for an empty payload, never raises.

    A payload that is present but unusable gives ``Scte35Info(valid=False, error=...)``.
    ``error`` is one of ``bad-encoding``, ``too-short``, ``not-scte35``, ``bad-length``,
    ``truncated``, ``encrypted``, ``unsupported-command``, ``bad-command-length`` or
    ``crc-mismatch``. A CRC mismatch keeps the decoded fields, so they can be logged.
    """
    if not payload.strip().strip('"'):
        return None
    data = payload_bytes(payload)
    if data is None:
        return invalid("bad-encoding")
    return decode_bytes(data)


# ---------------------------------------------------------------------------------------------
# From a decoded section to ad signals
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """What one section means to an ad inserter. A time_signal gives one per descriptor."""

    kind: SignalKind
    event_id: str | None = None
    segmentation_type: int | None = None
    duration: float | None = None


def splice_event_key(event_id: int) -> str:
    return f"splice:{event_id}"


def segmentation_event_key(event_id: int) -> str:
    return f"seg:{event_id}"


def signals(info: Scte35Info) -> tuple[Signal, ...]:
    """Normalise a section into ad signals.

    * ``splice_insert``: ``out`` if ``out_of_network_indicator`` else ``in``. The event id is
      ``splice:<splice_event_id>`` and the duration is ``break_duration``.
    * ``time_signal``: one signal per segmentation descriptor, with the kind taken from
      ``SEGMENTATION_TYPES``. The event id is ``seg:<segmentation_event_id>`` and the duration
      is ``segmentation_duration``.
    * Cancellations, other commands, a time_signal without descriptors and invalid sections
      give a single ``other``.
    """
    if not info.valid:
        return (Signal("other"),)
    if info.command_type == 0x05 and info.splice_event_id is not None:
        key = splice_event_key(info.splice_event_id)
        if info.cancel:
            return (Signal("other", key),)
        kind: SignalKind = "out" if info.out_of_network else "in"
        return (Signal(kind, key, None, info.break_duration),)
    if info.command_type == 0x06 and info.segmentations:
        out = []
        for seg in info.segmentations:
            key = segmentation_event_key(seg.event_id)
            if seg.cancel:
                out.append(Signal("other", key))
            else:
                out.append(Signal(seg.type.kind, key, seg.type_id, seg.duration))
        return tuple(out)
    return (Signal("other"),)


# ---------------------------------------------------------------------------------------------
# Encoding (test payloads and the synthetic origin)
# ---------------------------------------------------------------------------------------------


class _Writer:
    __slots__ = ("nbits", "value")

    def __init__(self) -> None:
        self.value = 0
        self.nbits = 0

    def put(self, n: int, v: int) -> None:
        if v < 0 or v >= (1 << n):
            raise ValueError(f"{v} does not fit in {n} bits")
        self.value = (self.value << n) | v
        self.nbits += n

    def flag(self, v: bool) -> None:
        self.put(1, int(v))

    def ones(self, n: int) -> None:
        self.put(n, (1 << n) - 1)

    def tobytes(self) -> bytes:
        if self.nbits % 8:
            raise ValueError("unaligned section")
        return self.value.to_bytes(self.nbits // 8, "big")


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def _put_splice_time(w: _Writer, pts: float | None) -> None:
    if pts is None:
        w.flag(False)
        w.ones(7)
    else:
        w.flag(True)
        w.ones(6)
        w.put(33, _ticks(pts) % PTS_MODULO)


def _section(command_type: int, command: bytes, descriptors: bytes, pts_adjustment: float) -> bytes:
    body = _Writer()
    body.put(8, 0)  # protocol_version
    body.flag(False)  # encrypted_packet
    body.put(6, 0)  # encryption_algorithm
    body.put(33, _ticks(pts_adjustment) % PTS_MODULO)
    body.put(8, 0)  # cw_index
    body.put(12, 0xFFF)  # tier
    body.put(12, len(command))
    body.put(8, command_type)
    rest = body.tobytes() + command + len(descriptors).to_bytes(2, "big") + descriptors
    section_length = len(rest) + 4
    head = bytes([0xFC, 0x30 | (section_length >> 8), section_length & 0xFF])
    section = head + rest
    return section + crc32_mpeg2(section).to_bytes(4, "big")


def encode_splice_insert(
    event_id: int,
    *,
    out: bool,
    pts: float | None = None,
    duration: float | None = None,
    auto_return: bool = True,
    pts_adjustment: float = 0.0,
    unique_program_id: int = 1,
    avail_num: int = 0,
    avails_expected: int = 0,
    cancel: bool = False,
) -> bytes:
    """A ``splice_insert`` section. ``pts=None`` means ``splice_immediate``."""
    w = _Writer()
    w.put(32, event_id)
    w.flag(cancel)
    w.ones(7)
    if not cancel:
        w.flag(out)
        w.flag(True)  # program_splice_flag
        w.flag(duration is not None)
        w.flag(pts is None)  # splice_immediate_flag
        w.flag(True)  # event_id_compliance_flag
        w.ones(3)
        if pts is not None:
            _put_splice_time(w, pts)
        if duration is not None:
            w.flag(auto_return)
            w.ones(6)
            w.put(33, _ticks(duration))
        w.put(16, unique_program_id)
        w.put(8, avail_num)
        w.put(8, avails_expected)
    return _section(0x05, w.tobytes(), b"", pts_adjustment)


# Placement-opportunity starts carry sub_segment_num/sub_segments_expected (SCTE 35 2023r1
# section 10.3.3.1). Decoders that read them unconditionally (threefive) would otherwise run into
# the next descriptor.
_SUB_SEGMENT_TYPES = frozenset({0x34, 0x36, 0x38, 0x3A})


def _segmentation_descriptor(seg: Segmentation) -> bytes:
    w = _Writer()
    w.put(32, 0x43554549)  # "CUEI"
    w.put(32, seg.event_id)
    w.flag(seg.cancel)
    w.flag(True)  # segmentation_event_id_compliance_indicator
    w.ones(6)
    if not seg.cancel:
        w.flag(True)  # program_segmentation_flag
        w.flag(seg.duration_ticks is not None)
        w.flag(True)  # delivery_not_restricted_flag
        w.ones(5)
        if seg.duration_ticks is not None:
            w.put(40, seg.duration_ticks)
        w.put(8, seg.upid_type)
        w.put(8, len(seg.upid))
        body = w.tobytes() + seg.upid
        tail = _Writer()
        tail.put(8, seg.type_id)
        tail.put(8, seg.segment_num)
        tail.put(8, seg.segments_expected)
        if seg.type_id in _SUB_SEGMENT_TYPES:
            tail.put(16, 0)  # sub_segment_num, sub_segments_expected
        body += tail.tobytes()
    else:
        body = w.tobytes()
    return bytes([0x02, len(body)]) + body


def encode_time_signal(
    pts: float | None, segmentations: Sequence[Segmentation] = (), *, pts_adjustment: float = 0.0
) -> bytes:
    """A ``time_signal`` section carrying the given segmentation descriptors."""
    w = _Writer()
    _put_splice_time(w, pts)
    descriptors = b"".join(_segmentation_descriptor(s) for s in segmentations)
    return _section(0x06, w.tobytes(), descriptors, pts_adjustment)


def encode_splice_null() -> bytes:
    return _section(0x00, b"", b"", 0.0)


def to_base64(section: bytes) -> str:
    """The form used by ``EXT-OATCLS-SCTE35``, ``EXT-X-SPLICEPOINT-SCTE35`` and ``CUE=``."""
    return base64.b64encode(section).decode("ascii")


def to_hex(section: bytes) -> str:
    """The ``0x``-prefixed form used by DATERANGE ``SCTE35-OUT``/``-IN``/``-CMD``."""
    return "0x" + section.hex().upper()
