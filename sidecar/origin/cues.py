"""Ad-break signalling in the live playlists, in each dialect the service must understand.

Flavours (identical across renditions, since they depend only on MSNs):

``cue-out``
    ``#EXT-X-CUE-OUT:DURATION=<s>`` before the splice segment, ``#EXT-X-CUE-OUT-CONT:
    ElapsedTime=..,Duration=..`` before each later segment of the break, ``#EXT-X-CUE-IN``
    before the first segment after it (and after the last segment when the break ends exactly
    at the live edge).
``oatcls``
    Elemental style: ``#EXT-OATCLS-SCTE35:<base64 splice_insert>`` plus ``#EXT-X-CUE-OUT:<s>``,
    CONT lines carrying ``SCTE35=<base64>``, then ``#EXT-X-CUE-IN``.
``oatcls-asset``
    As ``oatcls``, with ``#EXT-X-ASSET:CAID=0x<16 hex digits>`` on the splice-out segment and
    ``CAID=`` leading each CONT line, as Elemental-fed ad servers expect.
``oatcls-timesignal``
    As ``oatcls`` but the binary cue is a ``time_signal`` with a segmentation descriptor
    (0x34 Provider Placement Opportunity Start); the end is announced with a 0x35 cue on the
    ``#EXT-X-CUE-IN`` segment.
``daterange``
    ``#EXT-X-DATERANGE`` with ``SCTE35-OUT`` (splice_insert, out of network) and
    ``PLANNED-DURATION``, first shown at least ``daterange_lead`` seconds before its
    START-DATE; and, once the break is over, a tag with the same ID, ``END-DATE``,
    ``DURATION`` and ``SCTE35-IN``. Tags are anchored to segments still in the window, so they
    stay visible for as long as any part of the break is.
``daterange-timesignal``
    As ``daterange`` but ``SCTE35-OUT``/``SCTE35-IN`` carry ``time_signal`` sections with a
    segmentation descriptor (0x22 Break Start with its duration, 0x23 Break End), as encoders
    that signal with segmentation descriptors write them.

CONT lines carry the signalled (planned) duration and the seconds elapsed since the splice-out;
a break with an early return gets its CUE-IN (or ``SCTE35-IN`` with the actual ``DURATION``)
before the planned end.
``none``
    No signalling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.hls.scte35 import Segmentation, encode_splice_insert, encode_time_signal, to_base64, to_hex
from sidecar.origin.config import TICKS_PER_SECOND, CueFlavour
from sidecar.origin.timeline import AdBreak, Timeline, format_seconds

UNIQUE_PROGRAM_ID = 1
UPID_URI = 0x0F  # segmentation_upid_type "URI"
PROVIDER_PLACEMENT_OPPORTUNITY_START = 0x34
PROVIDER_PLACEMENT_OPPORTUNITY_END = 0x35
BREAK_START = 0x22
BREAK_END = 0x23


def seconds(ticks: int) -> float:
    """90 kHz ticks as the encoder's seconds (exact: it rounds back to the same tick count)."""
    return ticks / TICKS_PER_SECOND


def break_uri(ad_break: AdBreak) -> bytes:
    """Segmentation UPID (type 0x0F, URI) naming the break, so cues are self-describing."""
    return f"urn:sidecar:origin:break:{ad_break.index}".encode("ascii")


def splice_out(tl: Timeline, ad_break: AdBreak) -> bytes:
    """``splice_insert``: leave the network at the break's first segment for the planned time."""
    return encode_splice_insert(
        ad_break.event_id,
        out=True,
        pts=seconds(tl.pts(ad_break.start)),
        duration=seconds(ad_break.planned_ticks),
        auto_return=True,
        unique_program_id=UNIQUE_PROGRAM_ID,
    )


def splice_in(tl: Timeline, ad_break: AdBreak) -> bytes:
    """``splice_insert``: return to the network at the first segment after the break."""
    return encode_splice_insert(
        ad_break.event_id,
        out=False,
        pts=seconds(tl.pts(ad_break.end)),
        unique_program_id=UNIQUE_PROGRAM_ID,
    )


def placement_start(tl: Timeline, ad_break: AdBreak, type_id: int = PROVIDER_PLACEMENT_OPPORTUNITY_START) -> bytes:
    """``time_signal`` + a segmentation descriptor (0x34 by default) with the planned duration."""
    descriptor = Segmentation(
        event_id=ad_break.event_id,
        type_id=type_id,
        duration_ticks=ad_break.planned_ticks,
        upid_type=UPID_URI,
        upid=break_uri(ad_break),
        segment_num=1,
        segments_expected=1,
    )
    return encode_time_signal(seconds(tl.pts(ad_break.start)), [descriptor])


