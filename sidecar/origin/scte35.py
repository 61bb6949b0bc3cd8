"""Minimal SCTE-35 ``splice_info_section`` encoder (ANSI/SCTE 35 2023, section 9).

Why hand-written: the pinned ``threefive==2.5.9`` wheel is a tombstone (its ``__init__`` prints
a deprecation notice and calls ``sys.exit()``), so it can neither encode nor decode, and
threefive 3.x is GPL. The origin only needs two commands (``splice_insert`` and ``time_signal``
with a ``segmentation_descriptor``), which are a few dozen bits each. Reserved bits are written
as 1 and ``event_id_compliance_flag`` as 1, exactly as threefive 2.x's encoder does, so the
output is byte-identical to threefive's for the same fields (the tests pin such vectors).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from sidecar.origin.config import TICKS_PER_SECOND

TABLE_ID = 0xFC
SPLICE_INSERT = 0x05
TIME_SIGNAL = 0x06
SEGMENTATION_DESCRIPTOR_TAG = 0x02
CUEI = 0x43554549  # "CUEI": identifier of SCTE-35 splice descriptors

SEG_PROVIDER_PLACEMENT_OPPORTUNITY_START = 0x34
SEG_PROVIDER_PLACEMENT_OPPORTUNITY_END = 0x35
UPID_URI = 0x0F

# segmentation_type_ids followed by sub_segment_num / sub_segments_expected (Table 22).
_SUB_SEGMENT_TYPES = frozenset({0x34, 0x36, 0x38, 0x3A, 0x44, 0x46})

_MASK33 = (1 << 33) - 1


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((crc >> 24) ^ byte) & 0xFF]
    return crc


class _Bits:
    """Big-endian bit writer; fields are appended most significant bit first."""

    def __init__(self) -> None:
        self._value = 0
        self._length = 0

    def put(self, value: int, width: int) -> None:
        if value < 0 or value >> width:
            raise ValueError(f"{value} does not fit in {width} bits")
        self._value = (self._value << width) | value
        self._length += width

    def flag(self, value: bool) -> None:
        self.put(int(value), 1)

    def reserved(self, width: int) -> None:
        self.put((1 << width) - 1, width)

    def to_bytes(self) -> bytes:
        if self._length % 8:
            raise ValueError("bit string is not byte aligned")
        return self._value.to_bytes(self._length // 8, "big")


def seconds_to_ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def _splice_time(bits: _Bits, pts_ticks: int | None) -> None:
    if pts_ticks is None:
        bits.flag(False)
        bits.reserved(7)
    else:
        bits.flag(True)
        bits.reserved(6)
        bits.put(pts_ticks & _MASK33, 33)


@dataclass(frozen=True)
class SpliceInsert:
    """``splice_insert()`` for the whole program. ``pts_ticks=None`` means splice immediately."""

    event_id: int
    out_of_network: bool
    pts_ticks: int | None = None
    break_duration_ticks: int | None = None
    auto_return: bool = True
    unique_program_id: int = 0
    avail_num: int = 0
    avails_expected: int = 0

    command_type = SPLICE_INSERT

    def encode(self) -> bytes:
        bits = _Bits()
        bits.put(self.event_id, 32)
        bits.flag(False)  # splice_event_cancel_indicator
        bits.reserved(7)
        bits.flag(self.out_of_network)
        bits.flag(True)  # program_splice_flag
        bits.flag(self.break_duration_ticks is not None)  # duration_flag
        bits.flag(self.pts_ticks is None)  # splice_immediate_flag
        bits.flag(True)  # event_id_compliance_flag
        bits.reserved(3)
        if self.pts_ticks is not None:
            _splice_time(bits, self.pts_ticks)
        if self.break_duration_ticks is not None:
            bits.flag(self.auto_return)
            bits.reserved(6)
            bits.put(self.break_duration_ticks, 33)
        bits.put(self.unique_program_id, 16)
        bits.put(self.avail_num, 8)
        bits.put(self.avails_expected, 8)
        return bits.to_bytes()


@dataclass(frozen=True)
class TimeSignal:
    """``time_signal()``: a timestamp that descriptors (segmentation) give meaning to."""

    pts_ticks: int | None

    command_type = TIME_SIGNAL

    def encode(self) -> bytes:
        bits = _Bits()
        _splice_time(bits, self.pts_ticks)
        return bits.to_bytes()


@dataclass(frozen=True)
class SegmentationDescriptor:
    """Program-level ``segmentation_descriptor()`` with delivery not restricted."""

    event_id: int
    type_id: int
    duration_ticks: int | None = None
    upid_type: int = 0
    upid: bytes = b""
    segment_num: int = 0
    segments_expected: int = 0
    sub_segment_num: int = 0
    sub_segments_expected: int = 0

    def encode(self) -> bytes:
        bits = _Bits()
        bits.put(CUEI, 32)
        bits.put(self.event_id, 32)
        bits.flag(False)  # segmentation_event_cancel_indicator
        bits.flag(True)  # segmentation_event_id_compliance_indicator
        bits.reserved(6)
        bits.flag(True)  # program_segmentation_flag
        bits.flag(self.duration_ticks is not None)  # segmentation_duration_flag
        bits.flag(True)  # delivery_not_restricted_flag
        bits.reserved(5)
        if self.duration_ticks is not None:
            bits.put(self.duration_ticks, 40)
        bits.put(self.upid_type, 8)
        bits.put(len(self.upid), 8)
        for byte in self.upid:
            bits.put(byte, 8)
        bits.put(self.type_id, 8)
        bits.put(self.segment_num, 8)
        bits.put(self.segments_expected, 8)
        if self.type_id in _SUB_SEGMENT_TYPES:
            bits.put(self.sub_segment_num, 8)
            bits.put(self.sub_segments_expected, 8)
        body = bits.to_bytes()
        return bytes([SEGMENTATION_DESCRIPTOR_TAG, len(body)]) + body


SpliceCommand = SpliceInsert | TimeSignal


def splice_info_section(
    command: SpliceCommand,
    descriptors: Sequence[SegmentationDescriptor] = (),
    *,
    pts_adjustment: int = 0,
    tier: int = 0xFFF,
) -> bytes:
    """A complete, CRC-terminated ``splice_info_section()`` (unencrypted, sap_type 3)."""
    command_bytes = command.encode()
    loop = b"".join(d.encode() for d in descriptors)
    body = _Bits()
    body.put(0, 8)  # protocol_version
    body.flag(False)  # encrypted_packet
    body.put(0, 6)  # encryption_algorithm
    body.put(pts_adjustment & _MASK33, 33)
    body.put(0, 8)  # cw_index
    body.put(tier, 12)
    body.put(len(command_bytes), 12)
    body.put(command.command_type, 8)
    tail = body.to_bytes() + command_bytes + len(loop).to_bytes(2, "big") + loop
    section_length = len(tail) + 4  # bytes after section_length, CRC included
    head = _Bits()
    head.put(TABLE_ID, 8)
    head.flag(False)  # section_syntax_indicator
    head.flag(False)  # private_indicator
    head.put(0b11, 2)  # sap_type: not specified
    head.put(section_length, 12)
    section = head.to_bytes() + tail
    return section + crc32_mpeg2(section).to_bytes(4, "big")


def to_base64(section: bytes) -> str:
    """For ``#EXT-OATCLS-SCTE35`` and ``SCTE35=`` attributes."""
    return base64.b64encode(section).decode("ascii")


def to_hex(section: bytes) -> str:
    """For DATERANGE ``SCTE35-OUT`` / ``SCTE35-IN`` / ``SCTE35-CMD`` (RFC 8216 hex sequence)."""
    return "0x" + section.hex().upper()
