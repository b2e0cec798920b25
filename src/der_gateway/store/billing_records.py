"""What the store keeps of settlement credits and their billing (store/sqlite_billing.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class CreditRecord:
    """One device's credit for one stage, with what it was computed from, and its billing."""

    stage_id: int
    end_device_id: int
    lfdi: str
    customer_id: int | None
    account_id: int | None
    service_point_id: int | None
    currency: str
    baseline_kwh: Decimal | None
    measured_kwh: Decimal | None
    avoided_kwh: Decimal | None
    paid_kwh: Decimal
    energy: Decimal
    per_event: Decimal
    reservation: Decimal
    penalty: Decimal
    total: Decimal
    quality: str  # complete, estimated or incomplete
    computed_at: int
    billing_batch_id: int | None = None
    billed_at: int | None = None
    billing_reason: str | None = None  # why billing last refused it
    method: dict[str, Any] = field(default_factory=dict)  # the baseline method's document
    # (start, end, baseline kWh, measured kWh) of each interval of the window: what a statement plots
    profile: tuple[tuple[int, int, Decimal | None, Decimal | None], ...] = ()


@dataclass(frozen=True)
class BillingBatchRecord:
    """Unbilled credits of one account, in one currency, sent to billing together."""

    id: int
    account_id: int
    currency: str
    amount: Decimal
    trigger: str  # periodic, move-out, unenrollment, replacement or operator
    created: int
    state: str  # pending, billed or rejected
    reason: str | None
    settled_at: int | None
    credits: int  # how many credits it carries
