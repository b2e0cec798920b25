"""In-band EndDevice registration (POST /edev): who may register what, and duplicates.

A POSTed EndDevice that names an lFDI/sFDI the server already holds is a
re-registration when the caller may act for the existing one: the existing
EndDevice is updated and its location returned, so a retried or repeated
registration never makes a second copy.  Anyone else gets a refusal.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..sep.identity import normalize_lfdi, sfdi_from_lfdi
from .clients import Client


class Refused(Exception):
    """The request is understood but not allowed; status says how to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    lfdi: str
    sfdi: int


def identity_of(client: Client, lfdi: str | None, sfdi: int) -> Identity:
    """The EndDevice's identity, checked for consistency; the caller's own when it omits lFDI."""
    if lfdi is None:
        if sfdi != client.sfdi:
            raise Refused(400, "lFDI is required when registering an EndDevice other than the caller's own")
        return Identity(client.lfdi, sfdi)
    try:
        lfdi = normalize_lfdi(lfdi)
    except ValueError:
        raise Refused(400, "lFDI must be 40 hex digits") from None
    if sfdi_from_lfdi(lfdi) != sfdi:
        raise Refused(400, f"sFDI {sfdi} is not derived from lFDI {lfdi} (expected {sfdi_from_lfdi(lfdi)})")
    return Identity(lfdi, sfdi)


def check_may_register(client: Client, identity: Identity) -> None:
    if identity.lfdi != client.lfdi and not client.is_aggregator:
        raise Refused(403, "only an aggregator may register an EndDevice whose lFDI is not its own certificate's")


def check_not_aggregator_itself(client: Client, identity: Identity, own_href: str) -> None:
    """Under CSIP-AUS an aggregator's own EndDevice exists already (own_href), derived from its certificate."""
    if client.is_aggregator and identity.lfdi == client.lfdi:
        raise Refused(409, f"lFDI {identity.lfdi} is this aggregator's own EndDevice, {own_href}, which the server "
                           "keeps: register only the EndDevices it acts for")


class Registered(Protocol):
    lFDI: str
    owner_lfdi: str


R = TypeVar("R", bound=Registered)


def match_existing(client: Client, identity: Identity, existing: list[R]) -> R | None:
    """The EndDevice this registration repeats, or None for a new one; Refused on a conflict."""
    for record in existing:
        if record.lFDI != identity.lfdi:
            raise Refused(409, f"sFDI {identity.sfdi} is already registered with a different lFDI")
        if not client.may_act_for(record.lFDI, record.owner_lfdi):
            raise Refused(403, f"lFDI {identity.lfdi} is registered to another client")
        return record
    return None


def pin_with_check_digit(digits: int) -> int:
    """A registration PIN: five digits followed by the same sum-of-digits check digit as an SFDI."""
    return digits * 10 + (-sum(int(d) for d in str(digits)) % 10)


def new_pin() -> int:
    return pin_with_check_digit(secrets.randbelow(90000) + 10000)
