"""Settlement credits and billing batches as JSON: the admin API and the messages render through here."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Iterable, TypedDict

from .json_view import DecimalText, Id, Js, Lfdi, Money, doc
from ..store.billing_records import BillingBatchRecord, CreditRecord

BATCH_STATES = ("pending", "billed", "rejected")
Totals = Annotated[dict[str, Money], doc("currency -> amount")]


class Credit(TypedDict):
    stageId: Id
    endDeviceId: Id
    endDeviceLFDI: Lfdi
    customerId: Id | None
    accountId: Id | None
    servicePointId: Id | None
    currency: str
    baselineKWh: DecimalText | None
    measuredKWh: DecimalText | None
    avoidedKWh: DecimalText | None
    paidKWh: DecimalText
    energy: Money
    perEvent: Money
    reservation: Money
    penalty: Annotated[Money, doc("subtracted")]
    total: Money
    quality: Annotated[str, Js(enum=["complete", "estimated", "incomplete"])]
    computedAt: int
    billingBatchId: Id | None
    billedAt: int | None
    billingReason: Annotated[str | None, doc("why billing last refused it")]


class BillingBatch(TypedDict):
    id: Id
    accountId: Id
    currency: str
    amount: Money
    trigger: Annotated[str, Js(enum=["periodic", "move-out", "unenrollment", "replacement", "operator"])]
    created: int
    state: Annotated[str, Js(enum=list(BATCH_STATES))]
    reason: str | None
    settledAt: int | None
    credits: int


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def credit(c: CreditRecord) -> Credit:
    return {"stageId": c.stage_id, "endDeviceId": c.end_device_id, "endDeviceLFDI": c.lfdi,
            "customerId": c.customer_id, "accountId": c.account_id, "servicePointId": c.service_point_id,
            "currency": c.currency, "baselineKWh": _text(c.baseline_kwh), "measuredKWh": _text(c.measured_kwh),
            "avoidedKWh": _text(c.avoided_kwh), "paidKWh": str(c.paid_kwh), "energy": str(c.energy),
            "perEvent": str(c.per_event), "reservation": str(c.reservation), "penalty": str(c.penalty),
            "total": str(c.total), "quality": c.quality, "computedAt": c.computed_at,
            "billingBatchId": c.billing_batch_id, "billedAt": c.billed_at, "billingReason": c.billing_reason}


def totals(credits: Iterable[CreditRecord]) -> dict[str, str]:
    """currency -> the sum of the credits' totals."""
    sums: dict[str, Decimal] = {}
    for c in credits:
        sums[c.currency] = sums.get(c.currency, Decimal(0)) + c.total
    return {currency: str(amount) for currency, amount in sorted(sums.items())}


def batch(b: BillingBatchRecord) -> BillingBatch:
    return {"id": b.id, "accountId": b.account_id, "currency": b.currency, "amount": str(b.amount),
            "trigger": b.trigger, "created": b.created, "state": b.state, "reason": b.reason,
            "settledAt": b.settled_at, "credits": b.credits}
