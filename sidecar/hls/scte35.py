"""SCTE-35 ``splice_info_section`` decoding and encoding on top of threefive: typed, never raises, never prints.

The bit-level parsing and serialising is threefive 2.4.55's (MIT, pinned in pyproject). This module
adds what an ad inserter needs around it, and nothing that re-reads the bits itself:

* payload text to bytes: base64 (``EXT-OATCLS-SCTE35``, ``EXT-X-SPLICEPOINT-SCTE35``, the ``CUE``
  attribute, ``SCTE35=`` in ``CUE-OUT-CONT``), URL-safe base64, and hex with or without ``0x``
  (DATERANGE ``SCTE35-*``, RFC 8216 section 4.3.2.7.1);
* the checks threefive 2.4.55 does not make: the CRC-32 (computed with ``threefive.crc``),
  ``section_length`` against the bytes present, the declared ``splice_command_length`` against
  what threefive read, a descriptor loop that runs past the section, the ``CUEI`` identifier of
  segmentation descriptors (threefive labels every tag 0x02 ``CUEI``), and fields threefive could
  not read (its bit reader returns ``False`` instead of raising when it runs out of bits);
* a typed mapping of threefive's objects into ``Scte35Info``, so no ``Any`` leaks out;
* capture of anything threefive writes to stdout/stderr, and of every exception it raises.

Every failure becomes an ``Scte35Info`` with ``valid=False`` and a short machine-readable
``error``, because an origin's garbage must never take a channel down. A CRC mismatch keeps the
decoded fields, so they can be logged.

Known limits of threefive 2.4.55 and how they are handled here:

* It does not decode component-mode splices (``program_splice_flag=0`` in ``splice_insert``,
  ``program_segmentation_flag=0`` in a segmentation descriptor); it would misread every later
  field. Such sections are ``valid=False`` with ``unsupported-component-mode``.
* It cannot decode ``splice_schedule`` or ``private_command`` bodies. For those and for reserved
  command types only the header is decoded (no ad signal comes from them either way).
* It decodes a descriptor's 4-byte identifier as UTF-8 and raises if it is not, so such a
  section is ``malformed`` (registered identifiers are ASCII). It reads ``segment_num`` and
  ``segments_expected`` only for the type ids in its table (the same ids as
  ``SEGMENTATION_TYPES``); for others they are 0. A segmentation descriptor whose fields run past
  its ``descriptor_length`` is read on into the next descriptor; as the last one it is
  ``truncated``.
* Its type-specific UPID decoders loop forever on a malformed MID (0x0D) UPID and turn the other
  types into strings or dicts. ``_RawUpid`` below replaces them for every UPID type, so
  ``Segmentation.upid`` is always the raw bytes. This is set process-wide on
  ``threefive.descriptors.upid_map``; this module is the only user of threefive in the service.

Results are memoised, since the same payload repeats on every ``CUE-OUT-CONT`` line and on every
reload. ``SEGMENTATION_TYPES`` is the single table that maps a ``segmentation_type_id`` to a cue
kind: the splicer, the metrics and the probes all use it.

The encoders build threefive ``Cue`` objects and let threefive serialise them. They are for test
payloads and the synthetic origin, and are memoised too, since threefive's encoder is slow
(about 0.6 ms per section, mostly the CRC table it rebuilds on every call).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import threefive
import threefive.crc
import threefive.descriptors
import threefive.upids

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
# The threefive adapter
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow anything threefive prints (its ``print2`` writes to stderr).

    The decode and encode paths used here do not print in 2.4.55; this keeps it that way if a
    release starts to. ``contextlib.redirect_*`` swaps ``sys.stdout``/``sys.stderr`` for the whole
    process while active, so a ``print`` from another thread in that window (microseconds) is lost;
    logging handlers keep their own stream and are not affected.
    """
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


class _RawUpid(threefive.upids.Upid):  # type: ignore[misc]  # threefive ships no type information
    """A segmentation UPID as raw bytes, whatever its type, and refused if it overruns its descriptor."""

    def decode(self) -> tuple[str, bytes]:
        if self.bitbin.idx < self.bit_length:
            raise _Malformed("truncated")
        return self.upid_name, self.bitbin.as_bytes(self.bit_length) if self.bit_length else b""

    def encode(self, nbin: Any, seg_upid: bytes) -> None:  # nbin: threefive.bitn.NBin
        nbin.add_bites(bytes(seg_upid))


