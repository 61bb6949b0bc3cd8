"""SCTE-35 decoding against published payloads, garbage handling, the type table, the encoder.

Decoding and encoding are threefive 2.4.55's; ``sidecar.hls.scte35`` wraps them. The expected
values of the published payloads come from their publishers (the AWS MediaTailor documentation
shows its own decoded JSON) and from the project's reference notes, so the wrapper's mapping is
checked against values nobody derived from this code.
"""

from __future__ import annotations

import base64
import signal
import sys
from collections.abc import Iterator

import pytest
import threefive
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.hls.scte35 import (
    SEGMENTATION_TYPES,
    Scte35Info,
    Segmentation,
    crc32_mpeg2,
    decode_bytes,
    decode_scte35,
    encode_splice_insert,
    encode_splice_null,
    encode_time_signal,
    segmentation_type,
    signals,
    to_base64,
    to_hex,
)

# Reference notes section 3.1: "decodes with threefive to splice_insert, out_of_network_indicator=True,
# break_duration=47.0, pts_adjustment=2157.146889".
OATCLS_47 = "/DAlAAALkmP0AP/wFAXwAlXbf+//4dg/yP4AQItwAAEBAQAAhT3BsQ=="
# AWS MediaTailor "DASH ad markers" page, with its own decoded JSON: event 448, out, 24 s, no auto-return.
MEDIATAILOR_448 = "/DAhAAAAAAAAAP/wEAUAAAHAf+9/fgAg9YDAAAAAAAA25aoh"
# AWS MediaTailor "HLS ad markers" page, EXT-X-SPLICEPOINT-SCTE35 (0x34 out, 0x35 in).
SPLICEPOINT_34 = "/DA9AAAAAAAAAP/wBQb+uYbZqwAnAiVDVUVJAAAKqX//AAEjW4AMEU1EU05CMDAxMTMyMjE5M19ONAAAmXz5JA=="
SPLICEPOINT_35 = "/DA4AAAAAAAAAP/wBQb+tTeaawAiAiBDVUVJAAAKqH+/DBFNRFNOQjAwMTEzMjIxOTJfTjUAAIiGK1s="
# AWS MediaTailor HLS manifest example (Elemental), EXT-OATCLS-SCTE35.
ELEMENTAL_20 = "/DAlAAAAAsvhAP/wFAXwAAAGf+/+AdLfiP4AG3dAAAEBAQAAXytxmQ=="
# Reference notes section 4.2: threefive's mk_splice_insert(42, pts=1000.0, duration=30.0, out=True).
THREEFIVE_42 = "/DAlAAAAAAAAAP/wFAUAAAAqf+/+BV1KgP4AKTLgACoAAAAASMf8jw=="
# The AWS Elemental Live DATERANGE example (ID 999, reference notes section 3.2; the docs elide the
# payload), as carried in golden/daterange_scte35.m3u8: event 999, out, break_duration 28 s.
DATERANGE_999 = "0xFC302500000000000000FFF01405000003E77FEFFF51F55580FE002673C0000100000000DF5B7BBD"


def _decoded(payload: str) -> Scte35Info:
    info = decode_scte35(payload)
    assert info is not None
    return info


def test_oatcls_reference_sample() -> None:
    info = _decoded(OATCLS_47)
    assert info.valid and info.error is None
    assert (info.command_type, info.command) == (5, "splice_insert")
    assert info.out_of_network is True
    assert info.break_duration == 47.0
    assert info.auto_return is True
    assert round(info.pts_adjustment, 6) == 2157.146889
    assert info.splice_event_id == 4026684891
    assert round(info.pts_time or 0, 6) == 89822.366667
    assert (info.unique_program_id, info.avail_num, info.avails_expected) == (1, 1, 1)


def test_mediatailor_dash_sample_matches_its_documented_decode() -> None:
    info = _decoded(MEDIATAILOR_448)
    assert info.valid
    assert info.splice_event_id == 448
    assert info.out_of_network is True
    assert info.splice_immediate is False
    assert info.pts_time is None  # time_specified_flag false
    assert info.break_duration_ticks == 2160000 and info.break_duration == 24.0
    assert info.auto_return is False
    assert (info.unique_program_id, info.avail_num, info.avails_expected) == (49152, 0, 0)


