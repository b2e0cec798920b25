"""The utility's records (store/utility_records.py) as the admin API and the aggregator-facing endpoint show
them: JSON values, one function per record, with hrefs where the API links to 2030.5 resources.  Both edges
render through here (they may not import each other), so the same record answers the same JSON on both."""

from __future__ import annotations

import json
from typing import Annotated, Any, NotRequired, TypedDict

from ..domain.network import MODES
from ..domain.utility import bodies, catalog, tasks
from ..sep import paths
from .json_view import Href, Id, Js, Keys, Lfdi, component, doc
from ..store.base import ImportSummary
from ..store.utility_records import (AccountRecord, AssetTypeRecord, Created, CustomerRecord, DerAssetRecord,
                                     DeviceModelRecord, EnrollmentRecord, ProgramRulesRecord, RegisteredEndDevice,
                                     Replayed, ServicePointRecord, ServiceTaskRecord, TariffRecord,
                                     UtilityAggregatorRecord)

Json = dict[str, Any]


Status = Annotated[str, Js(enum=list(bodies.STATUSES))]


class ServicePoint(TypedDict):
    id: Id
    accountId: Id
    externalId: str
    address: str | None
    substation: str | None
    feeder: str | None
    transformer: str | None
    customerId: NotRequired[Id]


class Account(TypedDict):
    id: Id
    customerId: Id
    externalId: str
    status: Status
    servicePoints: list[ServicePoint]


class TariffAccepted(TypedDict):
    tariffId: Id
    code: str
    acceptedAt: int


class Customer(TypedDict):
    id: Id
    externalId: str
    name: str
    status: Status
    accounts: NotRequired[Annotated[list[Account], doc("not in lists")]]
    tariffs: NotRequired[Annotated[list[TariffAccepted], doc("tariffs accepted; not in lists")]]
    aggregators: NotRequired[Annotated[list[Lfdi], doc("authorised aggregators; not in lists")]]


class Tariff(TypedDict):
    id: Id
    code: str
    description: str | None
    terms: dict[str, Any]


class AssetType(TypedDict):
    id: Id
    code: str
    description: str | None
    derType: int
    derTypeName: str
    requiresInterconnection: bool
    defaultProgramId: Id | None


class DeviceModel(TypedDict):
    id: Id
    assetTypeId: Id
    manufacturer: str
    model: str
    spec: Annotated[dict[str, Any], component("NameplateSpec")]


class Aggregator(TypedDict):
    lFDI: Lfdi
    name: str
    status: Annotated[str, Js(enum=list(bodies.AGGREGATOR_STATUSES))]
    created: int
    customers: list[Id]


class ProgramRules(TypedDict):
    programId: Id
    code: str | None
    groupId: Id | None
    eligibility: Annotated[dict[str, Any], component("Eligibility")]
    constraints: Annotated[dict[str, Any], component("Constraints")]


class DERAsset(TypedDict):
    id: Id
    customerId: Id
    servicePointId: Id
    deviceModelId: Id
    manufacturer: str
    model: str
    serialNumber: str
    lFDI: Lfdi | None
    endDeviceId: Id | None
    endDevice: Href | None
    nameplate: Annotated[dict[str, Any], doc("its DERCapability")]
    interconnection: dict[str, Any] | None
    status: Annotated[str, Js(enum=["active", "retired"])]
    replacedBy: Id | None
    replaces: Id | None
    created: int
    enrollments: list[Id]


class Enrollment(TypedDict):
    id: Id
    derAssetId: Id
    programId: Id
    status: Annotated[str, Js(enum=["Pending", "Enrolled", "Error", "Cancelled", "Unenrolled"])]
    syncStatus: str | None
    syncReason: str | None
    created: int
    updated: int


class ServiceTask(TypedDict):
    id: Id
    kind: Annotated[str, Js(enum=list(tasks.KINDS))]
    state: Annotated[str, Js(enum=list(tasks.STATES))]
    derAssetId: Id | None
    enrollmentId: Id | None
    payload: dict[str, Any]
    approval: Annotated[dict[str, Any] | None, doc("the operator's decision: {decision (approved or rejected), "
                                                   "reason, at}")]
    reasons: Annotated[list[Annotated[dict[str, str], Keys(("field", "reason"), ("reason",))]],
                       doc("why it ended in Error, each naming its rule")]
    created: int
    updated: int


def service_point(sp: ServicePointRecord, with_customer: bool = True) -> ServicePoint:
    view: ServicePoint = {"id": sp.id, "accountId": sp.account_id, "externalId": sp.external_id, "address": sp.address,
                  "substation": sp.substation, "feeder": sp.feeder, "transformer": sp.transformer}
    if with_customer:
        view["customerId"] = sp.customer_id
    return view


def account(a: AccountRecord) -> Account:
    return {"id": a.id, "customerId": a.customer_id, "externalId": a.external_id, "status": a.status,
            "servicePoints": [service_point(sp, with_customer=False) for sp in a.service_points]}


