"""Credits per device and stage (domain/settlement/credits.py), against figures worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from der_gateway.domain.settlement.credits import (Credit, IncentiveTerms, Slice, device_credit, parse_terms,
                                                   total)
from der_gateway.domain.settlement.prices import PricingError

TERMS = IncentiveTerms("USD", per_event=D("5.00"), per_kw_reserved=D("1.25"), opt_out_penalty=D("3.00"),
                       no_response_penalty=D("1.50"))


def test_a_reserved_device_that_took_part_earns_energy_event_and_reservation():
    # 2.5 kWh avoided in the first half hour at 0.2013/kWh, 1.75 kWh in the second at 0.30:
    #   2.5 x 0.2013 = 0.50325, 1.75 x 0.30 = 0.525; 1.02825 -> 1.03 (half even)
    # reserved for 3.2 kW: 3.2 x 1.25 = 4.00; participated: 5.00; total 10.03
    slices = [Slice(0, 1800, D("2.5"), D("0.2013")), Slice(1800, 3600, D("1.75"), D("0.30"))]
    credit = device_credit(slices, "participated", D("3.2"), TERMS)
    assert credit == Credit(D("4.25"), D("1.03"), D("5.00"), D("4.00"), D("0.00"), True)
    assert credit.total == D("10.03")


def test_rounding_is_half_even_once_per_amount():
    # 0.5 kWh x 0.025 = 0.0125 -> 0.01; 1.5 kWh x 0.025 = 0.0375 -> 0.04
    assert device_credit([Slice(0, 60, D("0.5"), D("0.025"))], None, None, IncentiveTerms()).energy == D("0.01")
    assert device_credit([Slice(0, 60, D("1.5"), D("0.025"))], None, None, IncentiveTerms()).energy == D("0.04")


def test_opting_out_or_staying_silent_is_penalised_and_energy_is_never_charged():
    # it used 1 kWh more than its baseline: the energy amount is 0, not -0.20; opted out: -3.00
    used_more = [Slice(0, 3600, D("-1"), D("0.20"))]
    opted_out = device_credit(used_more, "opted out", None, TERMS)
    assert (opted_out.energy, opted_out.per_event, opted_out.penalty, opted_out.total) == (
        D("0.00"), D("0.00"), D("3.00"), D("-3.00"))
    silent = device_credit([Slice(0, 3600, D("0.4"), D("0.20"))], "no response", D("2"), TERMS)
    # 0.4 x 0.20 = 0.08; reserved 2 kW: 2.50; no response: -1.50 -> 1.08
    assert silent.total == D("1.08")
    assert device_credit([], "failed", None, TERMS).total == D("0")


def test_a_curtailment_program_pays_for_the_load_its_devices_added():
    # curtailing a PV inverter added 3.6 kWh of load (avoided -3.6) at 0.05: 0.18
    terms = IncentiveTerms(paid_energy="curtailment")
    credit = device_credit([Slice(0, 3600, D("-3.6"), D("0.05"))], "participated", None, terms)
    assert (credit.paid_kwh, credit.energy) == (D("3.6"), D("0.18"))


def test_a_stretch_without_data_or_price_earns_nothing_and_says_so():
    credit = device_credit([Slice(0, 1800, D("1"), D("0.10")), Slice(1800, 3600, None, D("0.10")),
                            Slice(3600, 5400, D("1"), None)], "participated", None, IncentiveTerms())
    assert (credit.energy, credit.complete) == (D("0.10"), False)


def test_totals_add_rounded_credits():
    a = device_credit([Slice(0, 60, D("0.5"), D("0.025"))], None, None, IncentiveTerms())  # 0.01
    b = device_credit([Slice(0, 60, D("0.5"), D("0.025"))], None, None, IncentiveTerms())  # 0.01
    assert total([a, b]) == D("0.02")  # not 0.025 -> 0.02 by chance: each line is rounded, then added


def test_terms_are_read_from_the_tariff_and_checked():
    assert parse_terms({"settlement": {"perEvent": "5", "perKWReserved": 1.25, "currency": "AUD",
                                       "paidEnergy": "curtailment"}}) == IncentiveTerms(
        "AUD", per_event=D("5"), per_kw_reserved=D("1.25"), paid_energy="curtailment")
    assert parse_terms({}) == IncentiveTerms()
    with pytest.raises(PricingError) as refused:
        parse_terms({"settlement": {"perEvent": "-1", "bonus": 1, "paidEnergy": "both", "currency": "usd"}})
    assert {p["field"] for p in refused.value.problems} == {
        "terms.settlement.perEvent", "terms.settlement.bonus", "terms.settlement.paidEnergy",
        "terms.settlement.currency"}
