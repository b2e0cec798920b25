"""The registration rules as plain logic, without a server."""

from dataclasses import dataclass

import pytest

from der_gateway.domain.clients import Client
from der_gateway.domain.refusals import Conflict, InvalidRequest, NotPermitted
from der_gateway.domain.registration import (Identity, check_may_register, identity_of, match_existing,
                                             new_pin, pin_with_check_digit)
from der_gateway.sep.identity import sfdi_from_lfdi

DEVICE = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
OTHER = "0123456789ABCDEF0123456789ABCDEF01234567"
AGGREGATOR = "AA" * 20


@dataclass
class Row:
    lFDI: str
    owner_lfdi: str


def test_identity_is_checked_and_normalised():
    client = Client(DEVICE)
    assert identity_of(client, DEVICE.lower(), 167261211391) == Identity(DEVICE, 167261211391)
    assert identity_of(client, None, client.sfdi) == Identity(DEVICE, client.sfdi)
    with pytest.raises(InvalidRequest, match="not derived"):
        identity_of(client, DEVICE, 167261211392)
    with pytest.raises(InvalidRequest, match="40 hex"):
        identity_of(client, "XYZ", 1)
    with pytest.raises(InvalidRequest, match="lFDI is required"):
        identity_of(client, None, sfdi_from_lfdi(OTHER))


def test_only_aggregators_register_others():
    other = Identity(OTHER, sfdi_from_lfdi(OTHER))
    check_may_register(Client(OTHER), other)
    check_may_register(Client(AGGREGATOR, is_aggregator=True), other)
    with pytest.raises(NotPermitted):
        check_may_register(Client(DEVICE), other)


def test_duplicates():
    aggregator = Client(AGGREGATOR, is_aggregator=True)
    identity = Identity(OTHER, sfdi_from_lfdi(OTHER))
    mine = Row(OTHER, AGGREGATOR)
    assert match_existing(aggregator, identity, []) is None
    assert match_existing(aggregator, identity, [mine]) is mine
    assert match_existing(Client(OTHER), identity, [mine]) is mine  # the device itself
    with pytest.raises(NotPermitted):
        match_existing(Client("BB" * 20, is_aggregator=True), identity, [mine])
    with pytest.raises(Conflict):
        match_existing(aggregator, identity, [Row(DEVICE, AGGREGATOR)])


def test_pins_carry_a_check_digit():
    assert pin_with_check_digit(12345) == 123455
    for _ in range(50):
        pin = new_pin()
        assert 100000 <= pin <= 999999 and sum(map(int, str(pin))) % 10 == 0
