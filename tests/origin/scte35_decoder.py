"""An independent SCTE-35 decoder for the tests, written from ANSI/SCTE 35 section 9.

The pinned threefive 2.5.9 cannot decode (it exits on import), so the tests check the origin's
cues with this decoder instead. It is validated against third-party vectors whose decoded
values threefive reported (see test_scte35.py), so decoding the origin's output with it is a
real check, not the encoder agreeing with itself.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

TICKS = 90_000


def crc32_mpeg2(data: bytes) -> int:
    """Bitwise (table-free, unlike the encoder's) CRC-32/MPEG-2."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


class BitReader:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = len(data) * 8

    def take(self, width: int) -> int:
        if width > self.left:
            raise ValueError(f"{width} bits requested, {self.left} left")
        self.left -= width
        return (self.value >> self.left) & ((1 << width) - 1)

    def flag(self) -> bool:
        return bool(self.take(1))


@dataclass
class Segmentation:
    event_id: int
    type_id: int
    duration: float | None
    upid_type: int
    upid: bytes
    segment_num: int
    segments_expected: int


@dataclass
class Decoded:
    command_type: int
    pts_adjustment: float
    tier: int
    sap_type: int
    # splice_insert
    event_id: int | None = None
    out_of_network: bool | None = None
    splice_immediate: bool | None = None
    pts_time: float | None = None
    break_duration: float | None = None
    auto_return: bool | None = None
    unique_program_id: int | None = None
    segmentations: list[Segmentation] = field(default_factory=list)


def to_bytes(cue: str) -> bytes:
    """Base64 (OATCLS, SCTE35=) or 0x-hex (DATERANGE SCTE35-OUT/IN) text to bytes."""
    if cue[:2] in ("0x", "0X"):
        return bytes.fromhex(cue[2:])
    return base64.b64decode(cue, validate=True)


def _splice_time(bits: BitReader) -> float | None:
    if bits.flag():
        bits.take(6)
        return bits.take(33) / TICKS
    bits.take(7)
    return None


def decode(cue: str | bytes) -> Decoded:
    data = to_bytes(cue) if isinstance(cue, str) else cue
    if data[0] != 0xFC:
        raise ValueError(f"table_id {data[0]:#x} is not 0xFC")
    section_length = ((data[1] & 0x0F) << 8) | data[2]
    if section_length + 3 != len(data):
        raise ValueError(f"section_length {section_length} does not match {len(data)} bytes")
    if crc32_mpeg2(data) != 0:
        raise ValueError("CRC_32 mismatch")
    bits = BitReader(data[:-4])
    bits.take(8)
    if bits.flag() or bits.flag():
        raise ValueError("section_syntax_indicator and private_indicator must be 0")
    sap_type = bits.take(2)
    bits.take(12)
    if bits.take(8) != 0:
        raise ValueError("protocol_version must be 0")
    if bits.flag():
        raise ValueError("encrypted sections are not supported")
    bits.take(6)
    pts_adjustment = bits.take(33) / TICKS
    bits.take(8)
    tier = bits.take(12)
    command_length = bits.take(12)
    command_type = bits.take(8)
    out = Decoded(command_type, pts_adjustment, tier, sap_type)
    start = bits.left
    if command_type == 0x05:
        out.event_id = bits.take(32)
        if bits.flag():
            raise ValueError("cancelled splice_insert")
        bits.take(7)
        out.out_of_network = bits.flag()
        program_splice = bits.flag()
        duration_flag = bits.flag()
        out.splice_immediate = bits.flag()
        bits.take(4)
        if not program_splice:
            raise ValueError("component splices are not expected")
        if not out.splice_immediate:
            out.pts_time = _splice_time(bits)
        if duration_flag:
            out.auto_return = bits.flag()
            bits.take(6)
            out.break_duration = bits.take(33) / TICKS
        out.unique_program_id = bits.take(16)
        bits.take(16)  # avail_num, avails_expected
    elif command_type == 0x06:
        out.pts_time = _splice_time(bits)
    else:
        raise ValueError(f"unexpected splice_command_type {command_type:#x}")
    if start - bits.left != command_length * 8:
        raise ValueError("splice_command_length does not match the command")
    loop_length = bits.take(16)
    end = bits.left - loop_length * 8
    while bits.left > end:
        tag, length = bits.take(8), bits.take(8)
        body_end = bits.left - length * 8
        if tag == 0x02:
            out.segmentations.append(_segmentation(bits))
        if bits.left < body_end:
            raise ValueError("descriptor overruns its length")
        bits.take(bits.left - body_end)
    if bits.left != 0:
        raise ValueError(f"{bits.left} unexpected trailing bits")
    return out


def _segmentation(bits: BitReader) -> Segmentation:
    if bits.take(32) != 0x43554549:
        raise ValueError("descriptor identifier is not CUEI")
    event_id = bits.take(32)
    if bits.flag():
        raise ValueError("cancelled segmentation event")
    bits.take(7)
    if not bits.flag():
        raise ValueError("component segmentation is not expected")
    has_duration = bits.flag()
    bits.take(6)
    duration = bits.take(40) / TICKS if has_duration else None
    upid_type, upid_length = bits.take(8), bits.take(8)
    upid = bytes(bits.take(8) for _ in range(upid_length))
    type_id = bits.take(8)
    segment_num, segments_expected = bits.take(8), bits.take(8)
    if type_id in (0x34, 0x36, 0x38, 0x3A, 0x44, 0x46):
        bits.take(16)
    return Segmentation(event_id, type_id, duration, upid_type, upid, segment_num, segments_expected)
