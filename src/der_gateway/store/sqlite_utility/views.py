"""Rows rendered as the admin API shows them (dicts), from any connection."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ...domain.utility import catalog
from ...sep import paths

Conn = sqlite3.Connection


def load_json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _service_point_view(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "accountId": r[1], "externalId": r[2], "address": r[3], "substation": r[4],
            "feeder": r[5], "transformer": r[6]}


_SP_COLUMNS = "id, account_id, external_id, address, substation, feeder, transformer"


def service_point_view(c: Conn, sp_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {_SP_COLUMNS} FROM service_points WHERE id = ?", (sp_id,)).fetchone()
    if r is None:
        return None
    view = _service_point_view(r)
    view["customerId"] = c.execute("SELECT customer_id FROM accounts WHERE id = ?", (r[1],)).fetchone()[0]
    return view


def account_view(c: Conn, account_id: int) -> dict[str, Any] | None:
    r = c.execute("SELECT id, customer_id, external_id, status FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if r is None:
        return None
    points = [_service_point_view(p) for p in c.execute(
        f"SELECT {_SP_COLUMNS} FROM service_points WHERE account_id = ? ORDER BY id", (account_id,))]
    return {"id": r[0], "customerId": r[1], "externalId": r[2], "status": r[3], "servicePoints": points}


def customer_view(c: Conn, customer_id: int, detail: bool = True) -> dict[str, Any] | None:
    r = c.execute("SELECT id, external_id, name, status FROM customers WHERE id = ?", (customer_id,)).fetchone()
    if r is None:
        return None
    view = {"id": r[0], "externalId": r[1], "name": r[2], "status": r[3]}
    if detail:
        view["accounts"] = [account_view(c, a[0]) for a in c.execute(
            "SELECT id FROM accounts WHERE customer_id = ? ORDER BY id", (customer_id,))]
        view["tariffs"] = [{"tariffId": t[0], "code": t[1], "acceptedAt": t[2]} for t in c.execute(
            "SELECT t.id, t.code, a.accepted_at FROM tariff_acceptances a JOIN tariffs t ON t.id = a.tariff_id "
            "WHERE a.customer_id = ? ORDER BY t.id", (customer_id,))]
        view["aggregators"] = [a[0] for a in c.execute(
            "SELECT aggregator_lfdi FROM aggregator_customers WHERE customer_id = ? ORDER BY aggregator_lfdi",
            (customer_id,))]
    return view


def tariff_view(c: Conn, tariff_id: int) -> dict[str, Any] | None:
    r = c.execute("SELECT id, code, description, terms FROM tariffs WHERE id = ?", (tariff_id,)).fetchone()
    return {"id": r[0], "code": r[1], "description": r[2], "terms": load_json(r[3])} if r else None


def asset_type_view(c: Conn, asset_type_id: int) -> dict[str, Any] | None:
    r = c.execute("SELECT id, code, description, der_type, requires_interconnection, default_program_id "
                  "FROM asset_types WHERE id = ?", (asset_type_id,)).fetchone()
    if r is None:
        return None
    return {"id": r[0], "code": r[1], "description": r[2], "derType": r[3],
            "derTypeName": catalog.DER_TYPES.get(r[3], "?"), "requiresInterconnection": bool(r[4]),
            "defaultProgramId": r[5]}


def device_model_view(c: Conn, model_id: int) -> dict[str, Any] | None:
    r = c.execute("SELECT id, asset_type_id, manufacturer, model, spec FROM device_models WHERE id = ?",
                  (model_id,)).fetchone()
    return ({"id": r[0], "assetTypeId": r[1], "manufacturer": r[2], "model": r[3], "spec": load_json(r[4])}
            if r else None)


def aggregator_view(c: Conn, lfdi: str) -> dict[str, Any] | None:
    r = c.execute("SELECT lfdi, name, status, created FROM aggregators WHERE lfdi = ?", (lfdi,)).fetchone()
    if r is None:
        return None
    customers = [x[0] for x in c.execute(
        "SELECT customer_id FROM aggregator_customers WHERE aggregator_lfdi = ? ORDER BY customer_id", (lfdi,))]
    return {"lFDI": r[0], "name": r[1], "status": r[2], "created": r[3], "customers": customers}


def program_rules_view(c: Conn, program_id: int) -> dict[str, Any] | None:
    r = c.execute("SELECT program_id, code, group_id, eligibility, constraints FROM program_rules "
                  "WHERE program_id = ?", (program_id,)).fetchone()
    if r is None:
        return None
    return {"programId": r[0], "code": r[1], "groupId": r[2], "eligibility": load_json(r[3]),
            "constraints": load_json(r[4])}


ASSET_COLUMNS = ("a.id, a.customer_id, a.service_point_id, a.device_model_id, m.manufacturer, m.model, "
                  "a.serial_number, a.lfdi, a.end_device_id, a.nameplate, a.interconnection, a.status, "
                  "a.replaced_by, a.created")


def asset_row_view(c: Conn, r: tuple) -> dict[str, Any]:
    replaces = c.execute("SELECT id FROM der_assets WHERE replaced_by = ?", (r[0],)).fetchone()
    return {"id": r[0], "customerId": r[1], "servicePointId": r[2], "deviceModelId": r[3], "manufacturer": r[4],
            "model": r[5], "serialNumber": r[6], "lFDI": r[7], "endDeviceId": r[8],
            "endDevice": paths.edev(r[8]) if r[8] is not None else None, "nameplate": load_json(r[9]),
            "interconnection": load_json(r[10]), "status": r[11], "replacedBy": r[12],
            "replaces": replaces[0] if replaces else None, "created": r[13],
            "enrollments": [e[0] for e in c.execute(
                "SELECT id FROM enrollments WHERE der_asset_id = ? ORDER BY id", (r[0],))]}


def der_asset_view(c: Conn, asset_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {ASSET_COLUMNS} FROM der_assets a JOIN device_models m ON m.id = a.device_model_id "
                  "WHERE a.id = ?", (asset_id,)).fetchone()
    return asset_row_view(c, r) if r else None


ENROLLMENT_COLUMNS = "id, der_asset_id, program_id, status, sync_status, sync_reason, created, updated"


def enrollment_row_view(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "derAssetId": r[1], "programId": r[2], "status": r[3], "syncStatus": r[4],
            "syncReason": r[5], "created": r[6], "updated": r[7]}


def enrollment_view(c: Conn, enrollment_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = ?", (enrollment_id,)).fetchone()
    return enrollment_row_view(r) if r else None


TASK_COLUMNS = "id, kind, state, der_asset_id, enrollment_id, payload, approval, reasons, created, updated"


def task_row_view(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "kind": r[1], "state": r[2], "derAssetId": r[3], "enrollmentId": r[4],
            "payload": load_json(r[5]), "approval": load_json(r[6]), "reasons": load_json(r[7]), "created": r[8],
            "updated": r[9]}


def service_task_view(c: Conn, task_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {TASK_COLUMNS} FROM service_tasks WHERE id = ?", (task_id,)).fetchone()
    return task_row_view(r) if r else None
