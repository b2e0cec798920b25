"""Credits for taking part in an event: per device and stage, then summed per customer.

The program's incentive terms are the "settlement" object in the `terms` of the tariff its eligibility names
(IncentiveTerms, parse_terms): amounts in the tariff's currency, as exact decimals.

One device in one stage earns:
  energy       the avoided kWh paid for x the price over each stretch of the stage's window where the price is
               constant (Slice).  A program paying for reduction pays for kWh avoided (baseline above measured);
               one paying for curtailment pays for the load its devices added (measured above baseline), as a
               positive amount.  Summed over the stretches, a total below zero is paid as 0: a device is never
               charged for energy, only by the penalties.
  per event    perEvent, if its outcome is "participated" or "partially".
  reservation  perKWReserved x the kW the stage reserved it for (the magnitude of its forecast), if reserved.
  penalties    optOutPenalty if it opted out, noResponsePenalty if it never answered (subtracted).
Rounding: each of the four amounts is computed exactly and rounded once to ROUNDING (cents) with
ROUND_HALF_EVEN; the device's credit is the sum of the rounded amounts, and sums over devices, events and periods
add rounded credits, so that every total is the sum of the lines shown for it.  A stretch without an avoided
kWh or a price earns nothing and marks the credit incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Iterable, Literal, Mapping, Sequence

from .prices import Problem, PricingError, decimal, problem

ROUNDING = Decimal("0.01")
ZERO = Decimal(0)
PaidEnergy = Literal["reduction", "curtailment"]
TERM_FIELDS = {"perEvent": "per_event", "perKWReserved": "per_kw_reserved", "optOutPenalty": "opt_out_penalty",
               "noResponsePenalty": "no_response_penalty"}
PAID_OUTCOMES = frozenset({"participated", "partially"})


@dataclass(frozen=True)
class IncentiveTerms:
    currency: str = "USD"
    per_event: Decimal = ZERO
    per_kw_reserved: Decimal = ZERO
    opt_out_penalty: Decimal = ZERO
    no_response_penalty: Decimal = ZERO
    paid_energy: PaidEnergy = "reduction"


def parse_terms(terms: Mapping[str, Any] | None) -> IncentiveTerms:
    """The incentive terms in a tariff's terms ({"settlement": {...}}; none: no incentives beyond energy);
    PricingError naming each wrong field."""
    raw = (terms or {}).get("settlement", {})
    if not isinstance(raw, dict):
        raise PricingError([problem("must be an object", "terms.settlement")])
    problems: list[Problem] = [problem("unknown field", f"terms.settlement.{k}") for k in raw
                               if k not in (*TERM_FIELDS, "currency", "paidEnergy")]
    values: dict[str, Any] = {}
    for name, attribute in TERM_FIELDS.items():
        if name in raw:
            value = decimal(raw[name], f"terms.settlement.{name}", problems)
            if value is not None and value < 0:
                problems.append(problem("must be at least 0 (a penalty is subtracted)", f"terms.settlement.{name}"))
            elif value is not None:
                values[attribute] = value
    currency = raw.get("currency", "USD")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper():
        problems.append(problem("must be an ISO 4217 code", "terms.settlement.currency"))
    paid = raw.get("paidEnergy", "reduction")
    if paid not in ("reduction", "curtailment"):
        problems.append(problem("must be reduction or curtailment", "terms.settlement.paidEnergy"))
    if problems:
        raise PricingError(problems)
    return IncentiveTerms(currency=currency, paid_energy=paid, **values)


@dataclass(frozen=True)
class Slice:
    """A stretch of a stage's window at one price: the kWh avoided in it (None: not known) and its price."""

    start: int
    end: int
    avoided_kwh: Decimal | None
    price: Decimal | None  # per kWh


@dataclass(frozen=True)
class Credit:
    paid_kwh: Decimal  # the kWh paid for (exact)
    energy: Decimal
    per_event: Decimal
    reservation: Decimal
    penalty: Decimal  # subtracted (at least 0)
    complete: bool  # every stretch had its avoided kWh and its price

    @property
    def total(self) -> Decimal:
        return self.energy + self.per_event + self.reservation - self.penalty


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(ROUNDING, rounding=ROUND_HALF_EVEN)


def device_credit(slices: Sequence[Slice], outcome: str | None, reserved_kw: Decimal | None,
                  terms: IncentiveTerms) -> Credit:
    """What one device earns for one stage (reserved_kw: None if the stage did not reserve it)."""
    sign = Decimal(1) if terms.paid_energy == "reduction" else Decimal(-1)
    paid_kwh = amount = ZERO
    complete = True
    for s in slices:
        if s.avoided_kwh is None or s.price is None:
            complete = False
            continue
        paid_kwh += sign * s.avoided_kwh
        amount += sign * s.avoided_kwh * s.price
    per_event = terms.per_event if outcome in PAID_OUTCOMES else ZERO
    reservation = terms.per_kw_reserved * abs(reserved_kw) if reserved_kw is not None else ZERO
    penalty = (terms.opt_out_penalty if outcome == "opted out" else
               terms.no_response_penalty if outcome == "no response" else ZERO)
    return Credit(paid_kwh, cents(max(amount, ZERO)), cents(per_event), cents(reservation), cents(penalty),
                  complete)


def total(credits: Iterable[Credit]) -> Decimal:
    """The sum of rounded credits (a customer's for an event, or for a billing period)."""
    return sum((c.total for c in credits), ZERO)