def test_splicepoint_time_signals() -> None:
    out = _decoded(SPLICEPOINT_34)
    assert out.valid and out.command == "time_signal"
    assert round(out.pts_time or 0, 6) == 34584.694522
    (seg,) = out.segmentations
    assert (seg.event_id, seg.type_id, seg.duration) == (0x0AA9, 0x34, 212.16)
    assert seg.upid_type == 0x0C and seg.upid.startswith(b"MDSN")
    assert seg.type.name == "Provider Placement Opportunity Start"
    end = _decoded(SPLICEPOINT_35)
    (seg,) = end.segmentations
    assert (seg.event_id, seg.type_id, seg.duration) == (0x0AA8, 0x35, None)
    assert signals(end)[0].kind == "in"


def test_elemental_sample() -> None:
    info = _decoded(ELEMENTAL_20)
    assert (info.splice_event_id, info.break_duration, info.auto_return) == (4026531846, 20.0, True)
    assert round(info.pts_adjustment, 6) == 2.036278


def test_daterange_example() -> None:
    info = _decoded(DATERANGE_999)
    assert info.valid and info.command == "splice_insert"
    assert (info.splice_event_id, info.out_of_network, info.break_duration, info.auto_return) == (999, True, 28.0, True)
    assert info.pts_time == 63000.0
    assert [(s.kind, s.event_id, s.duration) for s in signals(info)] == [("out", "splice:999", 28.0)]


def test_encoder_reproduces_threefive_byte_for_byte() -> None:
    ours = encode_splice_insert(42, out=True, pts=1000.0, duration=30.0, unique_program_id=42)
    assert to_base64(ours) == THREEFIVE_42


@pytest.mark.parametrize(
    "form",
    [
        lambda b: to_hex(b),
        lambda b: to_hex(b).lower(),
        lambda b: b.hex().upper(),  # hex without 0x, as some origins write it
        lambda b: base64.b64encode(b).decode().rstrip("="),  # padding dropped
        lambda b: base64.urlsafe_b64encode(b).decode(),
        lambda b: f'"{base64.b64encode(b).decode()}"',  # still quoted
    ],
)
def test_hex_and_base64_forms_decode_identically(form: object) -> None:
    raw = base64.b64decode(OATCLS_47)
    assert callable(form)
    assert decode_scte35(form(raw)) == decode_scte35(OATCLS_47)


def _with_crc(body: bytes) -> bytes:
    return body + crc32_mpeg2(body).to_bytes(4, "big")


def _mutate(section: bytes, offset: int, value: int) -> bytes:
    """Change one byte and recompute the CRC, so the damage is structural, not a CRC failure."""
    data = bytearray(section[:-4])
    data[offset] = value
    return _with_crc(bytes(data))


