"""Shared helpers for the HLS tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sidecar.hls import MediaPlaylist, format_pdt

GOLDEN = Path(__file__).resolve().parent / "golden"


def golden(name: str) -> str:
    return (GOLDEN / name).read_text()


def inputs() -> list[str]:
    """Golden input playlists (not the ``.canonical.m3u8`` expectations)."""
    return sorted(p.name for p in GOLDEN.glob("*.m3u8") if not p.name.endswith(".canonical.m3u8"))


def canonical(pl: MediaPlaylist) -> MediaPlaylist:
    """The same playlist without the origin's formatting, as a splicer-built playlist would be."""
    return replace(pl, source=None, segments=tuple(replace(s, source=None) for s in pl.segments))


def iso(value: object) -> str | None:
    return format_pdt(value) if isinstance(value, datetime) else None
