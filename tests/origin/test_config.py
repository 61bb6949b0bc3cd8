"""OriginConfig refuses configurations that would produce invalid or ambiguous HLS."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.origin import DEFAULT_RENDITIONS, OriginConfig, Rendition


def test_defaults() -> None:
    cfg = OriginConfig()
    assert cfg.ladder == DEFAULT_RENDITIONS
    assert (cfg.segment_duration, cfg.window, cfg.cue_flavour) == (4.0, 6, "cue-out")
    assert (cfg.break_interval, cfg.break_duration, cfg.media) == (120.0, 30.0, "none")
    assert {"pod-a", "pod-short"} <= set(cfg.pods)


def test_rendition_tuples_are_normalised() -> None:
    cfg = OriginConfig(renditions=(("low", 400_000, "480x270"),))
    assert cfg.ladder == (Rendition("low", 400_000, "480x270"),)
    assert cfg.rendition("low") is cfg.ladder[0] and cfg.rendition("nope") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"segment_duration": 0.5}, "between 1 and 10"),
        ({"segment_duration": 11.0}, "between 1 and 10"),
        ({"segment_duration": 4.01}, "whole number of frames"),
        ({"window": 2}, "at least 3"),
        ({"cue_flavour": "scte35"}, "cue_flavour"),
        ({"media": "gstreamer"}, "media"),
        ({"break_interval": 36.0}, "two content segments"),
        ({"renditions": ()}, "at least one"),
        ({"renditions": (("a", 800_000, "640x360"), ("a", 900_000, "640x360"))}, "unique"),
        ({"renditions": (("master", 800_000, "640x360"),)}, "master"),
        ({"renditions": (("a b", 800_000, "640x360"),)}, "invalid rendition name"),
        ({"renditions": (("a", 800_000, "641x360"),)}, "even"),
        ({"renditions": (("a", 800_000, "hd"),)}, "640x360"),
        ({"renditions": (("a", 1_000, "640x360"),)}, "bandwidth"),
        ({"pods": {"slate": (10.0,)}}, "invalid pod name"),
        ({"pods": {"p": ()}}, "no ads"),
        ({"pods": {"p": (10.01,)}}, "whole number of frames"),
        ({"stream_cues": {"s": "bogus"}}, "stream_cues"),
        ({"streams": ("../etc",)}, "invalid stream name"),
        ({"slate_duration": 5.0}, "slate_duration"),
        ({"huge_bytes": 1024}, "5 MiB"),
    ],
)
def test_invalid_configs_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OriginConfig(**fields)


def test_streams_and_flavours() -> None:
    cfg = OriginConfig(streams=("a", "b"), stream_cues={"b": "daterange"})
    assert [cfg.stream_allowed(s) for s in ("a", "b", "c")] == [True, True, False]
    assert (cfg.flavour_for("a"), cfg.flavour_for("b")) == ("cue-out", "daterange")
    assert OriginConfig().stream_allowed("anything-1") and not OriginConfig().stream_allowed("a/b")
