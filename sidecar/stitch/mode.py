"""Choosing SSAI or SGAI for a request of an ``auto`` channel.

Order: an explicit ``mode`` query parameter (our master pins it on every variant URI, so a
session never mixes modes), then the ``X-Sidecar-Mode`` header, then the user agent: Apple's
players (AVFoundation, Safari) play HLS Interstitials; others get SSAI. hls.js can play
interstitials too, but only a page that enabled them knows; such pages ask with ``?mode=sgai``.
"""

from __future__ import annotations

from collections.abc import Mapping

MODES = ("ssai", "sgai")
_APPLE = ("AppleCoreMedia", "AVPlayer", "iPhone", "iPad", "AppleTV", "tvOS")
_NOT_SAFARI = ("Chrome", "Chromium", "CriOS", "Firefox", "FxiOS", "Edg", "OPR", "Android")


def choose_mode(channel_mode: str, query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    if channel_mode in MODES:
        return channel_mode
    asked = (query.get("mode") or headers.get("X-Sidecar-Mode") or "").lower()
    if asked in MODES:
        return asked
    agent = headers.get("User-Agent", "")
    if any(token in agent for token in _APPLE):
        return "sgai"
    if "Safari" in agent and "Macintosh" in agent and not any(token in agent for token in _NOT_SAFARI):
        return "sgai"
    return "ssai"
