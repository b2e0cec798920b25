"""In-band EndDevice registration (POST /edev): who may register what, and duplicates.

A POSTed EndDevice that names an lFDI/sFDI the server already holds is, under
plain 2030.5, a re-registration when the caller may act for the existing one:
the existing EndDevice is updated and its location returned, so a retried or
repeated registration never makes a second copy.  CSIP-AUS registers an
EndDevice once (its tests expect a duplicate to be refused; a client updates
its EndDevice with PUT), so there a repeat gets 409.  Anyone else gets a refusal.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..sep.identity import normalize_lfdi, sfdi_from_lfdi
from .clients import Client
from .refusals import Conflict, InvalidRequest, NotPermitted


@dataclass(frozen=True)
class Identity:
    lfdi: str
    sfdi: int


def identity_of(client: Client, lfdi: str | None, sfdi: int) -> Identity:
    """The EndDevice's identity, checked for consistency; the caller's own when it omits lFDI."""
    if lfdi is None:
        if sfdi != client.sfdi:
            raise InvalidRequest("lFDI is required when registering an EndDevice other than the caller's own")
        return Identity(client.lfdi, sfdi)
    try:
        lfdi = normalize_lfdi(lfdi)
    except ValueError:
        raise InvalidRequest("lFDI must be 40 hex digits") from None
    if sfdi_from_lfdi(lfdi) != sfdi:
        raise InvalidRequest(f"sFDI {sfdi} is not derived from lFDI {lfdi} (expected {sfdi_from_lfdi(lfdi)})")
    return Identity(lfdi, sfdi)


def check_in_band_allowed(allowed: bool) -> None:
    if not allowed:
        raise NotPermitted("this server does not take in-band registration: the operator registers EndDevices")


def check_may_register(client: Client, identity: Identity) -> None:
    if identity.lfdi != client.lfdi and not client.is_aggregator:
        raise NotPermitted("only an aggregator may register an EndDevice whose lFDI is not its own certificate's")


def check_not_aggregator_itself(client: Client, identity: Identity, own_href: str) -> None:
    """Under CSIP-AUS an aggregator's own EndDevice exists already (own_href), derived from its certificate."""
    if client.is_aggregator and identity.lfdi == client.lfdi:
        raise Conflict(f"lFDI {identity.lfdi} is this aggregator's own EndDevice, {own_href}, which the server "
                           "keeps: register only the EndDevices it acts for")


class Registered(Protocol):
    @property
    def lFDI(self) -> str: ...
    @property
    def owner_lfdi(self) -> str: ...


R = TypeVar("R", bound=Registered)


def match_existing(client: Client, identity: Identity, existing: list[R], *,
                   repeat_allowed: bool = True) -> R | None:
    """The EndDevice this registration repeats, or None for a new one; Conflict or NotPermitted on a clash,
    and on any repeat unless repeat_allowed."""
    for record in existing:
        if record.lFDI != identity.lfdi:
            raise Conflict(f"sFDI {identity.sfdi} is already registered with a different lFDI")
        if not client.may_act_for(record.lFDI, record.owner_lfdi):
            raise NotPermitted(f"lFDI {identity.lfdi} is registered to another client")
        if not repeat_allowed:
            raise Conflict(f"lFDI {identity.lfdi} is already registered; update that EndDevice with PUT "
                               "instead of registering it again")
        return record
    return None


def pin_with_check_digit(digits: int) -> int:
    """A registration PIN: five digits followed by the same sum-of-digits check digit as an SFDI."""
    return digits * 10 + (-sum(int(d) for d in str(digits)) % 10)


def new_pin() -> int:
    return pin_with_check_digit(secrets.randbelow(90000) + 10000)


def pin_problem(pin: int) -> str | None:
    """Why pin cannot be a registration PIN (six digits, the last the check digit), or None."""
    if isinstance(pin, bool) or not isinstance(pin, int) or not 100000 <= pin <= 999999:
        return f"a registration PIN is six digits, 100000 to 999999, not {pin!r}"
    expected = pin_with_check_digit(pin // 10)
    if pin != expected:
        return (f"the last digit of a registration PIN is the check digit of the first five (the sum of all six "
                f"digits is a multiple of 10): {pin // 10} takes {expected % 10}, making {expected}, not {pin}")
    return None


def pin_for_new_device(default: int | None) -> int:
    """A new EndDevice's PIN: the deployment's default when it sets one, else a random one."""
    return default if default is not None else new_pin()
