"""Parse VAST 2/3/4 XML into ``VastResponse``, treating every byte as hostile.

Ad responses come from third parties we do not control, through wrapper chains we did not
choose, so the parser:

* rejects the body before parsing when it is larger than ``max_bytes`` (an attacker should not
  get to make us allocate a tree for it);
* parses with ``defusedxml`` with DTDs forbidden outright: a VAST document never needs one, and
  refusing the DOCTYPE stops entity bombs, external entities (XXE) and external DTD fetches
  before expat expands or fetches anything;
* is lenient about everything that does not stop an ad from playing (unknown elements,
  namespaces, whitespace around CDATA, missing optional parts, bad numbers), and strict only
  about the document being VAST of a version we understand. One malformed ``<Ad>`` in a pod is
  skipped rather than failing the pod.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from sidecar.ads.vast_model import (
    Ad,
    LinearCreative,
    MediaFile,
    VastError,
    VastErrorCode,
    VastResponse,
)

DEFAULT_MAX_BYTES = 512_000
SUPPORTED_MAJOR_VERSIONS = frozenset({2, 3, 4})

_DURATION_RE = re.compile(r"^(\d{1,3}):([0-5]?\d):([0-5]?\d(?:\.\d{1,9})?)$")


def parse_vast(xml: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> VastResponse:
    """Parse one VAST document; raise ``VastError`` with the IAB code when it is unusable."""
    if len(xml) > max_bytes:
        raise VastError(VastErrorCode.XML_PARSE, f"response is {len(xml)} bytes, limit is {max_bytes}")
    if not xml.strip():
        raise VastError(VastErrorCode.XML_PARSE, "empty document")
    root = _parse_xml(xml)
    if _local(root.tag) != "VAST":
        raise VastError(VastErrorCode.SCHEMA_VALIDATION, f"root element is <{_local(root.tag)}>, not <VAST>")
    version = (root.get("version") or "").strip()
    _check_version(version)
    ads = [ad for el in _children(root, "Ad") if (ad := _parse_ad(el)) is not None]
    return VastResponse(version=version, ads=ads, errors=_urls(root, "Error"))


def parse_duration(text: str | None) -> float | None:
    """``HH:MM:SS`` or ``HH:MM:SS.mmm`` to seconds; None when absent or malformed."""
    if text is None:
        return None
    match = _DURATION_RE.match(text.strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _parse_xml(xml: bytes) -> Element:
    try:
        root: Element = DefusedET.fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise VastError(VastErrorCode.XML_PARSE, f"forbidden XML construct: {type(exc).__name__}") from None
    except ParseError as exc:
        raise VastError(VastErrorCode.XML_PARSE, f"malformed XML: {exc}") from None
    except (ValueError, LookupError, RecursionError) as exc:
        # LookupError: unknown encoding in the XML declaration; RecursionError: absurd nesting.
        raise VastError(VastErrorCode.XML_PARSE, f"unreadable XML: {type(exc).__name__}") from None
    return root


def _check_version(version: str) -> None:
    if not version:
        raise VastError(VastErrorCode.SCHEMA_VALIDATION, "<VAST> has no version attribute")
    major_text = version.split(".", 1)[0]
    if not major_text.isdigit() or int(major_text) not in SUPPORTED_MAJOR_VERSIONS:
        raise VastError(VastErrorCode.VERSION_NOT_SUPPORTED, f"VAST version {version!r} is not supported")


def _parse_ad(el: Element) -> Ad | None:
    inline = _child(el, "InLine")
    wrapper = _child(el, "Wrapper") if inline is None else None
    body = inline if inline is not None else wrapper
    if body is None:
        return None
    ad = Ad(
        id=_attr(el, "id"),
        sequence=_int(el.get("sequence")),
        kind="inline",
        ad_system=_text(_child(body, "AdSystem")),
        title=_text(_child(body, "AdTitle")),
        impressions=_urls(body, "Impression"),
        error_urls=_urls(body, "Error"),
        creatives=_linear_creatives(body),
        ad_serving_id=_text(_child(body, "AdServingId")),
    )
    if wrapper is None:
        return ad
    return replace(
        ad,
        kind="wrapper",
        wrapper_uri=_text(_child(wrapper, "VASTAdTagURI")),
        follow_additional_wrappers=_bool(wrapper.get("followAdditionalWrappers"), default=True),
        allow_multiple_ads=_bool(wrapper.get("allowMultipleAds"), default=False),
        fallback_on_no_ad=_bool(wrapper.get("fallbackOnNoAd"), default=True),
    )


def _linear_creatives(body: Element) -> list[LinearCreative]:
    creatives: list[LinearCreative] = []
    container = _child(body, "Creatives")
    if container is None:
        return creatives
    for creative in _children(container, "Creative"):
        linear = _child(creative, "Linear")
        if linear is None:
            continue
        uaid = _child(creative, "UniversalAdId")
        clicks = _child(linear, "VideoClicks")
        creatives.append(
            LinearCreative(
                id=_attr(creative, "id"),
                # VAST 4 spells it adId, VAST 2/3 AdID.
                ad_id=_attr(creative, "adId") or _attr(creative, "AdID"),
                universal_ad_id=_text(uaid),
                universal_ad_id_registry=_attr(uaid, "idRegistry") if uaid is not None else None,
                duration_seconds=parse_duration(_text(_child(linear, "Duration"))),
                media_files=_media_files(linear),
                tracking=_tracking(linear),
                click_through=_text(_child(clicks, "ClickThrough")) if clicks is not None else None,
                click_tracking=_urls(clicks, "ClickTracking") if clicks is not None else [],
            )
        )
    return creatives


def _media_files(linear: Element) -> list[MediaFile]:
    container = _child(linear, "MediaFiles")
    if container is None:
        return []
    files: list[MediaFile] = []
    for el in _children(container, "MediaFile"):
        url = _text(el)
        if not url:
            continue
        bitrate = _int(el.get("bitrate"))
        if bitrate is None:
            bitrate = _int(el.get("maxBitrate"))
        files.append(
            MediaFile(
                url=url,
                delivery=_attr(el, "delivery"),
                mime_type=_attr(el, "type"),
                bitrate_kbps=bitrate,
                width=_int(el.get("width")),
                height=_int(el.get("height")),
                codec=_attr(el, "codec"),
            )
        )
    return files


def _tracking(linear: Element) -> dict[str, list[str]]:
    tracking: dict[str, list[str]] = {}
    container = _child(linear, "TrackingEvents")
    if container is None:
        return tracking
    for el in _children(container, "Tracking"):
        event = _attr(el, "event")
        url = _text(el)
        if not event or not url:
            continue
        if event == "progress":
            event = f"progress@{_attr(el, 'offset') or '?'}"
        tracking.setdefault(event, []).append(url)
    return tracking


# --- small element helpers: VAST 4 documents are namespaced, VAST 2/3 are not -----------------


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(el: Element, name: str) -> Iterator[Element]:
    return (child for child in el if _local(child.tag) == name)


def _child(el: Element, name: str) -> Element | None:
    return next(_children(el, name), None)


def _text(el: Element | None) -> str | None:
    """Element text with CDATA merged and surrounding whitespace dropped; None when blank."""
    if el is None or el.text is None:
        return None
    text = el.text.strip()
    return text or None


def _urls(el: Element, name: str) -> list[str]:
    return [url for child in _children(el, name) if (url := _text(child))]


def _attr(el: Element, name: str) -> str | None:
    value = el.get(name)
    if value is None:
        return None
    return value.strip() or None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except (ValueError, OverflowError):
        return None


def _bool(value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    return default