GOOD = base64.b64decode(OATCLS_47)
GOOD_TS = base64.b64decode(SPLICEPOINT_34)  # one segmentation descriptor, its upid_length at offset 39


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ("!!not base64!!", "bad-encoding"),
        ("0xZZ00", "bad-encoding"),
        ("A" * 9000, "bad-encoding"),
        (base64.b64encode(b"hello world, this is no scte-35").decode(), "not-scte35"),
        (base64.b64encode(GOOD[:12]).decode(), "too-short"),
        (OATCLS_47[:32], "bad-length"),
        (to_base64(GOOD[:-1] + bytes([GOOD[-1] ^ 0xFF])), "crc-mismatch"),
        (to_base64(_mutate(GOOD, 4, 0x80)), "encrypted"),
        (to_base64(_mutate(GOOD, 12, 0x30)), "bad-command-length"),  # command_length 0x030 != 20
        (to_base64(_mutate(GOOD, 35, 0x40)), "truncated"),  # descriptor_loop_length past the end
        (to_base64(_mutate(GOOD_TS, 39, 0x30)), "truncated"),  # segmentation_upid past the descriptor loop
        (to_base64(_mutate(GOOD_TS, 22, 0x30)), "truncated"),  # descriptor_length past the descriptor loop
    ],
)
def test_garbage_is_invalid_with_a_reason_and_prints_nothing(
    payload: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    info = decode_scte35(payload)
    assert info is not None
    assert info.valid is False
    assert info.error == error
    assert signals(info)[0].kind == "other"
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_empty_payload_is_no_payload() -> None:
    assert decode_scte35("") is None
    assert decode_scte35('  ""  ') is None


def test_crc_failure_keeps_the_decoded_fields_for_logs() -> None:
    info = _decoded(to_base64(GOOD[:-1] + b"\x00"))
    assert info.valid is False and info.error == "crc-mismatch"
    assert info.splice_event_id == 4026684891


def test_threefive_output_and_exceptions_are_captured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def noisy(self: object) -> bool:
        print("threefive says hello")
        print("and complains", file=sys.stderr)
        raise RuntimeError("boom")

    monkeypatch.setattr(threefive.Cue, "decode", noisy)
    info = decode_bytes(GOOD)
    assert (info.valid, info.error) == (False, "malformed")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail instead of hanging: threefive 2.4.55's own MID decoder loops forever on bad lengths."""

    def expired(*_: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(5)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.usefixtures("deadline")
def test_a_malformed_mid_upid_is_kept_as_raw_bytes() -> None:
    upid = bytes([0x0F, 0x05, 0x41])  # MID holding a URI whose length (5) overruns the MID (3)
    info = decode_bytes(encode_time_signal(1.0, [Segmentation(7, 0x34, None, 0x0D, upid, 1, 1)]))
    assert info.valid
    (seg,) = info.segmentations
    assert (seg.upid_type, seg.upid, seg.type_id) == (0x0D, upid, 0x34)


def test_component_mode_is_refused_not_misread() -> None:
    # program_splice_flag=0: threefive 2.4.55 does not read the component loop
    info = decode_bytes(_mutate(GOOD, 19, GOOD[19] & ~0x40))
    assert (info.valid, info.error) == (False, "unsupported-component-mode")
    # program_segmentation_flag=0 in the segmentation descriptor
    info = decode_bytes(_mutate(GOOD_TS, 32, GOOD_TS[32] & ~0x80))
    assert (info.valid, info.error) == (False, "unsupported-component-mode")


def test_only_cuei_segmentation_descriptors_count() -> None:
    private = bytearray(GOOD_TS[:-4])
    private[23:27] = b"ABCD"  # same tag 0x02, another owner's identifier
    info = decode_bytes(bytes(private) + crc32_mpeg2(bytes(private)).to_bytes(4, "big"))
    assert info.valid and info.command == "time_signal" and info.segmentations == ()
    assert [s.kind for s in signals(info)] == ["other"]


@pytest.mark.parametrize(("command_type", "name"), [(0xFF, "private_command"), (0x08, "reserved_0x08")])
def test_commands_threefive_cannot_decode_keep_their_header(command_type: int, name: str) -> None:
    info = decode_bytes(_mutate(encode_splice_null(), 13, command_type))
    assert (info.valid, info.command_type, info.command) == (True, command_type, name)
    assert [s.kind for s in signals(info)] == ["other"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(decode_bytes(data), Scte35Info)
    assert isinstance(decode_bytes(b"\xfc" + data), Scte35Info)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=len(GOOD) - 1))
def test_every_truncation_of_a_good_section_is_invalid(prefix: bytes) -> None:
    info = decode_bytes(GOOD[: len(prefix)])
    assert info.valid is False


# -- The segmentation type table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_id", "kind"),
    [
        (0x10, "other"), (0x11, "other"),  # program start/end: never ad breaks
        (0x22, "out"), (0x23, "in"),
        (0x30, "out"), (0x31, "in"),
        (0x32, "out"), (0x33, "in"),
        (0x34, "out"), (0x35, "in"),
        (0x36, "out"), (0x37, "in"),
        (0x38, "other"), (0x39, "other"), (0x3A, "other"), (0x3B, "other"),  # overlays
        (0x3C, "other"), (0x3D, "other"), (0x3E, "other"), (0x3F, "other"),  # promos
        (0x40, "other"), (0x41, "other"),  # unscheduled events
        (0x44, "out"), (0x45, "in"),
        (0x46, "out"), (0x47, "in"),
    ],
)  # fmt: skip
def test_segmentation_type_table(type_id: int, kind: str) -> None:
    assert SEGMENTATION_TYPES[type_id].kind == kind
    assert SEGMENTATION_TYPES[type_id].type_id == type_id


def test_every_break_start_has_its_end_next_to_it() -> None:
    starts = [t for t, row in SEGMENTATION_TYPES.items() if row.kind == "out"]
    assert starts == [0x22, 0x30, 0x32, 0x34, 0x36, 0x44, 0x46]
    for t in starts:
        assert SEGMENTATION_TYPES[t + 1].kind == "in"
        assert SEGMENTATION_TYPES[t].name.endswith("Start") and SEGMENTATION_TYPES[t + 1].name.endswith("End")


