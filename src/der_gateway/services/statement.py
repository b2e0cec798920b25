"""A customer's statement for a period: the events its devices were called for (stages that began in the
period), how each took part, kWh avoided and credits, the energy its DERs produced (their 2030.5 telemetry,
per service point), and the totals billed and still unbilled.  As JSON here; as a document an operator can
hand over in statement_html.py."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, TypedDict

from ..domain.refusals import Conflict
from ..domain.settlement.telemetry import DeviceMeter, telemetry_intervals
from .json_view import DecimalText, Id, Money, doc
from ..store.billing_records import CreditRecord
from ..store.interface import Store
from . import settlement_json
from .stage_json import Outcome

MAX_PERIOD = 366 * 86_400


@dataclass(frozen=True)
class StageLine:
    event_mrid: str
    event_description: str | None
    stage_id: int
    position: int
    start: int
    duration: int
    credit: CreditRecord
    outcome: str | None


class StatementCustomer(TypedDict):
    id: Id
    externalId: str
    name: str


class StatementAccount(TypedDict):
    id: Id
    externalId: str


class StatementEvent(settlement_json.Credit):
    """a Credit, with the event and stage it is for, the device's outcome and the profile ([start, end, baseline
    kWh, measured kWh] per interval)"""

    eventMRID: str
    description: str | None
    stagePosition: Id
    start: int
    duration: int
    outcome: Outcome | None
    profile: list[list[int | str | None]]


class EventTotals(TypedDict):
    eventMRID: str
    description: str | None
    stages: list[Id]
    avoidedKWh: DecimalText
    credits: dict[str, Money]


class Production(TypedDict):
    servicePointId: Id
    servicePoint: str
    producedKWh: DecimalText


Statement = TypedDict("Statement", {
    "customer": StatementCustomer, "accounts": list[StatementAccount], "from": int, "to": int,
    "events": list[StatementEvent],
    "byEvent": Annotated[list[EventTotals], doc("the customer's totals per event")],
    "avoidedKWh": DecimalText, "production": list[Production], "credits": dict[str, Money],
    "billed": dict[str, Money], "unbilled": dict[str, Money]})


def _money(amounts: dict[str, Decimal]) -> dict[str, str]:
    return {currency: str(amount) for currency, amount in sorted(amounts.items())}


async def statement(store: Store, customer_id: int, start: int, end: int) -> Statement:
    """Conflict if there is no such customer."""
    customer = await store.customer(customer_id)
    if customer is None or customer.detail is None:
        raise Conflict(f"no customer {customer_id}")
    lines: list[StageLine] = []
    for credit in await store.credits(customer_id=customer_id):
        stage = await store.stage(credit.stage_id)
        if stage is None:
            continue
        control = await store.control(stage.control_id)
        if control is None or not start <= control.start < end:
            continue
        event = await store.utility_event(stage.event_id)
        outcome = next((p.outcome for p in await store.participation(control.id)
                        if p.end_device_id == credit.end_device_id), None)
        lines.append(StageLine(event.mrid if event else "", event.description if event else None, stage.id,
                               stage.position, control.start, control.duration, credit, outcome))
    lines.sort(key=lambda line: (line.start, line.stage_id, line.credit.end_device_id))
    credited: dict[str, Decimal] = {}
    billed: dict[str, Decimal] = {}
    avoided = Decimal(0)
    for line in lines:
        c = line.credit
        credited[c.currency] = credited.get(c.currency, Decimal(0)) + c.total
        if c.billed_at is not None:
            billed[c.currency] = billed.get(c.currency, Decimal(0)) + c.total
        if c.avoided_kwh is not None:
            avoided += c.avoided_kwh
    by_event: dict[str, dict[str, Any]] = {}
    for line in lines:
        c = line.credit
        entry = by_event.setdefault(line.event_mrid, {"eventMRID": line.event_mrid,
                                                      "description": line.event_description, "stages": set(),
                                                      "avoided": Decimal(0), "credits": {}})
        entry["stages"].add(line.position)
        entry["avoided"] += c.avoided_kwh or Decimal(0)
        entry["credits"][c.currency] = entry["credits"].get(c.currency, Decimal(0)) + c.total
    points = [sp for account in customer.detail.accounts for sp in account.service_points]
    production: list[Production] = []
    for sp in points:
        meters = await store.service_point_telemetry(sp.id, start, end)
        readings = telemetry_intervals([DeviceMeter(m.end_device_id, m.reading_type, m.readings) for m in meters])
        delivered = sum((-r.kwh for r in readings if r.kwh < 0 and r.start >= start and r.end <= end), Decimal(0))
        production.append({"servicePointId": sp.id, "servicePoint": sp.external_id,
                           "producedKWh": str(delivered.quantize(Decimal("0.001")))})
    return {
        "customer": {"id": customer.id, "externalId": customer.external_id, "name": customer.name},
        "accounts": [{"id": a.id, "externalId": a.external_id} for a in customer.detail.accounts],
        "from": start, "to": end,
        "events": [{"eventMRID": line.event_mrid, "description": line.event_description, "stageId": line.stage_id,
                    "stagePosition": line.position, "start": line.start, "duration": line.duration,
                    "outcome": line.outcome, **settlement_json.credit(line.credit),
                    "profile": [[a, b, None if base is None else str(base), None if m is None else str(m)]
                                for a, b, base, m in line.credit.profile]} for line in lines],
        "byEvent": [{"eventMRID": e["eventMRID"], "description": e["description"], "stages": sorted(e["stages"]),
                     "avoidedKWh": str(e["avoided"]), "credits": _money(e["credits"])} for e in by_event.values()],
        "avoidedKWh": str(avoided),
        "production": production,
        "credits": _money(credited),
        "billed": _money(billed),
        "unbilled": _money({k: v - billed.get(k, Decimal(0)) for k, v in credited.items()}),
    }
