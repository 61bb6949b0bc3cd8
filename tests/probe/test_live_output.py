"""The probe's rules hold on what the real service serves through a whole ad break.

A probe that pages on false alarms gets switched off, so the marker rules (which are the
probe's own, unlike the reload rules the splice tests already use) are walked through a break
of every cue dialect in both modes, reload by reload, against the real service and origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sidecar.hls.parse import parse_media
from sidecar.probe.invariants import History, check_markers, check_reload
from sidecar.probe.validity import VariantState
from tests.web.test_manifest import BREAK_AT, Setup, _setup, walk


@pytest.fixture
async def live(sqlite_url: str) -> AsyncIterator[Setup]:
    async for s in _setup(database_url=sqlite_url, origin_timeout_seconds=1.0, origin_cache_seconds=0):
        yield s


@pytest.mark.parametrize("stream", ["cueout", "daterange", "oatcls", "timesignal"])
async def test_markers_and_reloads_are_valid_through_a_break(live: Setup, stream: str) -> None:
    await live.channel(slug=stream, stream=stream)
    for mode in ("ssai", "sgai"):
        history = History({})
        reloads = await walk(live, stream, mode, BREAK_AT - 30, BREAK_AT + 60, step=2.0)
        markers_seen = 0
        for _, text in reloads:
            pl = parse_media(text)
            check_reload(history, pl, f"{stream}/{mode}")
            check_markers(pl, f"{stream}/{mode}")
            markers_seen += "CUE-OUT" in text or "SCTE35-OUT" in text
        assert markers_seen > 0, "the walk went through a signalled break"


async def test_the_probe_judge_accepts_the_same_reloads(live: Setup) -> None:
    """VariantState.judge (parse + reload rules + markers, with pruning) on a real walk."""
    await live.channel(slug="cueout", stream="cueout")
    state = VariantState("cueout/800k")
    reloads = await walk(live, "cueout", "ssai", BREAK_AT - 20, BREAK_AT + 50, step=2.0)
    for i, (_, text) in enumerate(reloads):
        state.judge(text, now=float(i))  # one second apart: never "too late"
    assert state.last_ok == float(len(reloads) - 1)
    assert len(state.history.by_msn) <= 12, "pruned to about one window"
