"""The utility's records (store/utility_records.py) as the admin API and the aggregator-facing endpoint show
them: JSON values, one function per record, with hrefs where the API links to 2030.5 resources.  Both edges
render through here (they may not import each other), so the same record answers the same JSON on both."""

from __future__ import annotations

import json
from typing import Any

from ..domain.utility import catalog
from ..sep import paths
from ..store.base import ImportSummary
from ..store.utility_records import (AccountRecord, AssetTypeRecord, Created, CustomerRecord, DerAssetRecord,
                                     DeviceModelRecord, EnrollmentRecord, ProgramRulesRecord, RegisteredEndDevice,
                                     Replayed, ServicePointRecord, ServiceTaskRecord, TariffRecord,
                                     UtilityAggregatorRecord)

Json = dict[str, Any]


def service_point(sp: ServicePointRecord, with_customer: bool = True) -> Json:
    view: Json = {"id": sp.id, "accountId": sp.account_id, "externalId": sp.external_id, "address": sp.address,
                  "substation": sp.substation, "feeder": sp.feeder, "transformer": sp.transformer}
    if with_customer:
        view["customerId"] = sp.customer_id
    return view


def account(a: AccountRecord) -> Json:
    return {"id": a.id, "customerId": a.customer_id, "externalId": a.external_id, "status": a.status,
            "servicePoints": [service_point(sp, with_customer=False) for sp in a.service_points]}


def customer(c: CustomerRecord) -> Json:
    view: Json = {"id": c.id, "externalId": c.external_id, "name": c.name, "status": c.status}
    if c.detail is not None:
        view["accounts"] = [account(a) for a in c.detail.accounts]
        view["tariffs"] = [{"tariffId": t.tariff_id, "code": t.code, "acceptedAt": t.accepted_at}
                           for t in c.detail.tariffs]
        view["aggregators"] = list(c.detail.aggregators)
    return view


def tariff(t: TariffRecord) -> Json:
    return {"id": t.id, "code": t.code, "description": t.description, "terms": t.terms}


def asset_type(t: AssetTypeRecord) -> Json:
    return {"id": t.id, "code": t.code, "description": t.description, "derType": t.der_type,
            "derTypeName": catalog.DER_TYPES.get(t.der_type, "?"), "requiresInterconnection": t.requires_interconnection,
            "defaultProgramId": t.default_program_id}


def device_model(m: DeviceModelRecord) -> Json:
    return {"id": m.id, "assetTypeId": m.asset_type_id, "manufacturer": m.manufacturer, "model": m.model,
            "spec": m.spec}


def aggregator(a: UtilityAggregatorRecord) -> Json:
    return {"lFDI": a.lfdi, "name": a.name, "status": a.status, "created": a.created, "customers": list(a.customers)}


def program_rules(r: ProgramRulesRecord) -> Json:
    return {"programId": r.program_id, "code": r.code, "groupId": r.group_id, "eligibility": r.eligibility,
            "constraints": r.constraints}


def der_asset(a: DerAssetRecord) -> Json:
    return {"id": a.id, "customerId": a.customer_id, "servicePointId": a.service_point_id,
            "deviceModelId": a.device_model_id, "manufacturer": a.manufacturer, "model": a.model,
            "serialNumber": a.serial_number, "lFDI": a.lfdi, "endDeviceId": a.end_device_id,
            "endDevice": paths.edev(a.end_device_id) if a.end_device_id is not None else None,
            "nameplate": a.nameplate, "interconnection": a.interconnection, "status": a.status,
            "replacedBy": a.replaced_by, "replaces": a.replaces, "created": a.created,
            "enrollments": list(a.enrollments)}


def enrollment(e: EnrollmentRecord) -> Json:
    return {"id": e.id, "derAssetId": e.der_asset_id, "programId": e.program_id, "status": e.status,
            "syncStatus": e.sync_status, "syncReason": e.sync_reason, "created": e.created, "updated": e.updated}


def service_task(t: ServiceTaskRecord) -> Json:
    return {"id": t.id, "kind": t.kind, "state": t.state, "derAssetId": t.der_asset_id,
            "enrollmentId": t.enrollment_id, "payload": t.payload, "approval": t.approval, "reasons": t.reasons,
            "created": t.created, "updated": t.updated}


def registered_end_device(d: RegisteredEndDevice) -> Json:
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


def import_summary(s: ImportSummary) -> Json:
    return {"mode": s.mode, "rows": s.rows, "servicePointsChanged": s.service_points_changed,
            "locationsCreated": s.locations_created, "locationsMoved": s.locations_moved,
            "locationsRemoved": s.locations_removed, "endDevicesMoved": s.end_devices_moved}


def answer_text(outcome: Created | Replayed) -> str:
    """An inbound operation's answer: what it created now, or the first answer, as kept, to a repeated request."""
    return outcome.answer if isinstance(outcome, Replayed) else created_text(outcome)
