"""The URL policy's rules, address by address (pure: nothing is connected to here)."""

from __future__ import annotations

import pytest

from sidecar.net.policy import UrlPolicy, classify, literal_address, parse_address, parse_allow_entry, parse_allow_list
from sidecar.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.200.0.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("169.254.10.1", "link_local"),
        ("fe80::1", "link_local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("64:ff9b::a01:203", "private"),  # NAT64 of 10.1.2.3
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("fc00::1", "unique_local"),
        ("fd12:3456::1", "unique_local"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"),
        ("169.254.169.254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("::ffff:169.254.169.254", "metadata"),
        ("0.0.0.0", "reserved"),
        ("::", "reserved"),
        ("224.0.0.1", "reserved"),
        ("ff02::1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
    ],
)
def test_addresses_are_classified(address: str, reason: str | None) -> None:
    ip = parse_address(address)
    assert ip is not None
    assert classify(ip) == reason


def test_allow_entries_let_names_ranges_and_ports_through() -> None:
    policy = UrlPolicy(parse_allow_list("origin, 10.20.0.0/16 127.0.0.1:8081,*.media.internal:443,[::1]:9000"))
    assert policy.check("origin", "172.18.0.5", 8081) is None  # a name vouches for its addresses
    assert policy.check("ORIGIN.", "172.18.0.5", 80) is None
    assert policy.check("other", "172.18.0.5", 80) is not None
    assert policy.check("x", "10.20.3.4", 80) is None
    assert policy.check("x", "10.21.3.4", 80) is not None
    assert policy.check("127.0.0.1", "127.0.0.1", 8081) is None
    assert policy.check("127.0.0.1", "127.0.0.1", 8082) is not None  # the port is part of the entry
    assert policy.check("a.media.internal", "10.9.9.9", 443) is None
    assert policy.check("media.internal", "10.9.9.9", 443) is not None  # *.x is below x only
    assert policy.check("a.media.internal", "10.9.9.9", 80) is not None
    assert policy.check("::1", "::1", 9000) is None


def test_metadata_and_own_listeners_stay_denied_whatever_is_allowed() -> None:
    policy = UrlPolicy(parse_allow_list("0.0.0.0/0, ::/0, metadata.internal"))
    policy.add_listener("127.0.0.1", 8791)
    policy.add_listener("0.0.0.0", 8787)  # a bind-all listener: every local address on that port
    assert policy.check("x", "10.0.0.1", 80) is None  # the operator allowed everything else
    denial = policy.check("metadata.internal", "169.254.169.254", 80)
    assert denial is not None and denial.reason == "metadata"
    assert (policy.check("x", "127.0.0.1", 8791) or policy.check("", "", 0)).reason == "own_listener"  # type: ignore[union-attr]
    assert policy.check("x", "127.0.0.1", 8790) is None
    for address in ("127.0.0.1", "127.5.5.5", "::1", "::ffff:127.0.0.1"):
        found = policy.check("x", address, 8787)
        assert found is not None and found.reason == "own_listener", address
    assert policy.never("127.0.0.1", 8791) is not None and policy.never("127.0.0.1", 8080) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8791/metrics", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://[fe80::1%25eth0]/x", "link_local"),
        ("http://localhost:8080/a.m3u8", "loopback"),
        ("http://stream.localhost/a.m3u8", "loopback"),
        ("http://2130706433/", "loopback"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "loopback"),
        ("http://10.0.0.5/live.m3u8", "private"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://user:pw@192.168.0.1:81/?q=1", "private"),
        ("http://0/", "reserved"),
        ("http://8.8.8.8/a.m3u8", None),
        ("http://origin.example.com/a.m3u8", None),  # names are judged when fetched
        ("http://10.example.com/a.m3u8", None),
    ],
)
def test_literal_addresses_in_urls(url: str, reason: str | None) -> None:
    denial = UrlPolicy().literal_denial(url)
    assert (denial.reason if denial else None) == reason


def test_numeric_hosts_are_addresses() -> None:
    assert str(literal_address("127.1")) == "127.0.0.1"
    assert literal_address("example.com") is None
    assert literal_address("1e100.net") is None


@pytest.mark.parametrize("entry", ["", "http://x", "a b", "10.0.0.0/33", "[::1", "host:99999", "host:x", "-bad-.com/"])
def test_bad_allow_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_allow_entry(entry)


def test_the_setting_names_itself_when_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIDECAR_URL_ALLOW", "origin, not a host!")
    with pytest.raises(SettingsError, match="SIDECAR_URL_ALLOW"):
        load_settings()
    monkeypatch.setenv("SIDECAR_URL_ALLOW", "origin,  10.0.0.0/8 ")
    assert load_settings().url_allow == "origin,10.0.0.0/8"
    monkeypatch.delenv("SIDECAR_URL_ALLOW")
    assert load_settings().url_allow_entries == ()  # nothing allowed by default


def test_listeners_of_every_worker_are_known() -> None:
    """Several workers share the viewer and admin ports; the supervisor serves the one metrics port."""
    settings = load_settings(workers=3, redis_url="redis://127.0.0.1:6379/0", metrics_listen="127.0.0.1:9200")
    ports = {a.port for a in settings.listen_addresses}
    assert ports == {8787, 8791, 9200}
