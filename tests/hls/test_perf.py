"""Cost budget: the service parses once per origin update and renders once per output.

The bounds are about 10x the cost measured on a 2-vCPU machine (parse about 50 us and render
about 5-20 us for an 8-segment window), so a real regression fails and CI noise does not.
"""

from __future__ import annotations

import timeit
from dataclasses import replace

from sidecar.hls import parse_media, render_media
from tests.hls.helpers import canonical

WINDOW = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1000\n"
    + "".join(
        f"#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:{4 * i:02d}.000Z\n#EXTINF:4.000,\nseg_{1000 + i}.ts\n"
        for i in range(8)
    )
)


def _best_us(fn: object, number: int = 200) -> float:
    assert callable(fn)
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def test_parse_8_segment_window_well_under_a_millisecond() -> None:
    assert len(parse_media(WINDOW).segments) == 8
    assert _best_us(lambda: parse_media(WINDOW)) < 500


def test_render_8_segment_window_in_tens_of_microseconds() -> None:
    pl = parse_media(WINDOW)
    built = canonical(replace(pl, media_sequence=1001))  # what the splicer hands over
    assert render_media(pl) == WINDOW
    assert _best_us(lambda: render_media(pl)) < 100
    assert _best_us(lambda: render_media(built)) < 200
