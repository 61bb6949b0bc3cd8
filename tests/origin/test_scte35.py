"""The origin's SCTE-35 cues: byte-pinned vectors, decoded field by field, and round trips.

The origin encodes with ``sidecar.hls.scte35`` (threefive 2.4.55's encoder). The vectors below
were produced by threefive 2.5.5's own ``mk_splice_insert`` / ``Cue.encode`` (MIT) for the same
fields, before the project could run threefive in CI, and were pinned then; the same bytes now
come out of threefive 2.4.55. Each vector is also decoded and checked field by field, so a change
in either direction fails here.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.hls.scte35 import (
    Scte35Info,
    Segmentation,
    crc32_mpeg2,
    decode_scte35,
    encode_splice_insert,
    encode_time_signal,
    to_base64,
    to_hex,
)
from sidecar.origin.cues import UPID_URI

# (event_id, pts s, break duration s, out_of_network) -> base64 from threefive 2.5.5's
# mk_splice_insert (unique_program_id = event_id & 0xFFFF).
SPLICE_INSERTS = [
    ((42, 1000.0, 30.0, True), "/DAlAAAAAAAAAP/wFAUAAAAqf+/+BV1KgP4AKTLgACoAAAAASMf8jw=="),
    ((1, 10.0, 30.0, True), "/DAlAAAAAAAAAP/wFAUAAAABf+/+AA27oP4AKTLgAAEAAAAAH+cIDA=="),
    ((1, 38.0, None, False), "/DAgAAAAAAAAAP/wDwUAAAABf0/+ADQvYAABAAAAAPjKJXc="),
    ((4294967295, 95443.7, 29.97, True), "/DAlAAAAAAAAAP/wFAX/////f+/////5yP4AKShU//8AAAAA82zyxA=="),
    ((123456, None, 60.0, True), "/DAgAAAAAAAAAP/wDwUAAeJAf//+AFJlwOJAAAAAAJxYFDU="),
    ((7, 12345.678, None, False), "/DAgAAAAAAAAAP/wDwUAAAAHf0/+Qjo1bAAHAAAAAEhP4P0="),
]

# (event_id, pts s, segmentation_type_id, segmentation duration s, URI upid) -> threefive 2.5.5
# Cue(TimeSignal + SegmentationDescriptor(segment_num=1, segments_expected=1)).encode().
TIME_SIGNALS = [
    ((2, 130.0, 0x34, 30.0, b"urn:sidecar:origin:break:1"),
     "/DBIAAAAAAAAAP/wBQb+ALKHIAAyAjBDVUVJAAAAAn//AAApMuAPGnVybjpzaWRlY2FyOm9yaWdpbjpicmVhazoxNAEBAADxexOx"),
    ((2, 162.0, 0x35, None, b"urn:sidecar:origin:break:1"),
     "/DBBAAAAAAAAAP/wBQb+AN55IAArAilDVUVJAAAAAn+/Dxp1cm46c2lkZWNhcjpvcmlnaW46YnJlYWs6MTUBAX+LJEM="),
    ((99, 95000.5, 0x34, 15.5, b"x"),
     "/DAvAAAAAAAAAP/wBQb//Z9VSAAZAhdDVUVJAAAAY3//AAAVSTgPAXg0AQEAABBantM="),
]  # fmt: skip

# AWS Elemental sample (reference notes section 3.1): splice_insert, out of network,
# break_duration 47.0, auto return, pts_adjustment 2157.146889.
ELEMENTAL = "/DAlAAALkmP0AP/wFAXwAlXbf+//4dg/yP4AQItwAAEBAQAAhT3BsQ=="


def decode(payload: str | bytes) -> Scte35Info:
    info = decode_scte35(payload if isinstance(payload, str) else to_base64(payload))
    assert info is not None and info.valid, info
    return info


def insert(event_id: int, pts: float | None, duration: float | None, out: bool) -> bytes:
    return encode_splice_insert(event_id, out=out, pts=pts, duration=duration, unique_program_id=event_id & 0xFFFF)


def signal(event_id: int, pts: float, type_id: int, duration: float | None, upid: bytes) -> bytes:
    ticks = None if duration is None else round(duration * 90_000)
    return encode_time_signal(pts, [Segmentation(event_id, type_id, ticks, UPID_URI, upid, 1, 1)])


@pytest.mark.parametrize(("fields", "expected"), SPLICE_INSERTS)
def test_splice_insert_is_byte_identical_to_threefive(
    fields: tuple[int, float | None, float | None, bool], expected: str
) -> None:
    assert to_base64(insert(*fields)) == expected
    event_id, pts, duration, out = fields
    cue = decode(expected)
    assert (cue.command_type, cue.splice_event_id, cue.out_of_network) == (0x05, event_id, out)
    assert cue.pts_time == (None if pts is None else pytest.approx(pts, abs=1e-5))
    assert cue.splice_immediate == (pts is None)
    assert cue.break_duration == (None if duration is None else pytest.approx(duration, abs=1e-5))
    assert cue.auto_return == (None if duration is None else True)
    assert (cue.unique_program_id, cue.pts_adjustment) == (event_id & 0xFFFF, 0)
    raw = base64.b64decode(expected)
    assert raw[1] >> 4 == 0x3  # section_syntax_indicator 0, private_indicator 0, sap_type 3 (not specified)
    assert raw[10] == 0xFF and raw[11] >> 4 == 0xF  # tier 0xFFF


@pytest.mark.parametrize(("fields", "expected"), TIME_SIGNALS)
def test_time_signal_is_byte_identical_to_threefive(
    fields: tuple[int, float, int, float | None, bytes], expected: str
) -> None:
    assert to_base64(signal(*fields)) == expected
    event_id, pts, type_id, duration, upid = fields
    cue = decode(expected)
    assert cue.command_type == 0x06 and cue.pts_time == pytest.approx(pts, abs=1e-5)
    (seg,) = cue.segmentations
    assert (seg.event_id, seg.type_id, seg.upid_type, seg.upid) == (event_id, type_id, 0x0F, upid)
    assert seg.duration == (None if duration is None else pytest.approx(duration))
    assert (seg.segment_num, seg.segments_expected) == (1, 1)


def test_decoder_reads_a_third_party_elemental_cue() -> None:
    cue = decode(ELEMENTAL)
    assert (cue.command, cue.out_of_network, cue.break_duration, cue.auto_return) == ("splice_insert", True, 47.0, True)
    assert cue.pts_adjustment == pytest.approx(2157.146889, abs=1e-6)


def test_crc_is_crc32_mpeg2() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the catalogued check value
    section = base64.b64decode(ELEMENTAL)
    assert crc32_mpeg2(section[:-4]) == int.from_bytes(section[-4:], "big")


def test_hex_form_is_the_rfc8216_hexadecimal_sequence() -> None:
    section = insert(42, 1000.0, 30.0, True)
    text = to_hex(section)
    assert text.startswith("0xFC30") and bytes.fromhex(text[2:]) == section
    assert decode(text).splice_event_id == 42


def test_corrupted_sections_are_rejected() -> None:
    section = bytearray(insert(5, 20.0, 30.0, True))
    section[15] ^= 0x01
    info = decode_scte35(to_base64(bytes(section)))
    assert info is not None and (info.valid, info.error) == (False, "crc-mismatch")


@given(
    event_id=st.integers(0, 2**32 - 1),
    pts=st.one_of(st.none(), st.integers(0, 2**33 - 1)),
    duration=st.one_of(st.none(), st.integers(0, 2**33 - 1)),
    out=st.booleans(),
)
def test_splice_insert_round_trips(event_id: int, pts: int | None, duration: int | None, out: bool) -> None:
    section = encode_splice_insert(
        event_id,
        out=out,
        pts=None if pts is None else pts / 90_000,
        duration=None if duration is None else duration / 90_000,
    )
    cue = decode(section)
    assert (cue.splice_event_id, cue.out_of_network) == (event_id, out)
    assert (cue.pts_time_ticks, cue.break_duration_ticks) == (pts, duration)


@given(
    type_id=st.sampled_from([0x22, 0x23, 0x30, 0x31, 0x34, 0x35, 0x36, 0x37]),
    duration=st.one_of(st.none(), st.integers(0, 2**40 - 1)),
    upid=st.binary(max_size=40),
)
def test_segmentation_descriptor_round_trips(type_id: int, duration: int | None, upid: bytes) -> None:
    section = encode_time_signal(None, [Segmentation(7, type_id, duration, UPID_URI, upid)])
    (seg,) = decode(section).segmentations
    assert (seg.type_id, seg.upid, seg.duration_ticks) == (type_id, upid, duration)


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_splice_insert(2**32, out=True),
        lambda: encode_splice_insert(1, out=True, duration=2**33 / 90_000),
        lambda: encode_splice_insert(1, out=True, unique_program_id=2**16),
        lambda: encode_time_signal(None, [Segmentation(1, 0x34, upid=bytes(256))]),
        lambda: encode_time_signal(None, [Segmentation(1, 0x100)]),
    ],
)
def test_values_that_do_not_fit_are_refused(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="does not fit"):
        call()