threefive.descriptors.upid_map = {k: [name, _RawUpid] for k, (name, _) in threefive.upids.upid_map.items()}


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (threefive's). Over a whole section including its CRC_32 field it is 0."""
    return int(threefive.crc.crc32(data))


class _Malformed(Exception):
    """Raised inside the decoder only; ``decode_bytes`` turns it into ``invalid(reason)``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _int(obj: object, name: str) -> int:
    value = getattr(obj, name, None)
    if isinstance(value, bool) or not isinstance(value, int):
        # threefive's BitBin.as_int returns False, not an int, when it runs out of bits
        raise _Malformed("truncated")
    return value


def _opt_int(obj: object, name: str) -> int | None:
    return None if getattr(obj, name, None) is None else _int(obj, name)


def _flag(obj: object, name: str) -> bool:
    value = getattr(obj, name, None)
    if not isinstance(value, bool):
        raise _Malformed("malformed")
    return value


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def payload_bytes(payload: str) -> bytes | None:
    """The raw section bytes of a hex or base64 payload, or None if it is neither."""
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


# table_id .. splice_command_type: the part threefive's SpliceInfoSection decodes.
_HEADER_BYTES = 14
# Bytes after section_length: protocol_version .. splice_command_type (11), descriptor_loop_length
# (2) and CRC_32 (4). A section is never shorter than that.
_MIN_SECTION_LENGTH = 17
_LEGACY_COMMAND_LENGTH = 0xFFF  # "unknown", allowed by SCTE 35 for splice_insert/time_signal/...
_DECODED_COMMANDS = frozenset({0x00, 0x05, 0x06, 0x07})  # the ones threefive 2.4.55 decodes fully


def decode_bytes(data: bytes) -> Scte35Info:
    """Decode one ``splice_info_section``. Never raises, never prints."""
    try:
        with _quiet():
            return _decode(data)
    except _Malformed as exc:
        return invalid(exc.reason)
    except Exception:  # a decoder bug must not take a channel down
        return invalid("decoder-error")


def _decode(data: bytes) -> Scte35Info:
    if len(data) < _MIN_SECTION_LENGTH + 3:
        return invalid("too-short")
    header = threefive.SpliceInfoSection()
    try:
        header.decode(data[:_HEADER_BYTES])
    except ValueError:  # its only check: table_id must be 0xFC
        return invalid("not-scte35")
    total = _int(header, "section_length") + 3
    if total > len(data) or total < _MIN_SECTION_LENGTH + 3:
        return invalid("bad-length")
    data = data[:total]
    if _flag(header, "encrypted_packet"):
        return invalid("encrypted")
    crc_ok = crc32_mpeg2(data) == 0
    command_type = _int(header, "splice_command_type")
    info = Scte35Info(
        valid=crc_ok,
        error=None if crc_ok else "crc-mismatch",
        command_type=command_type,
        command=COMMAND_NAMES.get(command_type, f"reserved_0x{command_type:02x}"),
        pts_adjustment_ticks=_int(header, "pts_adjustment_ticks"),
    )
    declared = _int(header, "splice_command_length")
    if command_type not in _DECODED_COMMANDS:
        # splice_schedule, private_command and reserved types: threefive 2.4.55 cannot decode
        # their bodies, and no ad signal comes from them. Keep the header if the command fits.
        if declared != _LEGACY_COMMAND_LENGTH and _HEADER_BYTES + declared + 2 + 4 > total:
            raise _Malformed("bad-command-length")
        return info
    cue = threefive.Cue(data)
    failure: Exception | None = None
    try:
        cue.decode()
    except Exception as exc:  # reported after the length checks, which say more
        failure = exc
    command = cue.command
    if command is None:
        raise _Malformed("malformed")
    if command_type == 0x05:
        info = _splice_insert(info, command)
    elif command_type == 0x06:
        info = replace(info, pts_time_ticks=_splice_time(command))
    command_length = _int(command, "command_length")
    if declared not in (command_length, _LEGACY_COMMAND_LENGTH):
        raise _Malformed("bad-command-length")
    loop_start = _HEADER_BYTES + command_length + 2
    loop_end = loop_start + _int(cue.info_section, "descriptor_loop_length")
    if loop_end + 4 > total:
        raise _Malformed("truncated")
    if isinstance(failure, _Malformed):  # from _RawUpid
        raise failure
    if failure is not None:  # threefive indexes past the end of its bytes when they run out
        raise _Malformed("truncated" if isinstance(failure, IndexError) else "malformed")
    # threefive walks the loop by each descriptor's length; follow it to find the identifiers,
    # which it does not keep (it labels every tag 0x02 "CUEI"), and the loop's true end.
    segmentations: list[Segmentation] = []
    offset = loop_start
    for descriptor in cue.descriptors:
        if _int(descriptor, "tag") == 0x02 and data[offset + 2 : offset + 6] == b"CUEI":
            segmentations.append(_segmentation(descriptor))
        offset += 2 + _int(descriptor, "descriptor_length")
    if offset != loop_end:
        raise _Malformed("truncated")
    return replace(info, segmentations=tuple(segmentations))


def _splice_time(command: object) -> int | None:
    return _int(command, "pts_time_ticks") if _flag(command, "time_specified_flag") else None


def _splice_insert(info: Scte35Info, command: object) -> Scte35Info:
    event_id = _int(command, "splice_event_id")
    if _flag(command, "splice_event_cancel_indicator"):
        return replace(info, splice_event_id=event_id, cancel=True)
    # threefive reads these last: ints here mean it did not run out of bits before them
    unique_program_id = _int(command, "unique_program_id")
    avail_num = _int(command, "avail_num")
    avails_expected = _int(command, "avail_expected")
    if not _flag(command, "program_splice_flag"):
        raise _Malformed("unsupported-component-mode")  # threefive skips the component loop
    immediate = _flag(command, "splice_immediate_flag")
    has_duration = _flag(command, "duration_flag")
    return replace(
        info,
        pts_time_ticks=None if immediate else _splice_time(command),
        splice_event_id=event_id,
        out_of_network=_flag(command, "out_of_network_indicator"),
        splice_immediate=immediate,
        break_duration_ticks=_int(command, "break_duration_ticks") if has_duration else None,
        auto_return=_flag(command, "break_auto_return") if has_duration else None,
        unique_program_id=unique_program_id,
        avail_num=avail_num,
        avails_expected=avails_expected,
    )


def _segmentation(d: object) -> Segmentation:
    event_id_hex = getattr(d, "segmentation_event_id", None)
    if not isinstance(event_id_hex, str):
        raise _Malformed("malformed")
    event_id = int(event_id_hex, 16)
    if _flag(d, "segmentation_event_cancel_indicator"):
        return Segmentation(event_id=event_id, cancel=True)
    if not _flag(d, "program_segmentation_flag"):
        raise _Malformed("unsupported-component-mode")
    upid = getattr(d, "segmentation_upid", None)
    if not isinstance(upid, bytes):
        raise _Malformed("malformed")
    return Segmentation(
        event_id=event_id,
        type_id=_int(d, "segmentation_type_id"),
        duration_ticks=_int(d, "segmentation_duration_ticks") if _flag(d, "segmentation_duration_flag") else None,
        upid_type=_int(d, "segmentation_upid_type"),
        upid=upid,
        # threefive reads these only for the type ids it knows (all of SEGMENTATION_TYPES)
        segment_num=_opt_int(d, "segment_num") or 0,
        segments_expected=_opt_int(d, "segments_expected") or 0,
    )


@lru_cache(maxsize=1024)
def decode_scte35(payload: str) -> Scte35Info | None:
    """Decode a base64 or hex payload. None for an empty payload, never raises, never prints.

    A payload that is present but unusable gives ``Scte35Info(valid=False, error=...)``.
    ``error`` is one of ``bad-encoding``, ``too-short``, ``not-scte35``, ``bad-length``,
    ``encrypted``, ``unsupported-component-mode``, ``bad-command-length``, ``truncated``,
    ``malformed`` (threefive refused it), ``decoder-error`` (a bug) or ``crc-mismatch``. A CRC
    mismatch keeps the decoded fields, so they can be logged.
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
# Encoding (test payloads and the synthetic origin), by threefive
# ---------------------------------------------------------------------------------------------


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def _fits(value: int, bits: int, name: str) -> int:
    """threefive's bit writer does not check ranges: a value too wide would corrupt its neighbours."""
    if value < 0 or value >= (1 << bits):
        raise ValueError(f"{name}={value} does not fit in {bits} bits")
    return value


def _section(command: object, descriptors: Sequence[object] = (), pts_adjustment_ticks: int = 0) -> bytes:
    cue = threefive.Cue()
    cue.command = command
    cue.descriptors = list(descriptors)
    cue.info_section.pts_adjustment_ticks = pts_adjustment_ticks
    with _quiet():
        cue.encode()
    section = cue.bites
    if not isinstance(section, bytes):
        raise TypeError(f"threefive returned {type(section).__name__}, not bytes")
    return section


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
    """A program-mode ``splice_insert`` section. ``pts=None`` means ``splice_immediate``."""
    return _encode_splice_insert(
        event_id,
        out,
        pts,
        duration,
        auto_return,
        pts_adjustment,
        unique_program_id,
        avail_num,
        avails_expected,
        cancel,
    )


@lru_cache(maxsize=256)
def _encode_splice_insert(
    event_id: int,
    out: bool,
    pts: float | None,
    duration: float | None,
    auto_return: bool,
    pts_adjustment: float,
    unique_program_id: int,
    avail_num: int,
    avails_expected: int,
    cancel: bool,
) -> bytes:
    command = threefive.SpliceInsert()
    command.splice_event_id = _fits(event_id, 32, "splice_event_id")
    command.splice_event_cancel_indicator = cancel
    command.out_of_network_indicator = out
    command.program_splice_flag = True
    command.duration_flag = duration is not None
    command.splice_immediate_flag = pts is None
    command.event_id_compliance_flag = True
    command.time_specified_flag = pts is not None
    if pts is not None:
        command.pts_time_ticks = _ticks(pts) % PTS_MODULO
    command.break_auto_return = auto_return
    if duration is not None:
        command.break_duration_ticks = _fits(_ticks(duration), 33, "break_duration")
    command.unique_program_id = _fits(unique_program_id, 16, "unique_program_id")
    command.avail_num = _fits(avail_num, 8, "avail_num")
    command.avail_expected = _fits(avails_expected, 8, "avails_expected")
    return _section(command, (), _ticks(pts_adjustment) % PTS_MODULO)


def _segmentation_descriptor(seg: Segmentation) -> object:
    d = threefive.SegmentationDescriptor()
    d.segmentation_event_id = hex(_fits(seg.event_id, 32, "segmentation_event_id"))
    d.segmentation_event_cancel_indicator = seg.cancel
    d.segmentation_event_id_compliance_indicator = True
    d.program_segmentation_flag = True
    d.segmentation_duration_flag = seg.duration_ticks is not None
    d.delivery_not_restricted_flag = True
    if seg.duration_ticks is not None:
        d.segmentation_duration_ticks = _fits(seg.duration_ticks, 40, "segmentation_duration")
    d.segmentation_upid_type = _fits(seg.upid_type, 8, "segmentation_upid_type")
    d.segmentation_upid_length = _fits(len(seg.upid), 8, "segmentation_upid_length")
    d.segmentation_upid = seg.upid
    d.segmentation_type_id = _fits(seg.type_id, 8, "segmentation_type_id")
    d.segment_num = _fits(seg.segment_num, 8, "segment_num")
    d.segments_expected = _fits(seg.segments_expected, 8, "segments_expected")
    d.sub_segment_num = d.sub_segments_expected = 0  # written for the types that carry them
    return d


def encode_time_signal(
    pts: float | None, segmentations: Sequence[Segmentation] = (), *, pts_adjustment: float = 0.0
) -> bytes:
    """A ``time_signal`` section carrying the given segmentation descriptors, in that order."""
    return _encode_time_signal(pts, tuple(segmentations), pts_adjustment)


@lru_cache(maxsize=256)
def _encode_time_signal(pts: float | None, segmentations: tuple[Segmentation, ...], pts_adjustment: float) -> bytes:
    command = threefive.TimeSignal()
    command.time_specified_flag = pts is not None
    if pts is not None:
        command.pts_time_ticks = _ticks(pts) % PTS_MODULO
    descriptors = [_segmentation_descriptor(s) for s in segmentations]
    return _section(command, descriptors, _ticks(pts_adjustment) % PTS_MODULO)


def encode_splice_null() -> bytes:
    return _section(threefive.SpliceNull())


def to_base64(section: bytes) -> str:
    """The form used by ``EXT-OATCLS-SCTE35``, ``EXT-X-SPLICEPOINT-SCTE35`` and ``CUE=``."""
    return base64.b64encode(section).decode("ascii")


def to_hex(section: bytes) -> str:
    """The ``0x``-prefixed form used by DATERANGE ``SCTE35-OUT``/``-IN``/``-CMD``."""
    return "0x" + section.hex().upper()
