"""The URL policy: which addresses a tenant-supplied URL may make this service connect to.

A tenant (an org admin) chooses the URLs the service fetches: origins, VAST tags and the
wrappers they lead to, tracking beacons, ad-pod and slate renditions. Left alone, that is a
server-side request forgery lever: a URL naming 127.0.0.1, a private address, the cloud metadata
service or this service's own admin port would be fetched from inside the network. The rules:

* an address that is not globally routable is denied: loopback, link-local, private (RFC 1918),
  unique-local (fc00::/7), carrier-grade NAT (100.64.0.0/10) and the rest of the special ranges
  (``reserved``: "this network", documentation, benchmarking, multicast ...). IPv4 addresses
  embedded in IPv6 (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged
  by the IPv4 address they lead to;
* the operator's allow list (``SIDECAR_URL_ALLOW``) lets named hosts, ``*.domain`` suffixes,
  addresses and CIDR ranges through, optionally on one port only (``127.0.0.1:8081``);
* whatever the allow list says, cloud metadata addresses and this service's own listeners are
  always denied.

The policy is applied to the address actually connected to (``sidecar.net.client``), so DNS
answers, redirects and rebinding cannot get around it. ``literal_denial`` applies the same rules
at admin-write time to URLs whose host is an address, so a tenant hears about it at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REASONS: tuple[str, ...] = (
    "loopback",
    "link_local",
    "private",
    "unique_local",
    "cgnat",
    "metadata",
    "own_listener",
    "reserved",
)
"""Why an address is denied; each is a metric label value (``ssai_url_denied_total{reason}``)."""

PURPOSES: tuple[str, ...] = ("origin", "ad_media", "vast", "beacon", "admin_write", "other")
"""What a denied URL was for (``ssai_url_denied_total{purpose}``): a channel's origin, ad-pod /
slate / VAST media playlists, VAST tags and wrappers, tracking beacons, an admin write."""

REASON_TEXT = {
    "loopback": "a loopback address",
    "link_local": "a link-local address",
    "private": "a private address",
    "unique_local": "a unique-local address",
    "cgnat": "a carrier-grade NAT address",
    "metadata": "a cloud metadata address",
    "own_listener": "one of this service's own listeners",
    "reserved": "a special-purpose (not globally routable) address",
}

# Instance metadata services: AWS (IPv4, IPv6, ECS task endpoints), GCP and Azure (169.254.169.254),
# Alibaba Cloud (100.100.100.200), Oracle Cloud (192.0.0.192).
METADATA: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "100.100.100.200",
        "192.0.0.192",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)

_RANGES: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("169.254.0.0/16", "link_local"),
        ("fe80::/10", "link_local"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("fc00::/7", "unique_local"),
        ("fec0::/10", "unique_local"),  # deprecated site-local: private by another name
        ("100.64.0.0/10", "cgnat"),
        ("0.0.0.0/8", "reserved"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("224.0.0.0/4", "reserved"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "reserved"),
        ("100::/64", "reserved"),
        ("2001::/23", "reserved"),
        ("2001:db8::/32", "reserved"),
        ("64:ff9b:1::/48", "reserved"),
        ("ff00::/8", "reserved"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


def embedded_v4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address leads to (mapped, NAT64, 6to4), else ``ip`` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def classify(ip: IPAddress) -> str | None:
    """The reason ``ip`` is denied by default, or None for a globally routable address."""
    ip = embedded_v4(ip)
    if ip in METADATA:
        return "metadata"
    for network, reason in _RANGES:
        if ip.version == network.version and ip in network:
            return reason
    if not ip.is_global:
        return "reserved"
    return None


def parse_address(text: str) -> IPAddress | None:
    """An IP address (IPv6 zone id dropped), or None when ``text`` is a name."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


