"""Which addresses notifications may be POSTed to.

A notificationURI is chosen by the client, and the server POSTs to it presenting its own
certificate: by default only globally routable addresses are reached.  Loopback, link-local
(169.254.169.254 among them), private, unspecified, multicast and reserved addresses are refused
unless the operator allows a network holding them (Config.notification_allow_addresses).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"notification_allow_addresses: {entry!r} is not an address or network: {exc}") from None
    return tuple(networks)


def normalized(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it reaches."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str) -> Address | None:
    """The address text names (without an IPv6 zone), or None when it is no address."""
    try:
        return normalized(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None


def literal_host(host: str) -> Address | None:
    """The address a URI's host names literally, including legacy IPv4 forms (127.1, 2130706433, 0x7f.1)
    that a resolver would take; None for a DNS name."""
    host = host.strip("[]")
    address = parse_address(host)
    if address is not None:
        return address
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def kind(address: Address) -> str | None:
    """What makes an address one that notifications do not go to by default; None: globally routable."""
    address = normalized(address)
    for name, test in (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
                       ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                       ("reserved", address.is_reserved), ("private", address.is_private)):
        if test:
            return name
    return None if address.is_global else "not globally routable"


def is_this_host(address: Address) -> bool:
    """Loopback and unspecified addresses reach this machine whatever its interfaces."""
    address = normalized(address)
    return address.is_loopback or address.is_unspecified


@dataclass(frozen=True)
class AddressPolicy:
    allowed: tuple[Network, ...] = ()
    own_ports: frozenset[int] = frozenset()  # the server's listening ports

    def refusal(self, address: Address, port: int, this_host: bool) -> str | None:
        """Why a notification may not be POSTed to address:port (this_host: the address is this machine's
        own), or None when it may."""
        address = normalized(address)
        if this_host and port in self.own_ports:
            return f"{address} port {port} is this server's own listener"
        why = kind(address)
        if why is None or any(address.version == n.version and address in n for n in self.allowed):
            return None
        return f"{address} is a {why} address (not in notification_allow_addresses)"

    def uri_refusal(self, uri: str) -> str | None:
        """Why a notificationURI naming its host as a literal address is refused; None when it is not, or
        names a host to be resolved (checked when a notification is sent)."""
        try:
            parts = urlsplit(uri)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
        except ValueError as exc:
            return f"{uri} is not a URI: {exc}"
        address = literal_host(parts.hostname or "")
        if address is None:
            return None
        return self.refusal(address, port, is_this_host(address))
