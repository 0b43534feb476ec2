"""Where Mediagate may send requests on a user's behalf: the one address policy.

Users register webhook URLs; the processor POSTs signed events to them. Without a
policy that is server-side request forgery: ``http://127.0.0.1:8788/jobs``,
``http://169.254.169.254/…`` (cloud metadata), ``http://10.0.0.1/``, ``http://[::1]/``
or ``http://2130706433/`` would all receive signed POSTs from inside our network.

The Worker checks a URL at registration (``normalize_webhook_url``: parsed, normalised,
literal addresses checked); the processor checks again at delivery after DNS resolution
(``check_address`` on every resolved address) and connects to the vetted address only,
without following redirects. Both import this module, so the rules live in one place.
Pure Python with stdlib ``ipaddress`` (Pyodide-safe).

``WEBHOOK_ALLOW_PRIVATE=1`` lifts the address checks for tests and local development
(the test suite's receivers listen on 127.0.0.1). It is off by default; never set it in
production.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
ALLOW_PRIVATE_ENV = "WEBHOOK_ALLOW_PRIVATE"
DEFAULT_PORTS = {"http": 80, "https": 443}

# Everything that is not the public Internet (RFC 6890 special-purpose registries).
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # CGNAT (also Alibaba's metadata 100.100.100.200)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata 169.254.169.254)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated); embedded address checked too
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo 2001::/32 included)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local (AWS metadata fd00:ec2::254)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")
_BLOCKED_NAMES = ("localhost", "metadata.google.internal", "metadata")
_BLOCKED_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMBER_PART = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")


class UrlRejected(ValueError):
    """A URL or address Mediagate will not send requests to (HTTP 422 at registration)."""


def allow_private(env: Mapping[str, str]) -> bool:
    """``WEBHOOK_ALLOW_PRIVATE``: "1"/"true"/"yes" lift the checks (tests and dev only)."""
    return str(env.get(ALLOW_PRIVATE_ENV) or "").strip().lower() in ("1", "true", "yes")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "scoped IPv6 address"
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = blocked_reason(inner)
            if reason:
                return f"{reason} (embedded in {ip})"
        if ip.ipv4_mapped is not None:
            return None
        networks: tuple[ipaddress.IPv4Network, ...] | tuple[ipaddress.IPv6Network, ...] = _BLOCKED_V6
    else:
        networks = _BLOCKED_V4
    for network in networks:
        if ip in network:
            return f"{ip} is in the non-public range {network}"
    if not ip.is_global or ip.is_multicast:
        return f"{ip} is not a public address"
    return None


def check_address(address: str | IPAddress, *, allow_private_addresses: bool = False) -> IPAddress:
    """The parsed address if Mediagate may connect to it; raises UrlRejected otherwise."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError as exc:
        raise UrlRejected(f"{address!r} is not an IP address") from exc
    if not allow_private_addresses:
        reason = blocked_reason(ip)
        if reason:
            raise UrlRejected(f"webhook address not allowed: {reason}")
    return ip


def _parse_ipv4_number_form(host: str) -> ipaddress.IPv4Address | None:
    """WHATWG IPv4 parsing: ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` → 127.0.0.1.

    Returns None when the host is a name (its last label is not numeric); raises when it
    looks numeric but is not a valid address (browsers and curl refuse those too).
    """
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if not _NUMBER_PART.fullmatch(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMBER_PART.fullmatch(p) for p in parts):
        raise UrlRejected(f"host {host!r} is neither a name nor an IPv4 address")
    numbers = []
    for part in parts:
        if len(part) > 12:
            raise UrlRejected(f"host {host!r} has an out-of-range number")
        if part[:2].lower() == "0x":
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            if not set(part) <= set("01234567"):
                raise UrlRejected(f"host {host!r} has an invalid octal number")
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UrlRejected(f"host {host!r} has an out-of-range number")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _parse_port(netloc_port: str, scheme: str) -> int:
    if netloc_port == "":
        return DEFAULT_PORTS[scheme]
    if len(netloc_port) > 5 or not netloc_port.isascii() or not netloc_port.isdigit():
        raise UrlRejected("port must be a number from 1 to 65535")
    port = int(netloc_port)
    if not 1 <= port <= 65535:
        raise UrlRejected("port must be a number from 1 to 65535")
    return port


def _split_host_port(netloc: str) -> tuple[str, str]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise UrlRejected("unterminated IPv6 address")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise UrlRejected("garbage after the IPv6 address")
        return host, rest[1:]
    host, sep, port = netloc.rpartition(":")
    return (host, port) if sep else (netloc, "")


def normalize_webhook_url(url: object, *, allow_private_addresses: bool = False) -> str:
    """Parse and normalise a webhook URL; raise UrlRejected for anything not allowed.

    Only absolute ``http``/``https`` URLs without credentials, with a valid port and a
    host that is a DNS name or a public IP literal. Returns the normalised URL (lower-case
    scheme and host, IP number forms written as dotted quads, default port dropped,
    fragment dropped). Names are resolved and checked again at delivery.
    """
    if not isinstance(url, str) or not url:
        raise UrlRejected("url must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"url is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise UrlRejected("url must be ASCII without spaces or control characters (percent-encode them)")
    if "\\" in url:
        raise UrlRejected("url must not contain backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UrlRejected(f"url does not parse: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not url[len(scheme) :].startswith("://"):
        raise UrlRejected("url must be an absolute http(s) URL")
    netloc = parts.netloc
    if "@" in netloc:
        raise UrlRejected("url must not carry credentials")
    raw_host, raw_port = _split_host_port(netloc)
    port = _parse_port(raw_port, scheme)
    host = raw_host.lower()
    if not host:
        raise UrlRejected("url has no host")
    if host.startswith("["):
        inner = host[1:-1]
        if "%" in inner:
            raise UrlRejected("IPv6 zone identifiers are not allowed")
        try:
            ip6 = ipaddress.IPv6Address(inner)
        except ValueError as exc:
            raise UrlRejected(f"{inner!r} is not an IPv6 address") from exc
        check_address(ip6, allow_private_addresses=allow_private_addresses)
        host_out = f"[{ip6.compressed}]"
    else:
        ip4 = _parse_ipv4_number_form(host)
        if ip4 is not None:
            check_address(ip4, allow_private_addresses=allow_private_addresses)
            host_out = str(ip4)
        else:
            host_out = _check_name(host.rstrip("."), allow_private_addresses)
    port_out = "" if port == DEFAULT_PORTS[scheme] else f":{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host_out}{port_out}{path}{query}"


def _check_name(host: str, allow_private_addresses: bool) -> str:
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        raise UrlRejected(f"host {host!r} is not a valid DNS name")
    if not allow_private_addresses and (host in _BLOCKED_NAMES or host.endswith(_BLOCKED_SUFFIXES) or "." not in host):
        raise UrlRejected(f"host {host!r} is a local name")
    return host


def host_and_port(url: str) -> tuple[str, int, str]:
    """(host without brackets, port, scheme) of a URL ``normalize_webhook_url`` accepted."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    raw_host, raw_port = _split_host_port(parts.netloc)
    host = raw_host[1:-1] if raw_host.startswith("[") else raw_host
    return host, _parse_port(raw_port, scheme), scheme
