"""Naming an origin's renditions and rewriting its master playlist to come through us.

Variant names are derived from the origin's own URIs (``v_800k.m3u8`` → ``v_800k``), so they
read well in logs and URLs and stay the same while the origin's master does. A variant request
can only name a rendition of the channel's current master: the service never fetches a URL a
viewer made up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from sidecar.hls.model import MasterPlaylist
from sidecar.hls.write import rewrite_master

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Rendition:
    name: str
    url: str
    bandwidth: int


@dataclass(frozen=True)
class VariantMap:
    by_name: dict[str, Rendition]
    by_url: dict[str, Rendition]

    @property
    def reference(self) -> Rendition:
        """The lowest-bandwidth rendition: every variant's breaks are anchored the same way."""
        return min(self.by_name.values(), key=lambda r: (r.bandwidth, r.name))


def _name(uri: str) -> str:
    path = urlsplit(uri).path
    stem = path.rsplit("/", 1)[-1]
    if stem.endswith(".m3u8"):
        stem = stem[: -len(".m3u8")]
    if stem in ("index", "playlist", "prog_index", "chunklist", "") and "/" in path.strip("/"):
        stem = path.strip("/").rsplit("/", 2)[-2] + "_" + stem  # 800k/index.m3u8 -> 800k_index
    return _UNSAFE.sub("_", stem).strip("_")[:60] or "v"


def variant_map(master: MasterPlaylist, master_url: str) -> VariantMap:
    by_name: dict[str, Rendition] = {}
    by_url: dict[str, Rendition] = {}
    for variant in master.variants:
        url = urljoin(master_url, variant.uri)
        if url in by_url:
            continue
        name, n = _name(variant.uri), 2
        while name in by_name:
            name, n = f"{_name(variant.uri)}-{n}", n + 1
        rendition = Rendition(name, url, variant.bandwidth)
        by_name[name] = rendition
        by_url[url] = rendition
    return VariantMap(by_name, by_url)


def rewrite(master: MasterPlaylist, master_url: str, variants: VariantMap, query: str = "") -> str:
    """Variant URIs through us (``{name}.m3u8`` relative to our master, plus ``query`` that pins
    the session's mode); every other URI (alternate audio, I-frames, keys) made absolute to the
    origin so it still resolves; every other byte kept."""

    def map_uri(kind: str, uri: str) -> str:
        absolute = urljoin(master_url, uri)
        if kind == "variant":
            return f"{variants.by_url[absolute].name}.m3u8{query}"
        return absolute

    return rewrite_master(master, map_uri)
