"""Outbound requests to users' URLs: resolve, vet every address, connect to the vetted one.

A URL that passed registration can still point inward: its name may resolve to
127.0.0.1 or 169.254.169.254 (or be re-pointed there later), and rows may reach the
database without going through the API. So at delivery the URL is parsed again with
``mediagate.netpolicy``, its host is resolved, every resolved address is checked, and the
request goes to that address (the ``Host`` header and TLS SNI/certificate check keep the
name), so a second DNS answer cannot swap in another address. Redirects are never
followed and proxies from the environment are ignored.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mediagate.netpolicy import UrlRejected, check_address, host_and_port, normalize_webhook_url

RESOLVE_TIMEOUT = 5.0

# host, port -> every address of the host. The system resolver in production; tests pass
# their own to make a name resolve to loopback or change its answer between lookups.
AddressResolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class Target:
    """Where to send: the URL with the vetted IP as host, plus what keeps the name."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, Any] = field(default_factory=dict)


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OSError(f"{host!r} has no addresses")
    return addresses


async def vetted_target(url: str, *, allow_private: bool = False, resolver: AddressResolver | None = None) -> Target:
    """The pinned target for ``url``; UrlRejected if the URL or any address is not allowed."""
    normalized = normalize_webhook_url(url, allow_private_addresses=allow_private)
    host, port, scheme = host_and_port(normalized)
    rest = normalized.split("/", 3)[3] if normalized.count("/") >= 3 else ""
    return await pin(host, port, scheme, rest, allow_private=allow_private, resolver=resolver)


async def pin(
    host: str,
    port: int,
    scheme: str,
    path_and_query: str = "",
    *,
    allow_private: bool = False,
    resolver: AddressResolver | None = None,
) -> Target:
    """Resolve ``host`` once, check every address, and aim the request at the first one."""
    try:
        addresses = [str(ipaddress.ip_address(host))]  # a literal needs no resolver
    except ValueError:
        addresses = await (resolver or resolve)(host, port)
    if not addresses:
        raise OSError(f"{host!r} has no addresses")
    for address in addresses:  # all of them: a name must not mix public and private answers
        check_address(address, allow_private_addresses=allow_private)
    ip = ipaddress.ip_address(addresses[0])
    ip_host = f"[{ip.compressed}]" if ip.version == 6 else str(ip)
    name_host = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    suffix = "" if port == default else f":{port}"
    is_literal = addresses == [host] or ":" in host
    extensions: dict[str, Any] = {"sni_hostname": host} if scheme == "https" and not is_literal else {}
    return Target(f"{scheme}://{ip_host}{suffix}/{path_and_query}", {"Host": f"{name_host}{suffix}"}, extensions)


__all__ = ["RESOLVE_TIMEOUT", "AddressResolver", "Target", "UrlRejected", "pin", "resolve", "vetted_target"]
