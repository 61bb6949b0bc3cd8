"""Each rule of sidecar.probe.invariants fails with its own reason, and passes what is legal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sidecar.hls.parse import parse_media
from sidecar.probe.invariants import History, InvariantViolation, check_markers, check_reload

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def playlist(
    first: int,
    count: int = 4,
    *,
    dsn: int = 0,
    target: int = 4,
    duration: float = 4.0,
    uri: Callable[[int], str] = lambda n: f"c{n}.ts",
    pdt_shift: Callable[[int], float] = lambda n: 0.0,
    discontinuities: frozenset[int] = frozenset(),
    tags: dict[int, list[str]] | None = None,
    trailer: list[str] | None = None,
) -> str:
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{dsn}",
    ]
    for n in range(first, first + count):
        if n in discontinuities:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += (tags or {}).get(n, [])
        pdt = T0 + timedelta(seconds=n * 4.0 + pdt_shift(n))
        lines += [
            f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat().replace('+00:00', 'Z')}",
            f"#EXTINF:{duration:.3f},",
            uri(n),
        ]
    lines += trailer or []
    return "\n".join(lines) + "\n"


def reason_of(history: History, *texts: str) -> str | None:
    try:
        for text in texts:
            check_reload(history, parse_media(text))
    except InvariantViolation as exc:
        return exc.reason
    return None


def test_a_sliding_window_passes_and_history_can_be_pruned() -> None:
    h = History({})
    for first in range(10, 20):
        check_reload(h, parse_media(playlist(first)))
        h.forget_before(first)
    assert sorted(h.by_msn) == [19, 20, 21, 22], "only what the last window holds"


def test_the_newest_segment_survives_pruning_so_a_skip_is_still_seen() -> None:
    h = History({})
    check_reload(h, parse_media(playlist(10)))
    h.forget_before(100)
    assert list(h.by_msn) == [13]
    assert reason_of(h, playlist(15)) == "msn"


@pytest.mark.parametrize(
    ("name", "texts", "reason"),
    [
        ("msn went back", [playlist(10), playlist(9)], "msn"),
        ("segment skipped", [playlist(10), playlist(16)], "msn"),
        ("msn renamed", [playlist(10), playlist(11, uri=lambda n: f"other{n}.ts")], "msn"),
        ("pdt moved", [playlist(10), playlist(11, pdt_shift=lambda n: 0.5)], "pdt"),
        ("pdt gap inside", [playlist(10, pdt_shift=lambda n: 1.0 if n >= 12 else 0.0)], "pdt"),
        (
            "pdt back at a discontinuity",
            [playlist(10, pdt_shift=lambda n: -2.0 if n >= 12 else 0.0, discontinuities=frozenset({12}))],
            "pdt",
        ),
        ("dsn not raised", [playlist(10, discontinuities=frozenset({10})), playlist(11)], "dsn"),
        ("dsn raised without cause", [playlist(10), playlist(11, dsn=1)], "dsn"),
        ("target changed", [playlist(10), playlist(11, target=6)], "target_duration"),
        ("segment longer than target", [playlist(10, duration=4.5)], "target_duration"),
    ],
)
def test_each_broken_rule_has_its_reason(name: str, texts: list[str], reason: str) -> None:
    assert reason_of(History({}), *texts) == reason, name


def test_a_discontinuity_may_jump_pdt_forward_and_dsn_counts_it_out() -> None:
    h = History({})
    first = playlist(10, pdt_shift=lambda n: 30.0 if n >= 12 else 0.0, discontinuities=frozenset({12}))
    later = playlist(13, dsn=1, pdt_shift=lambda n: 30.0)
    assert reason_of(h, first, later) is None


def test_a_violation_is_an_assertion_error_naming_the_variant() -> None:
    with pytest.raises(AssertionError, match=r"^msn: variant 800000: media sequence went back: 10 -> 9$"):
        h = History({})
        check_reload(h, parse_media(playlist(10)), 800000)
        check_reload(h, parse_media(playlist(9)), 800000)


# --- ad markers ----------------------------------------------------------------------------------
OUT, CONT, IN = "#EXT-X-CUE-OUT:8.000", "#EXT-X-CUE-OUT-CONT:ElapsedTime=4.000,Duration=8.000", "#EXT-X-CUE-IN"


def markers_reason(text: str) -> str | None:
    try:
        check_markers(parse_media(text))
    except InvariantViolation as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("name", "tags", "trailer"),
    [
        ("a whole break", {11: [OUT], 12: [CONT], 13: [IN]}, None),
        ("the window ends inside the break", {12: [OUT], 13: [CONT]}, None),
        ("the window starts inside the break", {10: [CONT], 11: [IN]}, None),
        ("CUE-IN at the live edge", {12: [OUT], 13: [CONT]}, [IN]),
        ("no markers at all", {}, None),
        ("a second break after the first", {10: [OUT], 11: [CONT], 12: [IN], 13: [OUT]}, None),
    ],
)
def test_balanced_markers_pass(name: str, tags: dict[int, list[str]], trailer: list[str] | None) -> None:
    assert markers_reason(playlist(10, tags=tags, trailer=trailer)) is None, name


@pytest.mark.parametrize(
    ("name", "tags"),
    [
        ("CONT after the break ended", {10: [OUT], 11: [IN], 12: [CONT]}),
        ("CUE-IN with no break open", {10: [OUT], 11: [IN], 13: [IN]}),
        ("two CUE-OUTs without a CUE-IN", {10: ["#EXT-X-CUE-OUT:30.000"], 12: ["#EXT-X-CUE-OUT:30.000"]}),
        ("a break that never ends", {10: [OUT]}),  # 8 s break, window runs 16 s past it: 24 s > 8 s + 4.5 s
    ],
)
def test_unbalanced_markers_fail(name: str, tags: dict[int, list[str]]) -> None:
    assert markers_reason(playlist(10, count=6, tags=tags)) == "markers", name


def test_a_daterange_break_announced_ahead_is_not_open_yet() -> None:
    start = (T0 + timedelta(seconds=80)).isoformat().replace("+00:00", "Z")
    scte = "0xFC302500000000000000FFF01405000000077FEFFE03EA80A0FE002932E000010000000029E99B61"
    tag = f'#EXT-X-DATERANGE:ID="splice-7",START-DATE="{start}",PLANNED-DURATION=30,SCTE35-OUT={scte}'
    assert markers_reason(playlist(10, tags={11: [tag]})) is None
