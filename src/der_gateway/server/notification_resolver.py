"""Where notification POSTs may connect: each address is checked as it is resolved, and only those
that pass are handed to the connector, so the connection goes to a checked address (no second
lookup between the check and the connect for a DNS answer to change).

aiohttp's connector resolves DNS names through its resolver, and takes a host written as an
address without one: `check_literal` covers those before the request is made.
"""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from ..domain.notification_addresses import DEFAULT_PORTS, Address, AddressPolicy, is_this_host, parse_address


class RefusedAddress(Exception):
    """A notificationURI whose host has no address that notifications may go to."""


def is_local(address: Address) -> bool:
    """Whether address is one of this machine's own: the source address the kernel would pick to reach it is
    itself (a UDP connect chooses a route and sends nothing)."""
    if is_this_host(address):
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((str(address), 9))
            return parse_address(probe.getsockname()[0]) == address
    except OSError:
        return False


class Destinations:
    """The operator's policy, with this server's listening ports as they were bound."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def serving_on(self, *ports: int | None) -> None:
        self.policy = AddressPolicy(self.policy.allowed, frozenset(p for p in ports if p))

    def refusal(self, host: str, port: int) -> str | None:
        address = parse_address(host)
        if address is None:
            return f"{host} is not an address"
        return self.policy.refusal(address, port, port in self.policy.own_ports and is_local(address))

    def check_literal(self, url: URL) -> None:
        """Raises RefusedAddress when url's host is written as an address that is refused.

        aiohttp takes a host as an address (without resolving it) when it holds a colon or only digits and
        dots: such a host must be an address that passes."""
        host = url.raw_host or ""
        if ":" in host or host.replace(".", "").isdigit():
            why = self.refusal(host, url.port or DEFAULT_PORTS.get(url.scheme, 0))
            if why is not None:
                raise RefusedAddress(why)


class CheckedResolver(AbstractResolver):
    """Resolves as `inner` does, and keeps only the addresses notifications may go to."""

    def __init__(self, destinations: Destinations, inner: AbstractResolver | None = None) -> None:
        self.destinations = destinations
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        kept, refused = [], []
        for result in await self.inner.resolve(host, port, family):
            why = self.destinations.refusal(result["host"], result["port"] or port)
            if why is None:
                kept.append(result)
            else:
                refused.append(why)
        if not kept:
            raise RefusedAddress(f"{host} has no address notifications may go to: "
                                 + "; ".join(dict.fromkeys(refused)))
        return kept

    async def close(self) -> None:
        await self.inner.close()
