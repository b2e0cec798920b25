"""Rows read as records (store/utility_records.py), from any connection."""

from __future__ import annotations

import json
from typing import Any

from ..sqlite_plumbing import Conn
from ..utility_records import (AccountRecord, AssetTypeRecord, CustomerDetail, CustomerRecord, DerAssetRecord,
                               DeviceModelRecord, EnrollmentRecord, ProgramRulesRecord, ServicePointRecord,
                               ServiceTaskRecord, TariffAcceptanceRecord, TariffRecord, UtilityAggregatorRecord)


def load_json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


_SP_COLUMNS = ("sp.id, sp.account_id, a.customer_id, sp.external_id, sp.address, sp.substation, sp.feeder, "
               "sp.transformer")
_SP_FROM = "service_points sp JOIN accounts a ON a.id = sp.account_id"


def service_point(c: Conn, sp_id: int) -> ServicePointRecord | None:
    r = c.execute(f"SELECT {_SP_COLUMNS} FROM {_SP_FROM} WHERE sp.id = ?", (sp_id,)).fetchone()
    return ServicePointRecord(*r) if r else None


def account(c: Conn, account_id: int) -> AccountRecord | None:
    r = c.execute("SELECT id, customer_id, external_id, status FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if r is None:
        return None
    points = tuple(ServicePointRecord(*p) for p in c.execute(
        f"SELECT {_SP_COLUMNS} FROM {_SP_FROM} WHERE sp.account_id = ? ORDER BY sp.id", (account_id,)))
    return AccountRecord(r[0], r[1], r[2], r[3], points)


def _customer_detail(c: Conn, customer_id: int) -> CustomerDetail:
    accounts = tuple(a for a in (account(c, r[0]) for r in c.execute(
        "SELECT id FROM accounts WHERE customer_id = ? ORDER BY id", (customer_id,))) if a is not None)
    tariffs = tuple(TariffAcceptanceRecord(*t) for t in c.execute(
        "SELECT t.id, t.code, a.accepted_at FROM tariff_acceptances a JOIN tariffs t ON t.id = a.tariff_id "
        "WHERE a.customer_id = ? ORDER BY t.id", (customer_id,)))
    aggregators = tuple(a[0] for a in c.execute(
        "SELECT aggregator_lfdi FROM aggregator_customers WHERE customer_id = ? ORDER BY aggregator_lfdi",
        (customer_id,)))
    return CustomerDetail(accounts, tariffs, aggregators)


def customer(c: Conn, customer_id: int, detail: bool = True) -> CustomerRecord | None:
    r = c.execute("SELECT id, external_id, name, status FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if r is None:
        return None
    return CustomerRecord(r[0], r[1], r[2], r[3], _customer_detail(c, customer_id) if detail else None)


def customers(c: Conn) -> list[CustomerRecord]:
    return [CustomerRecord(*r) for r in c.execute("SELECT id, external_id, name, status FROM customers ORDER BY id")]


def _tariff(r: tuple) -> TariffRecord:
    return TariffRecord(r[0], r[1], r[2], load_json(r[3]))


def tariff(c: Conn, tariff_id: int) -> TariffRecord | None:
    r = c.execute("SELECT id, code, description, terms FROM tariffs WHERE id = ?", (tariff_id,)).fetchone()
    return _tariff(r) if r else None


def tariffs(c: Conn) -> list[TariffRecord]:
    return [_tariff(r) for r in c.execute("SELECT id, code, description, terms FROM tariffs ORDER BY id")]


_ASSET_TYPE_COLUMNS = "id, code, description, der_type, requires_interconnection, default_program_id"


def _asset_type(r: tuple) -> AssetTypeRecord:
    return AssetTypeRecord(r[0], r[1], r[2], r[3], bool(r[4]), r[5])


def asset_type(c: Conn, asset_type_id: int) -> AssetTypeRecord | None:
    r = c.execute(f"SELECT {_ASSET_TYPE_COLUMNS} FROM asset_types WHERE id = ?", (asset_type_id,)).fetchone()
    return _asset_type(r) if r else None


def asset_types(c: Conn) -> list[AssetTypeRecord]:
    return [_asset_type(r) for r in c.execute(f"SELECT {_ASSET_TYPE_COLUMNS} FROM asset_types ORDER BY id")]


_MODEL_COLUMNS = "id, asset_type_id, manufacturer, model, spec"


def _device_model(r: tuple) -> DeviceModelRecord:
    return DeviceModelRecord(r[0], r[1], r[2], r[3], load_json(r[4]))


def device_model(c: Conn, model_id: int) -> DeviceModelRecord | None:
    r = c.execute(f"SELECT {_MODEL_COLUMNS} FROM device_models WHERE id = ?", (model_id,)).fetchone()
    return _device_model(r) if r else None


def device_models(c: Conn, manufacturer: str | None) -> list[DeviceModelRecord]:
    where, params = ("WHERE manufacturer = ?", (manufacturer,)) if manufacturer else ("", ())
    return [_device_model(r) for r in c.execute(
        f"SELECT {_MODEL_COLUMNS} FROM device_models {where} ORDER BY manufacturer, model", params)]


def aggregator(c: Conn, lfdi: str) -> UtilityAggregatorRecord | None:
    r = c.execute("SELECT lfdi, name, status, created FROM aggregators WHERE lfdi = ?", (lfdi,)).fetchone()
    if r is None:
        return None
    customer_ids = tuple(x[0] for x in c.execute(
        "SELECT customer_id FROM aggregator_customers WHERE aggregator_lfdi = ? ORDER BY customer_id", (lfdi,)))
    return UtilityAggregatorRecord(r[0], r[1], r[2], r[3], customer_ids)


def program_rules(c: Conn, program_id: int) -> ProgramRulesRecord | None:
    r = c.execute("SELECT program_id, code, group_id, eligibility, constraints FROM program_rules "
                  "WHERE program_id = ?", (program_id,)).fetchone()
    return ProgramRulesRecord(r[0], r[1], r[2], load_json(r[3]), load_json(r[4])) if r else None


ASSET_COLUMNS = ("a.id, a.customer_id, a.service_point_id, a.device_model_id, m.manufacturer, m.model, "
                 "a.serial_number, a.lfdi, a.end_device_id, a.nameplate, a.interconnection, a.status, "
                 "a.replaced_by, a.created")
ASSET_FROM = "der_assets a JOIN device_models m ON m.id = a.device_model_id"


def der_asset_of_row(c: Conn, r: tuple) -> DerAssetRecord:
    replaces = c.execute("SELECT id FROM der_assets WHERE replaced_by = ?", (r[0],)).fetchone()
    enrollments = tuple(e[0] for e in c.execute("SELECT id FROM enrollments WHERE der_asset_id = ? ORDER BY id",
                                                (r[0],)))
    return DerAssetRecord(id=r[0], customer_id=r[1], service_point_id=r[2], device_model_id=r[3],
                          manufacturer=r[4], model=r[5], serial_number=r[6], lfdi=r[7], end_device_id=r[8],
                          nameplate=load_json(r[9]), interconnection=load_json(r[10]), status=r[11],
                          replaced_by=r[12], replaces=replaces[0] if replaces else None, created=r[13],
                          enrollments=enrollments)


def der_asset(c: Conn, asset_id: int) -> DerAssetRecord | None:
    r = c.execute(f"SELECT {ASSET_COLUMNS} FROM {ASSET_FROM} WHERE a.id = ?", (asset_id,)).fetchone()
    return der_asset_of_row(c, r) if r else None


ENROLLMENT_COLUMNS = "id, der_asset_id, program_id, status, sync_status, sync_reason, created, updated"


def enrollment_of_row(r: tuple) -> EnrollmentRecord:
    return EnrollmentRecord(*r)


def enrollment(c: Conn, enrollment_id: int) -> EnrollmentRecord | None:
    r = c.execute(f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = ?", (enrollment_id,)).fetchone()
    return enrollment_of_row(r) if r else None


TASK_COLUMNS = "id, kind, state, der_asset_id, enrollment_id, payload, approval, reasons, created, updated"


def service_task_of_row(r: tuple) -> ServiceTaskRecord:
    return ServiceTaskRecord(id=r[0], kind=r[1], state=r[2], der_asset_id=r[3], enrollment_id=r[4],
                             payload=load_json(r[5]), approval=load_json(r[6]), reasons=load_json(r[7]),
                             created=r[8], updated=r[9])


def service_task(c: Conn, task_id: int) -> ServiceTaskRecord | None:
    r = c.execute(f"SELECT {TASK_COLUMNS} FROM service_tasks WHERE id = ?", (task_id,)).fetchone()
    return service_task_of_row(r) if r else None
