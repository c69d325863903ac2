"""Which addresses a fetch under block_private may connect to, and a transport that holds to it.

The check and the connection must use one answer of the resolver: a name checked, then
resolved again to connect, may answer a public address first and a private one second
(DNS rebinding). So the transport resolves each name once, refuses it if any of its
addresses is not public, and connects to those very addresses. TLS still checks the
certificate against the host name, which httpcore hands start_tls on its own.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052's well-known NAT64 prefix: the last 32 bits are the IPv4 address reached."""
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
"""RFC 8215's local-use NAT64 prefix: where the IPv4 address sits is the operator's choice."""
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
"""The deprecated IPv4-compatible form ::a.b.c.d (with :: and ::1 in it)."""
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
"""SIIT's IPv4-translated form ::ffff:0:a.b.c.d (RFC 2765)."""


class PrivateAddress(httpx.ConnectError):
    """A host that resolves to an address that is not public: an httpx error for whoever uses
    the transport directly, a BlockedAddress from the fetcher."""

    def __init__(self, host: str, address: IPAddress) -> None:
        inner = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        shown = f"{address} (IPv4 {inner})" if inner is not None else str(address)
        super().__init__(f"{host} is {shown}, a private address (refused by block_private)")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches: IPv4-mapped, 6to4, NAT64, IPv4-compatible or -translated."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:  # 2002::/16, the IPv4 address in bits 16-48
        return address.sixtofour
    if any(address in network for network in (_NAT64, _IPV4_COMPATIBLE, _IPV4_TRANSLATED)):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Whether address is a globally reachable host, judged for an IPv6 form of IPv4 by the IPv4 inside."""
    if address.is_multicast:  # which Python counts as global
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        inner = embedded_ipv4(address)
        if inner is not None:
            return inner.is_global
    return address.is_global


def refuse_private(host: str, addresses: Iterable[str]) -> None:
    """Raise PrivateAddress unless every one of host's addresses is public."""
    for text in addresses:
        address = ipaddress.ip_address(text)
        if not is_public(address):
            raise PrivateAddress(host, address)


def resolve(host: str, port: int) -> list[str]:
    """host's addresses, in the resolver's order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PublicOnlyBackend(httpcore.SyncBackend):
    """Connects only to public addresses, to the very ones it checked."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:  # as SyncBackend reports a failed lookup
            raise httpcore.ConnectError(str(exc)) from exc
        refuse_private(host, addresses)
        failure: httpcore.ConnectError | None = None
        for address in addresses:  # in turn, as socket.create_connection does with a name
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} has no address")


class PublicOnlyTransport(httpx.HTTPTransport):
    """httpx's transport, direct (no proxy), through PublicOnlyBackend."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx takes no network backend: the pool it built (unused, so nothing to close) is
        # replaced by the same pool with ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(),
        )