@dataclass(frozen=True)
class AllowEntry:
    """One ``SIDECAR_URL_ALLOW`` entry: a range, or a host name (``*.`` for a domain), maybe a port."""

    text: str
    network: IPNetwork | None = None
    host: str | None = None
    suffix: bool = False
    port: int | None = None

    def matches(self, host: str | None, ip: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return ip.version == self.network.version and ip in self.network
        if host is None or self.host is None:
            return False
        name = host.lower().rstrip(".")
        return name.endswith("." + self.host) if self.suffix else name == self.host


def parse_allow_entry(text: str) -> AllowEntry:
    """``10.1.2.0/24``, ``127.0.0.1:8081``, ``[::1]:8081``, ``origin``, ``*.example.internal:443`` ..."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty entry")
    port: int | None = None
    body = raw
    if raw.startswith("["):
        inner, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not re.fullmatch(r":\d{1,5}", rest)):
            raise ValueError(f"{raw!r}: expected [IPv6] or [IPv6]:PORT")
        body, port = inner, int(rest[1:]) if rest else None
    elif raw.count(":") == 1:
        body, _, port_text = raw.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"{raw!r}: port must be a number")
        port = int(port_text)
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"{raw!r}: port out of range 1-65535")
    try:
        return AllowEntry(raw, network=ipaddress.ip_network(body, strict=False), port=port)
    except ValueError:
        if raw.startswith("["):
            raise ValueError(f"{raw!r}: not an IPv6 address or range") from None
    name = body.lower().rstrip(".")
    if not _HOST_RE.match(name) or "/" in name:
        raise ValueError(f"{raw!r}: not an address, a CIDR range or a host name")
    if name.startswith("*."):
        return AllowEntry(raw, host=name[2:], suffix=True, port=port)
    return AllowEntry(raw, host=name, port=port)


def parse_allow_list(text: str | Sequence[str]) -> tuple[AllowEntry, ...]:
    """Comma- or space-separated entries (a TOML list works too)."""
    items = re.split(r"[,\s]+", text) if isinstance(text, str) else list(text)
    return tuple(parse_allow_entry(item) for item in items if item.strip())


@dataclass(frozen=True)
class Listener:
    """A socket this service listens on; ``address`` None means every address of this machine."""

    address: IPAddress | None
    port: int


@dataclass(frozen=True)
class Denial:
    reason: str
    host: str
    address: str
    port: int

    def __str__(self) -> str:
        where = self.host if self.host == self.address else f"{self.host} ({self.address})"
        return f"{where} port {self.port} is {REASON_TEXT[self.reason]}"


@cache
def local_addresses() -> frozenset[IPAddress]:
    """Addresses of this machine's interfaces (best effort; loopback is always recognised apart)."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hexa = line.split()[0]
            found.add(ipaddress.IPv6Address(int(hexa, 16)))
    with contextlib.suppress(OSError, ImportError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        import fcntl

        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))  # SIOCGIFADDR
                found.add(ipaddress.IPv4Address(packed[20:24]))
    with contextlib.suppress(OSError):
        for address in socket.gethostbyname_ex(socket.gethostname())[2]:
            found.add(ipaddress.IPv4Address(address))
    return frozenset(found)


class UrlPolicy:
    """The rules, with the operator's allow list and this process's listeners."""

    def __init__(self, allow: Iterable[AllowEntry] = (), listeners: Iterable[Listener] = ()) -> None:
        self.allow = tuple(allow)
        self.listeners: set[Listener] = set(listeners)

    def add_listener(self, host: str, port: int) -> None:
        """Deny ``host:port`` from now on (``0.0.0.0``/``::``/empty: every address of this machine)."""
        if host in ("", "0.0.0.0", "::", "*"):  # noqa: S104 - a bind-all address being recognised
            self.listeners.add(Listener(None, port))
            return
        address = parse_address(host)
        if address is not None:
            self.listeners.add(Listener(address, port))
            return
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                resolved = parse_address(str(info[4][0]))
                if resolved is not None:
                    self.listeners.add(Listener(resolved, port))

    def is_own_listener(self, ip: IPAddress, port: int) -> bool:
        ip = embedded_v4(ip)
        for listener in self.listeners:
            if listener.port != port:
                continue
            if listener.address is None:
                if ip.is_loopback or ip.is_unspecified or ip in local_addresses():
                    return True
            elif ip == embedded_v4(listener.address) or (listener.address.is_loopback and ip.is_unspecified):
                return True
        return False

    def never(self, address: str, port: int) -> Denial | None:
        """The part no allow entry can lift: own listeners, cloud metadata (needs no host name)."""
        ip = parse_address(address)
        if ip is None:
            return None
        if self.is_own_listener(ip, port):
            return Denial("own_listener", address, address, port)
        if embedded_v4(ip) in METADATA:
            return Denial("metadata", address, address, port)
        return None

    def check(self, host: str | None, address: str, port: int) -> Denial | None:
        """May the service connect to ``address``:``port``, reached through the name ``host``?"""
        ip = parse_address(address)
        shown = host or address
        if ip is None:  # the resolver returned something that is not an address: refuse
            return Denial("reserved", shown, address, port)
        if self.is_own_listener(ip, port):
            return Denial("own_listener", shown, address, port)
        reason = classify(ip)
        if reason is None:
            return None
        if reason != "metadata" and any(entry.matches(host, ip, port) for entry in self.allow):
            return None
        return Denial(reason, shown, address, port)

    def literal_denial(self, url: str) -> Denial | None:
        """The denial of ``url`` when its host is an address (or ``localhost``); names are checked
        when fetched, since what they resolve to can change."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
        if not host:
            return None
        ip = literal_address(host)
        if ip is None:
            return None
        return self.check(host, str(ip), port)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host stands for without DNS: an IP literal, a ``localhost`` name
    (RFC 6761), or a legacy numeric IPv4 form (``2130706433``, ``127.1``, ``0x7f.1``)."""
    name = host.lower().rstrip(".")
    ip = parse_address(name)
    if ip is not None:
        return ip
    if name == "localhost" or name.endswith(".localhost"):
        return ipaddress.IPv4Address("127.0.0.1")
    if re.fullmatch(r"[0-9a-fx.]+", name) and re.match(r"[0-9]", name):
        with contextlib.suppress(OSError):
            return ipaddress.IPv4Address(socket.inet_aton(name))
    return None