def placement_end(tl: Timeline, ad_break: AdBreak, type_id: int = PROVIDER_PLACEMENT_OPPORTUNITY_END) -> bytes:
    """``time_signal`` + a segmentation descriptor (0x35 by default) at the return to content."""
    descriptor = Segmentation(
        event_id=ad_break.event_id,
        type_id=type_id,
        upid_type=UPID_URI,
        upid=break_uri(ad_break),
        segment_num=1,
        segments_expected=1,
    )
    return encode_time_signal(seconds(tl.pts(ad_break.end)), [descriptor])


@dataclass
class CueLayout:
    """Tag lines to write before given segments, and after the last one."""

    before: dict[int, list[str]] = field(default_factory=dict)
    trailing: list[str] = field(default_factory=list)

    def add(self, msn: int, *lines: str) -> None:
        self.before.setdefault(msn, []).extend(lines)


def layout_cues(tl: Timeline, flavour: CueFlavour, window: range) -> CueLayout:
    """Where each cue tag goes for the segments in ``window`` (a pure function of MSNs)."""
    layout = CueLayout()
    if not window or flavour == "none":
        return layout
    if flavour in ("daterange", "daterange-timesignal"):
        _layout_dateranges(tl, flavour, window, layout)
    else:
        _layout_cue_tags(tl, flavour, window, layout)
    return layout


def _cue_in_lines(tl: Timeline, flavour: CueFlavour, ad_break: AdBreak) -> list[str]:
    if flavour == "oatcls-timesignal":
        return [f"#EXT-OATCLS-SCTE35:{to_base64(placement_end(tl, ad_break))}", "#EXT-X-CUE-IN"]
    return ["#EXT-X-CUE-IN"]


def caid(ad_break: AdBreak) -> str:
    """The break's ``CAID`` (EXT-X-ASSET): 16 hex digits, as Elemental writes it."""
    return f"0x{ad_break.event_id:016X}"


def _layout_cue_tags(tl: Timeline, flavour: CueFlavour, window: range, layout: CueLayout) -> None:
    for msn in window:
        ended = tl.break_at(msn - 1)
        if ended is not None and ended.end == msn:
            layout.add(msn, *_cue_in_lines(tl, flavour, ended))
        ad_break = tl.break_at(msn)
        if ad_break is None:
            continue
        planned = format_seconds(seconds(ad_break.planned_ticks))
        binary = ""
        if flavour in ("oatcls", "oatcls-asset"):
            binary = to_base64(splice_out(tl, ad_break))
        elif flavour == "oatcls-timesignal":
            binary = to_base64(placement_start(tl, ad_break))
        if msn == ad_break.start:
            if flavour == "oatcls-asset":
                layout.add(
                    msn,
                    f"#EXT-OATCLS-SCTE35:{binary}",
                    f"#EXT-X-ASSET:CAID={caid(ad_break)}",
                    f"#EXT-X-CUE-OUT:{planned}",
                )
            elif binary:
                layout.add(msn, f"#EXT-OATCLS-SCTE35:{binary}", f"#EXT-X-CUE-OUT:{planned}")
            else:
                layout.add(msn, f"#EXT-X-CUE-OUT:DURATION={planned}")
        else:
            elapsed = format_seconds(tl.seconds(ad_break.start, msn))
            cont = f"ElapsedTime={elapsed},Duration={planned}"
            if flavour == "oatcls-asset":
                cont = f"CAID={caid(ad_break)},{cont}"
            layout.add(msn, f"#EXT-X-CUE-OUT-CONT:{cont},SCTE35={binary}" if binary else f"#EXT-X-CUE-OUT-CONT:{cont}")
    last = window[-1]
    at_edge = tl.break_at(last)
    if at_edge is not None and at_edge.end == last + 1:
        layout.trailing.extend(_cue_in_lines(tl, flavour, at_edge))


def _layout_dateranges(tl: Timeline, flavour: CueFlavour, window: range, layout: CueLayout) -> None:
    first, last = window[0], window[-1]
    for ad_break in tl.breaks_touching(first, last, ahead=tl.lead_segments):
        planned = format_seconds(seconds(ad_break.planned_ticks))
        ident = f'ID="splice-{ad_break.event_id}",START-DATE="{tl.pdt(ad_break.start)}"'
        announce = ad_break.start - tl.lead_segments
        if flavour == "daterange-timesignal":
            out_hex = to_hex(placement_start(tl, ad_break, BREAK_START))
            in_hex = to_hex(placement_end(tl, ad_break, BREAK_END))
        else:
            out_hex = to_hex(splice_out(tl, ad_break))
            in_hex = to_hex(splice_in(tl, ad_break))
        if announce <= last and ad_break.end >= first:
            layout.add(
                max(announce, first),
                f"#EXT-X-DATERANGE:{ident},PLANNED-DURATION={planned},SCTE35-OUT={out_hex}",
            )
        if first <= ad_break.end <= last:
            actual = format_seconds(tl.seconds(ad_break.start, ad_break.end))
            layout.add(
                ad_break.end,
                f'#EXT-X-DATERANGE:{ident},END-DATE="{tl.pdt(ad_break.end)}",DURATION={actual},SCTE35-IN={in_hex}',
            )