def customer(c: CustomerRecord) -> Customer:
    view: Customer = {"id": c.id, "externalId": c.external_id, "name": c.name, "status": c.status}
    if c.detail is not None:
        view["accounts"] = [account(a) for a in c.detail.accounts]
        view["tariffs"] = [{"tariffId": t.tariff_id, "code": t.code, "acceptedAt": t.accepted_at}
                           for t in c.detail.tariffs]
        view["aggregators"] = list(c.detail.aggregators)
    return view


def tariff(t: TariffRecord) -> Tariff:
    return {"id": t.id, "code": t.code, "description": t.description, "terms": t.terms}


def asset_type(t: AssetTypeRecord) -> AssetType:
    return {"id": t.id, "code": t.code, "description": t.description, "derType": t.der_type,
            "derTypeName": catalog.DER_TYPES.get(t.der_type, "?"), "requiresInterconnection": t.requires_interconnection,
            "defaultProgramId": t.default_program_id}


def device_model(m: DeviceModelRecord) -> DeviceModel:
    return {"id": m.id, "assetTypeId": m.asset_type_id, "manufacturer": m.manufacturer, "model": m.model,
            "spec": m.spec}


def aggregator(a: UtilityAggregatorRecord) -> Aggregator:
    return {"lFDI": a.lfdi, "name": a.name, "status": a.status, "created": a.created, "customers": list(a.customers)}


def program_rules(r: ProgramRulesRecord) -> ProgramRules:
    return {"programId": r.program_id, "code": r.code, "groupId": r.group_id, "eligibility": r.eligibility,
            "constraints": r.constraints}


def der_asset(a: DerAssetRecord) -> DERAsset:
    return {"id": a.id, "customerId": a.customer_id, "servicePointId": a.service_point_id,
            "deviceModelId": a.device_model_id, "manufacturer": a.manufacturer, "model": a.model,
            "serialNumber": a.serial_number, "lFDI": a.lfdi, "endDeviceId": a.end_device_id,
            "endDevice": paths.edev(a.end_device_id) if a.end_device_id is not None else None,
            "nameplate": a.nameplate, "interconnection": a.interconnection, "status": a.status,
            "replacedBy": a.replaced_by, "replaces": a.replaces, "created": a.created,
            "enrollments": list(a.enrollments)}


def enrollment(e: EnrollmentRecord) -> Enrollment:
    return {"id": e.id, "derAssetId": e.der_asset_id, "programId": e.program_id, "status": e.status,
            "syncStatus": e.sync_status, "syncReason": e.sync_reason, "created": e.created, "updated": e.updated}


def service_task(t: ServiceTaskRecord) -> ServiceTask:
    return {"id": t.id, "kind": t.kind, "state": t.state, "derAssetId": t.der_asset_id,
            "enrollmentId": t.enrollment_id, "payload": t.payload, "approval": t.approval, "reasons": t.reasons,
            "created": t.created, "updated": t.updated}


class EndDeviceRegistered(TypedDict):
    id: Id
    href: Href
    lFDI: Lfdi
    sFDI: int
    owner: Lfdi
    enabled: bool


def registered_end_device(d: RegisteredEndDevice) -> EndDeviceRegistered:
    return {"id": d.id, "href": paths.edev(d.id), "lFDI": d.lfdi, "sFDI": d.sfdi, "owner": d.owner,
            "enabled": d.enabled}


def created(outcome: Created) -> Json:
    """The answer to an inbound operation: what it created, the service task last."""
    answer: Json = {}
    if outcome.der_asset is not None:
        answer["derAsset"] = der_asset(outcome.der_asset)
    if outcome.end_device is not None:
        answer["endDevice"] = registered_end_device(outcome.end_device)
    if outcome.enrollment is not None:
        answer["enrollment"] = enrollment(outcome.enrollment)
    answer["serviceTask"] = service_task(outcome.service_task)
    return answer


def created_text(outcome: Created) -> str:
    """The answer as it is kept under an Idempotency-Key, and replayed byte for byte."""
    return json.dumps(created(outcome))


class NetworkImport(TypedDict):
    mode: Annotated[str, Js(enum=list(MODES))]
    rows: int
    servicePointsChanged: int
    locationsCreated: int
    locationsMoved: int
    locationsRemoved: int
    endDevicesMoved: int


def import_summary(s: ImportSummary) -> NetworkImport:
    return {"mode": s.mode, "rows": s.rows, "servicePointsChanged": s.service_points_changed,
            "locationsCreated": s.locations_created, "locationsMoved": s.locations_moved,
            "locationsRemoved": s.locations_removed, "endDevicesMoved": s.end_devices_moved}


def answer_text(outcome: Created | Replayed) -> str:
    """An inbound operation's answer: what it created now, or the first answer, as kept, to a repeated request."""
    return outcome.answer if isinstance(outcome, Replayed) else created_text(outcome)
