"""Settlement credits and billing batches as JSON: the admin API and the messages render through here."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from ..store.billing_records import BillingBatchRecord, CreditRecord


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def credit(c: CreditRecord) -> dict[str, Any]:
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


def batch(b: BillingBatchRecord) -> dict[str, Any]:
    return {"id": b.id, "accountId": b.account_id, "currency": b.currency, "amount": str(b.amount),
            "trigger": b.trigger, "created": b.created, "state": b.state, "reason": b.reason,
            "settledAt": b.settled_at, "credits": b.credits}
