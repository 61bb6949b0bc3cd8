"""parse_vast: every field of a VAST 4.2 pod, older shapes, and hostile or broken input."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from sidecar.ads.vast import (
    Ad,
    LinearCreative,
    MediaFile,
    VastError,
    VastErrorCode,
    parse_duration,
    parse_vast,
)
from tests.ads.adserver import render_fixture

B = "https://beacon.test"
BASE = "https://ads.test"


def fixture(name: str, **extra: str) -> bytes:
    return render_fixture(name, BEACON=B, BASE=BASE, **extra).encode()


def rejected(xml: bytes, **kwargs: int) -> VastError:
    with pytest.raises(VastError) as info:
        parse_vast(xml, **kwargs)
    return info.value


def test_inline_pod_every_field() -> None:
    vast = parse_vast(fixture("inline_3ads.xml"))

    assert vast.version == "4.2"
    assert vast.errors == []
    assert [(a.id, a.sequence, a.kind) for a in vast.ads] == [
        ("pod-ad-1", 1, "inline"), ("pod-ad-2", 2, "inline"), ("pod-ad-3", 3, "inline"),
    ]
    first = vast.ads[0]
    assert first == Ad(
        id="pod-ad-1",
        sequence=1,
        kind="inline",
        ad_system="sidecar-test-adserver",
        title="First ad",
        # CDATA surrounded by newlines and indentation comes out as the bare URL.
        impressions=[f"{B}/impression/pod-ad-1?cb=[CACHEBUSTING]"],
        error_urls=[f"{B}/error/pod-ad-1?code=[ERRORCODE]"],
        creatives=[
            LinearCreative(
                id="creative-1",
                ad_id="adid-1",
                universal_ad_id="UAID-0001",
                universal_ad_id_registry="Ad-ID",
                duration_seconds=10.0,
                media_files=[
                    MediaFile(
                        url="https://ads.example/creatives/1/master.m3u8",
                        delivery="streaming",
                        mime_type="application/x-mpegURL",
                        bitrate_kbps=3000,  # maxBitrate when only a range is declared
                        width=1920,
                        height=1080,
                        codec="avc1.64001f,mp4a.40.2",
                    ),
                    MediaFile(
                        url="https://ads.example/creatives/1/720p.mp4",
                        delivery="progressive",
                        mime_type="video/mp4",
                        bitrate_kbps=2000,
                        width=1280,
                        height=720,
                        codec="H.264",
                    ),
                ],
                tracking={
                    "start": [f"{B}/track/pod-ad-1/start"],
                    "firstQuartile": [f"{B}/track/pod-ad-1/firstQuartile"],
                    "midpoint": [f"{B}/track/pod-ad-1/midpoint"],
                    "thirdQuartile": [f"{B}/track/pod-ad-1/thirdQuartile"],
                    "complete": [f"{B}/track/pod-ad-1/complete"],
                    "progress@00:00:05": [f"{B}/track/pod-ad-1/progress5"],
                    "pause": [f"{B}/track/pod-ad-1/pause"],
                },
                click_through="https://advertiser.example/landing/1",
                click_tracking=[f"{B}/click/pod-ad-1"],
            )
        ],
        ad_serving_id="serving-0001",
    )
    assert first.duration_seconds == 10.0
    assert [m.is_hls for m in first.creatives[0].media_files] == [True, False]


def test_inline_pod_other_ads() -> None:
    second, third = parse_vast(fixture("inline_3ads.xml")).ads[1:]
    assert second.creatives[0].duration_seconds == 10.0  # "00:00:10.000"
    assert second.creatives[0].media_files[0].bitrate_kbps is None  # no bitrate at all
    assert second.creatives[0].click_tracking == []
    assert third.creatives[0].click_through is None  # no VideoClicks
    assert sorted(third.creatives[0].tracking) == sorted(
        ["start", "firstQuartile", "midpoint", "thirdQuartile", "complete"]
    )


def test_vast2_shape_and_lenient_attributes() -> None:
    vast = parse_vast(fixture("vast2_inline.xml"))
    assert vast.version == "2.0"
    # The <Ad> with neither InLine nor Wrapper is skipped, not fatal.
    assert [a.id for a in vast.ads] == ["v2-ad"]
    creative = vast.ads[0].creatives[0]
    assert creative.ad_id == "legacy-creative"  # VAST 2/3 spelling AdID
    assert creative.universal_ad_id is None
    assert creative.duration_seconds == 30.5
    assert creative.tracking["creativeView"] == ["https://legacy.example/view"]
    # Whitespace around the URL is dropped; unparseable numbers become None; blank URL skipped.
    assert creative.media_files == [
        MediaFile("https://legacy.example/ad.mp4", "progressive", "video/mp4", 500, 640, 360, None),
        MediaFile("https://legacy.example/odd.mp4", "progressive", "video/mp4", None, None, 360, None),
    ]
    assert vast.ads[0].ad_serving_id is None


def test_wrapper_fields() -> None:
    (wrapper,) = parse_vast(fixture("wrapper_1.xml")).ads
    assert wrapper.kind == "wrapper"
    assert wrapper.wrapper_uri == f"{BASE}/vast/wrapper2?cb=[CACHEBUSTING]&ts=[TIMESTAMP]&pos=[CONTENTPLAYHEAD]"
    assert wrapper.follow_additional_wrappers is True
    assert wrapper.allow_multiple_ads is True
    assert wrapper.fallback_on_no_ad is True
    assert wrapper.impressions == [f"{B}/impression/wrapper-1"]  # the blank CDATA one is dropped
    (linear,) = wrapper.creatives
    assert linear.duration_seconds is None and linear.media_files == []
    assert linear.tracking["mute"] == [f"{B}/track/wrapper-1/mute"]
    assert linear.click_tracking == [f"{B}/click/wrapper-1"]


def test_wrapper_vast3_without_namespace_and_flag_defaults() -> None:
    (wrapper,) = parse_vast(fixture("wrapper_2.xml")).ads
    assert wrapper.kind == "wrapper"
    assert wrapper.wrapper_uri == f"{BASE}/vast/inline3"
    assert wrapper.allow_multiple_ads is True
    (templated,) = parse_vast(
        fixture("wrapper_template.xml", ID="t", NEXT="https://x.test/v", ATTRS='followAdditionalWrappers="0"')
    ).ads
    assert templated.follow_additional_wrappers is False
    assert templated.allow_multiple_ads is False  # VAST default when absent


def test_empty_vast_is_a_response_with_no_ads() -> None:
    vast = parse_vast(fixture("empty.xml"))
    assert (vast.version, vast.ads, vast.errors) == ("4.2", [], [])


def test_no_ad_response_keeps_root_error_urls() -> None:
    vast = parse_vast(fixture("noad.xml"))
    assert vast.ads == []
    assert vast.errors == [f"{B}/error/noad?code=[ERRORCODE]&cb=[CACHEBUSTING]"]


@pytest.mark.parametrize("body", [b"", b"   \n\t "])
def test_empty_body_is_rejected(body: bytes) -> None:
    assert rejected(body).code == VastErrorCode.XML_PARSE


def test_malformed_xml() -> None:
    error = rejected(fixture("malformed.xml"))
    assert error.code == 100
    assert "malformed" in error.reason


def test_billion_laughs_is_refused_before_expansion() -> None:
    started = time.perf_counter()
    error = rejected(fixture("billion_laughs.xml"))
    assert error.code == 100
    assert "DTDForbidden" in error.reason
    # Expanding lol9 would mean 10^9 "lol"s (gigabytes); refusing the DTD is instant.
    assert time.perf_counter() - started < 2.0


def test_external_entity_never_reads_the_file(tmp_path: Path) -> None:
    secret = f"SECRET-{secrets.token_hex(16)}"
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    xml = fixture("xxe_file.xml", SECRET_PATH=str(target))
    assert str(target).encode() in xml  # the attack really points at the file
    error = rejected(xml)
    assert error.code == 100
    assert "DTDForbidden" in error.reason
    assert secret not in str(error) and secret not in repr(error.__cause__)


def test_external_dtd_and_parameter_entity_are_refused() -> None:
    error = rejected(fixture("xxe_remote_dtd.xml"))
    assert error.code == 100


def test_size_limit_is_enforced_before_parsing() -> None:
    body = b'<VAST version="4.2">' + b"<!-- pad -->" * 100 + b"</VAST>"
    assert parse_vast(body, max_bytes=len(body)).version == "4.2"  # exactly at the limit is fine
    error = rejected(body, max_bytes=len(body) - 1)
    assert error.code == 100
    assert "limit" in error.reason
    # An unparseable 2 MB body is rejected by size, not by the (slower) parser.
    assert "limit" in rejected(b"<" * 2_000_000).reason


def test_not_vast_is_schema_error() -> None:
    error = rejected(b"<html><body>Ad server maintenance</body></html>")
    assert error.code == VastErrorCode.SCHEMA_VALIDATION


def test_missing_version_is_schema_error() -> None:
    assert rejected(b"<VAST><Ad/></VAST>").code == VastErrorCode.SCHEMA_VALIDATION


@pytest.mark.parametrize("version", ["1.0", "5.0", "five"])
def test_unsupported_version(version: str) -> None:
    error = rejected(f'<VAST version="{version}"/>'.encode())
    assert error.code == VastErrorCode.VERSION_NOT_SUPPORTED
    assert version in error.reason


def test_declared_encoding_is_honoured_and_unknown_encoding_rejected() -> None:
    latin1 = '<?xml version="1.0" encoding="ISO-8859-1"?><VAST version="3.0"><Ad id="é"><InLine>' \
             "<AdTitle>Caf\u00e9</AdTitle></InLine></Ad></VAST>"
    (ad,) = parse_vast(latin1.encode("latin-1")).ads
    assert (ad.id, ad.title) == ("é", "Café")
    assert rejected(b'<?xml version="1.0" encoding="x-no-such"?><VAST version="4.0"/>').code == 100


def test_absurd_nesting_does_not_crash() -> None:
    depth = 100_000
    body = b'<VAST version="4.2"><Ad id="deep"><InLine><AdTitle>' + b"<a>" * depth + b"</a>" * depth \
        + b"</AdTitle></InLine></Ad></VAST>"
    try:
        vast = parse_vast(body, max_bytes=len(body))
    except VastError as exc:
        assert exc.code == 100
    else:
        assert vast.ads[0].title is None  # title text is not looked for inside child elements


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:10", 10.0),
        ("00:00:10.5", 10.5),
        ("01:02:03.250", 3723.25),
        (" 0:0:5 ", 5.0),
        (None, None),
        ("", None),
        ("10", None),
        ("00:61:00", None),
        ("00:00:-1", None),
        ("abc", None),
    ],
)
def test_parse_duration(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
