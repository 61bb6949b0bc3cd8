"""Regenerate the golden vectors of test_scte35.py with threefive 2.5.5 (MIT).

Not a test (threefive 2.5.9, the pinned version, exits on import). Run by hand with a working
threefive 2.x on the path, e.g.::

    pip install --target /tmp/tf255 threefive==2.5.5
    PYTHONPATH=/tmp/tf255 .venv/bin/python tests/origin/threefive_crosscheck.py

For every case it prints threefive's own encoding, whether the origin's encoder produced the
same bytes, and what threefive decodes from the origin's bytes.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from sidecar.origin import scte35 as s

with contextlib.redirect_stdout(io.StringIO()):
    from threefive import Cue, SegmentationDescriptor, SpliceInsert, TimeSignal

INSERTS = [(42, 1000.0, 30.0, True), (1, 10.0, 30.0, True), (1, 38.0, None, False),
           (4294967295, 95443.7, 29.97, True), (123456, None, 60.0, True), (7, 12345.678, None, False)]
SIGNALS = [(2, 130.0, 0x34, 30.0, b"urn:sidecar:origin:break:1"),
           (2, 162.0, 0x35, None, b"urn:sidecar:origin:break:1"), (99, 95000.5, 0x34, 15.5, b"x")]


def threefive_insert(event_id: int, pts: float | None, duration: float | None, out: bool) -> str:
    """threefive.encode.mk_splice_insert, but with unique_program_id = event_id & 0xFFFF."""
    sin: Any = SpliceInsert()
    sin.splice_event_id = event_id
    sin.splice_event_cancel_indicator = False
    sin.out_of_network_indicator = out or duration is not None
    sin.duration_flag = False
    sin.unique_program_id = event_id & 0xFFFF
    sin.avail_num = sin.avails_expected = 0
    sin.splice_immediate_flag = pts is None
    sin.time_specified_flag = pts is not None
    sin.program_splice_flag = True
    sin.event_id_compliance_flag = True
    if pts is not None:
        sin.pts_time = float(pts)
    else:
        sin.component_count = 0
    if duration is not None:
        sin.break_duration = float(duration)
        sin.break_auto_return = True
        sin.duration_flag = True
    cue: Any = Cue()
    cue.command = sin
    return str(cue.encode())


def threefive_signal(event_id: int, pts: float, type_id: int, duration: float | None, upid: bytes) -> str:
    ts: Any = TimeSignal()
    ts.time_specified_flag = True
    ts.pts_time = pts
    sd: Any = SegmentationDescriptor()
    sd.segmentation_event_id = hex(event_id)
    sd.segmentation_event_cancel_indicator = False
    sd.segmentation_event_id_compliance_indicator = True
    sd.program_segmentation_flag = True
    sd.segmentation_duration_flag = duration is not None
    sd.delivery_not_restricted_flag = True
    if duration is not None:
        sd.segmentation_duration = duration
    sd.segmentation_upid_type = s.UPID_URI
    sd.segmentation_upid_length = len(upid)
    sd.segmentation_upid = upid.decode()
    sd.segmentation_type_id = type_id
    sd.segment_num = sd.segments_expected = 1
    sd.sub_segment_num = sd.sub_segments_expected = 0
    cue: Any = Cue()
    cue.command = ts
    cue.descriptors.append(sd)
    with contextlib.redirect_stdout(io.StringIO()):
        return str(cue.encode())


def ticks(seconds: float | None) -> int | None:
    return None if seconds is None else s.seconds_to_ticks(seconds)


def main() -> None:
    for event_id, pts, duration, out in INSERTS:
        mine = s.splice_info_section(s.SpliceInsert(event_id, out or duration is not None, ticks(pts),
                                                    ticks(duration), unique_program_id=event_id & 0xFFFF))
        theirs = threefive_insert(event_id, pts, duration, out)
        cue: Any = Cue(mine)
        cue.decode()
        c = cue.command
        print((event_id, pts, duration, out), theirs, s.to_base64(mine) == theirs,
              (c.splice_event_id, c.out_of_network_indicator, c.pts_time, c.break_duration, c.break_auto_return))
    for event_id, pts, type_id, duration, upid in SIGNALS:
        descriptor = s.SegmentationDescriptor(event_id, type_id, ticks(duration), s.UPID_URI, upid, 1, 1)
        mine = s.splice_info_section(s.TimeSignal(ticks(pts)), [descriptor])
        theirs = threefive_signal(event_id, pts, type_id, duration, upid)
        cue = Cue(mine)
        cue.decode()
        d = cue.descriptors[0]
        print((event_id, pts, type_id, duration, upid), theirs, s.to_base64(mine) == theirs,
              (cue.command.pts_time, d.segmentation_event_id, d.segmentation_type_id,
               d.segmentation_duration, d.segmentation_upid))


if __name__ == "__main__":
    main()
