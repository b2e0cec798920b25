"""The records of the utility's side of the store: what its methods (store/interface.py) return.

Plain data with ids, no hrefs and no wire names: the edge renders them (services/utility_json.py).
Columns holding JSON are typed fields with the decoded value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..domain.refusals import Problem


@dataclass(frozen=True)
class ServicePointRecord:
    id: int
    account_id: int
    customer_id: int
    external_id: str
    address: str | None
    substation: str | None
    feeder: str | None
    transformer: str | None


@dataclass(frozen=True)
class AccountRecord:
    id: int
    customer_id: int
    external_id: str
    status: str
    service_points: tuple[ServicePointRecord, ...]


@dataclass(frozen=True)
class TariffAcceptanceRecord:
    tariff_id: int
    code: str
    accepted_at: int


@dataclass(frozen=True)
class CustomerDetail:
    """What a customer holds besides its own columns: listed customers come without it."""
    accounts: tuple[AccountRecord, ...]
    tariffs: tuple[TariffAcceptanceRecord, ...]
    aggregators: tuple[str, ...]  # LFDIs of the aggregators authorised for the customer


@dataclass(frozen=True)
class CustomerRecord:
    id: int
    external_id: str
    name: str
    status: str
    detail: CustomerDetail | None = None


@dataclass(frozen=True)
class TariffRecord:
    id: int
    code: str
    description: str | None
    terms: dict[str, Any]


@dataclass(frozen=True)
class AssetTypeRecord:
    id: int
    code: str
    description: str | None
    der_type: int
    requires_interconnection: bool
    default_program_id: int | None


@dataclass(frozen=True)
class DeviceModelRecord:
    id: int
    asset_type_id: int
    manufacturer: str
    model: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class UtilityAggregatorRecord:
    lfdi: str
    name: str
    status: str
    created: int
    customers: tuple[int, ...]  # ids of the customers it is authorised for


@dataclass(frozen=True)
class ProgramRulesRecord:
    program_id: int
    code: str | None
    group_id: int | None
    eligibility: dict[str, Any]
    constraints: dict[str, Any]


@dataclass(frozen=True)
class DerAssetRecord:
    id: int
    customer_id: int
    service_point_id: int
    device_model_id: int
    manufacturer: str
    model: str
    serial_number: str
    lfdi: str | None
    end_device_id: int | None
    nameplate: dict[str, Any]
    interconnection: dict[str, Any] | None
    status: str
    replaced_by: int | None
    replaces: int | None
    created: int
    enrollments: tuple[int, ...]


@dataclass(frozen=True)
class EnrollmentRecord:
    id: int
    der_asset_id: int
    program_id: int
    status: str
    sync_status: str | None
    sync_reason: str | None
    created: int
    updated: int


@dataclass(frozen=True)
class ServiceTaskRecord:
    id: int
    kind: str
    state: str
    der_asset_id: int | None
    enrollment_id: int | None
    payload: dict[str, Any]
    approval: dict[str, Any] | None
    reasons: list[Problem]
    created: int
    updated: int


@dataclass(frozen=True)
class RegisteredEndDevice:
    """The EndDevice registerDERDevice made (disabled until its enrollment completes)."""
    id: int
    lfdi: str
    sfdi: int
    owner: str
    enabled: bool


CREATED = "created"  # the one outcome an inbound operation keeps under its Idempotency-Key


@dataclass(frozen=True)
class Created:
    """What an inbound operation (registerDERDevice, interconnectDER, enrollment, unenrollment, replacement)
    created now: always its service task, and what else the operation makes."""
    service_task: ServiceTaskRecord
    der_asset: DerAssetRecord | None = None
    end_device: RegisteredEndDevice | None = None
    enrollment: EnrollmentRecord | None = None
    outcome: str = CREATED


@dataclass(frozen=True)
class Replayed:
    """The first answer to a request repeated under its Idempotency-Key, as the caller's side serialized it
    then (the store keeps it opaquely); nothing was created now."""
    outcome: str
    answer: str


Keep = Callable[[Created], str]  # how the caller's side serializes its answer, kept under an Idempotency-Key
