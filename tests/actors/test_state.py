"""Pure ad-break transitions."""

from __future__ import annotations

import pytest

from sidecar.actors.state import BreakActive, ChannelState, describe, start_break, stop_break


def test_start_is_idempotent_per_event_id() -> None:
    s1 = start_break(ChannelState(), now=100.0, duration=30, source="scte35", event_id="ev1", start_pdt=99.0)
    assert s1 is not None and s1.current is not None
    assert (s1.current.ends_at, s1.current.start_pdt, s1.current.source) == (130.0, 99.0, "scte35")
    # The same cue seen again on a later reload neither restarts nor extends the break...
    assert start_break(s1, now=110.0, duration=60, source="scte35", event_id="ev1") is None
    # ...even after the break ended.
    assert start_break(s1, now=500.0, duration=30, source="scte35", event_id="ev1") is None


def test_a_second_break_while_one_runs_is_refused() -> None:
    s1 = start_break(ChannelState(), now=0.0, duration=30, source="manual")
    assert s1 is not None
    with pytest.raises(BreakActive):
        start_break(s1, now=10.0, duration=30, source="manual")
    s2 = start_break(s1, now=31.0, duration=10, source="manual")
    assert s2 is not None and s2.current is not None and s2.current.started_at == 31.0
    assert [b.id for b in s2.history] == [s1.current.id]  # type: ignore[union-attr]


def test_stop_ends_now_and_is_a_noop_when_idle() -> None:
    assert stop_break(ChannelState(), now=5.0) is None
    s1 = start_break(ChannelState(), now=0.0, duration=30, source="manual")
    assert s1 is not None
    s2 = stop_break(s1, now=12.0)
    assert s2 is not None and s2.current is not None
    assert s2.current.ends_at == 12.0 and s2.current.stopped_at == 12.0
    assert s2.active_break(12.5) is None
    view = describe(s2, 3, 12.0, 13.0)
    assert view["active"] is False and view["version"] == 3 and view["source"] == "manual"


def test_json_round_trip() -> None:
    s1 = start_break(ChannelState(), now=1.0, duration=2, source="schedule", pod_id="pod_x")
    assert s1 is not None
    assert ChannelState.from_json(s1.to_json()) == s1
    assert ChannelState.from_json(None) == ChannelState()


def test_breaks_never_overlap_in_media_time_even_after_the_wall_clock_ended_one() -> None:
    s1 = start_break(ChannelState(), now=0.0, duration=10, source="manual", start_pdt=100.0)
    assert s1 is not None
    # The wall clock says the first break is over (now > ends_at) but its media time is not.
    with pytest.raises(BreakActive):
        start_break(s1, now=11.0, duration=10, source="manual", start_pdt=105.0)
    with pytest.raises(BreakActive):
        start_break(s1, now=11.0, duration=10, source="manual", start_pdt=95.0)
    s2 = start_break(s1, now=11.0, duration=10, source="scte35", event_id="next", start_pdt=110.0)
    assert s2 is not None and s2.current is not None and s2.current.start_pdt == 110.0, "back to back is fine"