def test_unknown_segmentation_type_is_other() -> None:
    row = segmentation_type(0x99)
    assert (row.kind, row.name) == ("other", "Unknown 0x99")


def test_signals_for_non_break_commands() -> None:
    assert [s.kind for s in signals(_decoded(to_base64(encode_splice_null())))] == ["other"]
    assert [s.kind for s in signals(_decoded(to_base64(encode_time_signal(1.0))))] == ["other"]
    cancelled = _decoded(to_base64(encode_splice_insert(5, out=True, cancel=True)))
    assert cancelled.cancel is True
    assert [(s.kind, s.event_id) for s in signals(cancelled)] == [("other", "splice:5")]
    seg_cancel = _decoded(to_base64(encode_time_signal(1.0, [Segmentation(9, cancel=True)])))
    assert [(s.kind, s.event_id) for s in signals(seg_cancel)] == [("other", "seg:9")]


def test_one_signal_per_descriptor() -> None:
    segs = [Segmentation(1, 0x35), Segmentation(2, 0x34, 90000 * 30), Segmentation(3, 0x10)]
    info = _decoded(to_hex(encode_time_signal(2.0, segs)))
    assert [(s.kind, s.event_id, s.segmentation_type, s.duration) for s in signals(info)] == [
        ("in", "seg:1", 0x35, None),
        ("out", "seg:2", 0x34, 30.0),
        ("other", "seg:3", 0x10, None),
    ]


def test_splice_pts_applies_the_adjustment_modulo_2_33() -> None:
    info = _decoded(to_base64(encode_splice_insert(1, out=True, pts=95000.0, pts_adjustment=1000.0)))
    assert info.pts_time == 95000.0
    assert info.splice_pts_seconds == pytest.approx((95000.0 + 1000.0) % (2**33 / 90000))


def test_decoding_is_memoised() -> None:
    assert decode_scte35(OATCLS_47) is decode_scte35(OATCLS_47)


# -- Encoder and decoder agree on random sections ----------------------------------------------

seconds = st.integers(min_value=0, max_value=2**33 - 1).map(lambda t: t / 90000)


@settings(max_examples=200, deadline=None)
@given(
    event_id=st.integers(0, 2**32 - 1),
    out=st.booleans(),
    pts=st.none() | seconds,
    duration=st.none() | st.integers(0, 2**33 - 1).map(lambda t: t / 90000),
    auto_return=st.booleans(),
    adjustment=seconds,
    upid=st.integers(0, 2**16 - 1),
)
def test_splice_insert_round_trip(
    event_id: int, out: bool, pts: float | None, duration: float | None, auto_return: bool, adjustment: float,
    upid: int,
) -> None:
    section = encode_splice_insert(
        event_id, out=out, pts=pts, duration=duration, auto_return=auto_return, pts_adjustment=adjustment,
        unique_program_id=upid,
    )
    info = _decoded(to_base64(section))
    assert info.valid
    assert (info.splice_event_id, info.out_of_network, info.unique_program_id) == (event_id, out, upid)
    assert info.pts_time == pts
    assert info.splice_immediate is (pts is None)
    assert info.break_duration == duration
    assert info.auto_return == (auto_return if duration is not None else None)
    assert info.pts_adjustment == adjustment


segmentations = st.builds(
    Segmentation,
    event_id=st.integers(0, 2**32 - 1),
    type_id=st.sampled_from(sorted(SEGMENTATION_TYPES)),
    duration_ticks=st.none() | st.integers(0, 2**40 - 1),
    upid_type=st.integers(0, 255),
    upid=st.binary(max_size=40),
    segment_num=st.integers(0, 255),
    segments_expected=st.integers(0, 255),
)


@settings(max_examples=200, deadline=None)
@given(pts=st.none() | seconds, segs=st.lists(segmentations, max_size=4))
def test_time_signal_round_trip(pts: float | None, segs: list[Segmentation]) -> None:
    info = _decoded(to_hex(encode_time_signal(pts, segs)))
    assert info.valid and info.command == "time_signal"
    assert info.pts_time == pts
    assert list(info.segmentations) == segs
    assert [s.kind for s in signals(info)] == ([seg.type.kind for seg in segs] or ["other"])
