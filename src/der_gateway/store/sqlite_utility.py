"""SQLite persistence of the utility's side: customers and where they are, the asset catalog,
aggregators' authorisations, program rules, tariffs, DER assets, enrollments and service tasks.

Mixed into SQLiteStore.  Reads run on the reader connection; every write runs in
one transaction on the writer, where the facts a request depends on are looked up
and judged (by domain.utility) in the same transaction that acts on them, so no
check can go stale before its write.  A refusal raises domain.utility.Rejected and
leaves nothing behind.  Writes that change what a 2030.5 client sees log the
hrefs (log_changes) and queue their sync messages (enqueue_sync) in that same
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Callable

from ..domain.identifiers import Issuer, Pen, new_mrid
from ..domain.utility import Caller, Conflict, Idempotency, InvalidRequest, NotPermitted, Problem, problem
from ..domain.utility import catalog, rules, tasks
from ..domain.utility.requests import InterconnectIn, RegisterIn, ReplaceIn
from ..sep import paths
from .sqlite_control_plane import log_changes
from .sync_queue import enqueue_sync

Conn = sqlite3.Connection


class TaskFailed(Exception):
    """A service task that cannot complete: its reasons."""

    def __init__(self, reasons: list[Problem]) -> None:
        super().__init__("; ".join(r["reason"] for r in reasons))
        self.reasons = reasons


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


# -- views (any connection) -----------------------------------------------------------------

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
    return {"id": r[0], "code": r[1], "description": r[2], "terms": _loads(r[3])} if r else None


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
    return ({"id": r[0], "assetTypeId": r[1], "manufacturer": r[2], "model": r[3], "spec": _loads(r[4])}
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
    return {"programId": r[0], "code": r[1], "groupId": r[2], "eligibility": _loads(r[3]),
            "constraints": _loads(r[4])}


_ASSET_COLUMNS = ("a.id, a.customer_id, a.service_point_id, a.device_model_id, m.manufacturer, m.model, "
                  "a.serial_number, a.lfdi, a.end_device_id, a.nameplate, a.interconnection, a.status, "
                  "a.replaced_by, a.created")


def _asset_view(c: Conn, r: tuple) -> dict[str, Any]:
    replaces = c.execute("SELECT id FROM der_assets WHERE replaced_by = ?", (r[0],)).fetchone()
    return {"id": r[0], "customerId": r[1], "servicePointId": r[2], "deviceModelId": r[3], "manufacturer": r[4],
            "model": r[5], "serialNumber": r[6], "lFDI": r[7], "endDeviceId": r[8],
            "endDevice": paths.edev(r[8]) if r[8] is not None else None, "nameplate": _loads(r[9]),
            "interconnection": _loads(r[10]), "status": r[11], "replacedBy": r[12],
            "replaces": replaces[0] if replaces else None, "created": r[13],
            "enrollments": [e[0] for e in c.execute(
                "SELECT id FROM enrollments WHERE der_asset_id = ? ORDER BY id", (r[0],))]}


def der_asset_view(c: Conn, asset_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {_ASSET_COLUMNS} FROM der_assets a JOIN device_models m ON m.id = a.device_model_id "
                  "WHERE a.id = ?", (asset_id,)).fetchone()
    return _asset_view(c, r) if r else None


_ENROLLMENT_COLUMNS = "id, der_asset_id, program_id, status, sync_status, sync_reason, created, updated"


def _enrollment_view(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "derAssetId": r[1], "programId": r[2], "status": r[3], "syncStatus": r[4],
            "syncReason": r[5], "created": r[6], "updated": r[7]}


def enrollment_view(c: Conn, enrollment_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {_ENROLLMENT_COLUMNS} FROM enrollments WHERE id = ?", (enrollment_id,)).fetchone()
    return _enrollment_view(r) if r else None


_TASK_COLUMNS = "id, kind, state, der_asset_id, enrollment_id, payload, approval, reasons, created, updated"


def _task_view(r: tuple) -> dict[str, Any]:
    return {"id": r[0], "kind": r[1], "state": r[2], "derAssetId": r[3], "enrollmentId": r[4],
            "payload": _loads(r[5]), "approval": _loads(r[6]), "reasons": _loads(r[7]), "created": r[8],
            "updated": r[9]}


def service_task_view(c: Conn, task_id: int) -> dict[str, Any] | None:
    r = c.execute(f"SELECT {_TASK_COLUMNS} FROM service_tasks WHERE id = ?", (task_id,)).fetchone()
    return _task_view(r) if r else None


# -- lookups (any connection) ---------------------------------------------------------------

def _customer_by_ref(c: Conn, ref: int | str) -> tuple | None:
    column = "id" if type(ref) is int else "external_id"
    return c.execute(f"SELECT id, external_id, name, status FROM customers WHERE {column} = ?", (ref,)).fetchone()


def _service_point_by_ref(c: Conn, ref: int | str) -> tuple | None:
    """(id, account_id, external_id, address, substation, feeder, transformer, customer_id)"""
    column = "sp.id" if type(ref) is int else "sp.external_id"
    return c.execute(
        "SELECT sp.id, sp.account_id, sp.external_id, sp.address, sp.substation, sp.feeder, sp.transformer, "
        f"a.customer_id FROM service_points sp JOIN accounts a ON a.id = sp.account_id WHERE {column} = ?",
        (ref,)).fetchone()


def _program_by_ref(c: Conn, ref: int | str) -> tuple | None:
    """(id, mrid, description, primacy, code) by id, by its rules' code, or by mRID."""
    base = ("SELECT p.id, p.mrid, p.description, p.primacy, r.code FROM programs p "
            "LEFT JOIN program_rules r ON r.program_id = p.id WHERE ")
    if type(ref) is int:
        return c.execute(base + "p.id = ?", (ref,)).fetchone()
    return (c.execute(base + "r.code = ?", (ref,)).fetchone()
            or c.execute(base + "p.mrid = ?", (ref.upper(),)).fetchone())


def _program_name(program: tuple) -> str:
    return program[4] or program[2] or program[1]


def _rules_of(c: Conn, program_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    r = c.execute("SELECT eligibility, constraints FROM program_rules WHERE program_id = ?", (program_id,)).fetchone()
    return (json.loads(r[0]), json.loads(r[1])) if r else ({}, {})


def _model_by_name(c: Conn, manufacturer: str, model: str) -> tuple | None:
    """(id, asset_type_id, manufacturer, model, spec, der_type, requires_interconnection, default_program_id,
    asset type code)"""
    return c.execute(
        "SELECT m.id, m.asset_type_id, m.manufacturer, m.model, m.spec, t.der_type, t.requires_interconnection, "
        "t.default_program_id, t.code FROM device_models m JOIN asset_types t ON t.id = m.asset_type_id "
        "WHERE m.manufacturer = ? AND m.model = ?", (manufacturer, model)).fetchone()


def _model_by_id(c: Conn, model_id: int) -> tuple | None:
    return c.execute(
        "SELECT m.id, m.asset_type_id, m.manufacturer, m.model, m.spec, t.der_type, t.requires_interconnection, "
        "t.default_program_id, t.code FROM device_models m JOIN asset_types t ON t.id = m.asset_type_id "
        "WHERE m.id = ?", (model_id,)).fetchone()


def _catalog_problems(c: Conn, manufacturer: str, model: str, path: str) -> tuple[tuple | None, list[Problem]]:
    found = _model_by_name(c, manufacturer, model)
    if found is not None:
        return found, []
    models = [r[0] for r in c.execute("SELECT model FROM device_models WHERE manufacturer = ? ORDER BY model",
                                      (manufacturer,))]
    if not models:
        return None, [problem(f"rule catalog: no manufacturer {manufacturer!r} in the catalog",
                              f"{path}.manufacturer" if path else "manufacturer")]
    return None, [problem(f"rule catalog: {manufacturer!r} has no model {model!r}; its models: {', '.join(models)}",
                          f"{path}.model" if path else "model")]


def _accepted_tariffs(c: Conn, customer_id: int) -> set[int]:
    return {r[0] for r in c.execute("SELECT tariff_id FROM tariff_acceptances WHERE customer_id = ?", (customer_id,))}


def _tariff_name(c: Conn, tariff_id: int | None) -> str | None:
    if tariff_id is None:
        return None
    r = c.execute("SELECT code FROM tariffs WHERE id = ?", (tariff_id,)).fetchone()
    return r[0] if r else f"{tariff_id} (no longer in the tariff list)"


def _aggregator_problems(c: Conn, lfdi: str, customer_id: int | None, field: str = "aggregator") -> list[Problem]:
    r = c.execute("SELECT status FROM aggregators WHERE lfdi = ?", (lfdi,)).fetchone()
    if r is None:
        return [problem(f"no aggregator with LFDI {lfdi}", field)]
    errors = []
    if r[0] != "active":
        errors.append(problem(f"rule aggregator: aggregator {lfdi} is {r[0]}", field))
    if customer_id is not None and c.execute(
            "SELECT 1 FROM aggregator_customers WHERE aggregator_lfdi = ? AND customer_id = ?",
            (lfdi, customer_id)).fetchone() is None:
        errors.append(problem(f"rule aggregator: aggregator {lfdi} is not authorised for this customer", "customer"))
    return errors


def _eligibility(c: Conn, program: tuple, customer_id: int, sp: tuple, der_type: int | None,
                 nameplate: dict[str, Any], fields: dict[str, str] | None = None) -> list[Problem]:
    eligibility, _ = _rules_of(c, program[0])
    return rules.eligibility_errors(
        eligibility, _program_name(program), der_type=der_type, capacity_w=catalog.quantity(nameplate.get("rtgMaxW")),
        location={"substation": sp[4], "feeder": sp[5], "transformer": sp[6]},
        accepted_tariffs=_accepted_tariffs(c, customer_id), tariff_name=_tariff_name(c, eligibility.get("tariffId")),
        fields=fields)


def _customer_and_point(c: Conn, customer_ref: int | str, sp_ref: int | str, caller: Caller
                        ) -> tuple[tuple | None, tuple | None, list[Problem]]:
    """The customer and service point a request names, checked: for a certified aggregator an unknown or
    unauthorised customer is refused outright (403), so that it learns nothing of other customers."""
    errors: list[Problem] = []
    customer = _customer_by_ref(c, customer_ref)
    if caller.certified:
        if customer is None or c.execute(
                "SELECT 1 FROM aggregator_customers WHERE aggregator_lfdi = ? AND customer_id = ?",
                (caller.aggregator, customer[0])).fetchone() is None:
            raise NotPermitted([problem(f"rule aggregator: this aggregator is not authorised for customer "
                                         f"{customer_ref}", "customer")])
    if customer is None:
        errors.append(problem(f"no customer {customer_ref}", "customer"))
    elif customer[3] != "active":
        errors.append(problem(f"customer {customer_ref} is {customer[3]}", "customer"))
    sp = _service_point_by_ref(c, sp_ref)
    if sp is None:
        errors.append(problem(f"no service point {sp_ref}", "servicePoint"))
    elif customer is not None and sp[7] != customer[0]:
        errors.append(problem(f"service point {sp_ref} does not belong to customer {customer_ref}", "servicePoint"))
    if caller.aggregator is not None:
        errors += _aggregator_problems(c, caller.aggregator, customer[0] if customer else None)
    return customer, sp, errors


def _identity_problems(c: Conn, lfdi: str, sfdi: int, path: str) -> list[Problem]:
    r = c.execute("SELECT id, lfdi FROM end_devices WHERE lfdi = ? OR sfdi = ?", (lfdi, sfdi)).fetchone()
    if r is None:
        return []
    if r[1] == lfdi:
        return [problem(f"an EndDevice with this lFDI is registered already ({paths.edev(r[0])})", f"{path}.lFDI")]
    return [problem(f"its sFDI {sfdi} belongs to another EndDevice ({paths.edev(r[0])})", f"{path}.lFDI")]


def _approved_interconnection(c: Conn, model_id: int, lfdi: str | None, serial: str) -> tuple[int | None, Any, list]:
    """The approved, completed interconnection for this device (by lFDI or serial number), if any;
    and the ids and states of those still open."""
    found, found_attrs, open_ = None, None, []
    for task_id, state, payload, approval in c.execute(
            "SELECT id, state, payload, approval FROM service_tasks WHERE kind = 'interconnect' "
            "AND state IN ('Pending', 'Processing', 'Completed') ORDER BY id DESC"):
        data = json.loads(payload)
        if data.get("deviceModelId") != model_id:
            continue
        if not (data.get("serialNumber") == serial or (lfdi is not None and data.get("lFDI") == lfdi)):
            continue
        decision = (json.loads(approval) or {}).get("decision") if approval else None
        if state == "Completed" and decision == "approved" and found is None:
            found, found_attrs = task_id, data.get("interconnection")
        elif state != "Completed":
            open_.append((task_id, state))
    return found, found_attrs, open_


def _groups_of_location(c: Conn, sp: tuple) -> list[int]:
    """The groups standing for the service point's substation, feeder and transformer, where they exist."""
    groups = []
    for kind, name in zip(rules.LOCATION_KINDS, (sp[4], sp[5], sp[6])):
        if name is None:
            continue
        r = c.execute("SELECT group_id FROM network_locations WHERE kind = ? AND name = ?", (kind, name)).fetchone()
        if r is not None:
            groups.append(r[0])
    return groups


def _idempotent(c: Conn, idem: Idempotency | None, now: int, work: Callable[[Conn], tuple[int, Any]]
                ) -> tuple[int, Any]:
    """The first answer to this key, or work's answer, kept under the key (in this transaction)."""
    if idem is not None:
        r = c.execute("SELECT request_digest, status, response FROM idempotent_requests "
                      "WHERE caller = ? AND operation = ? AND key = ?", (idem.caller, idem.operation, idem.key)
                      ).fetchone()
        if r is not None:
            if r[0] != idem.digest:
                raise Conflict([problem("this Idempotency-Key was used before with a different body",
                                             "Idempotency-Key")])
            return r[1], json.loads(r[2])
    status, body = work(c)
    if idem is not None:
        c.execute("INSERT INTO idempotent_requests (key, caller, operation, request_digest, status, response, "
                  "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (idem.key, idem.caller, idem.operation, idem.digest, status, json.dumps(body), now))
    return status, body


def _new_task(c: Conn, kind: str, now: int, asset_id: int | None, enrollment_id: int | None,
              payload: dict[str, Any]) -> int:
    return c.execute("INSERT INTO service_tasks (kind, state, der_asset_id, enrollment_id, payload, reasons, "
                     "created, updated) VALUES (?, 'Pending', ?, ?, ?, '[]', ?, ?)",
                     (kind, asset_id, enrollment_id, json.dumps(payload), now, now)).lastrowid


def _checked(errors: list[Problem]) -> None:
    if errors:
        raise InvalidRequest(errors)


def _unique(c: Conn, table: str, column: str, value: Any, field: str, what: str, errors: list[Problem],
            exclude: int | None = None) -> None:
    sql = f"SELECT id FROM {table} WHERE {column} = ?"
    params: tuple = (value,)
    if exclude is not None:
        sql += " AND id != ?"
        params += (exclude,)
    if c.execute(sql, params).fetchone() is not None:
        errors.append(problem(f"another {what} has {column.replace('_', ' ')} {value!r}", field))


# -- sync message bodies ------------------------------------------------------------------------

def _subscription_body(c: Conn, enrollment_id: int) -> dict[str, Any]:
    e = enrollment_view(c, enrollment_id)
    a = der_asset_view(c, e["derAssetId"])
    program = _program_by_ref(c, e["programId"])
    customer = customer_view(c, a["customerId"], detail=False)
    sp = service_point_view(c, a["servicePointId"])
    account = c.execute("SELECT external_id FROM accounts WHERE id = ?", (sp["accountId"],)).fetchone()[0]
    edev = c.execute("SELECT lfdi, sfdi, owner_lfdi FROM end_devices WHERE id = ?",
                     (a["endDeviceId"],)).fetchone() if a["endDeviceId"] else None
    derg = c.execute("SELECT body FROM der_documents WHERE end_device_id = ? AND n = 1 AND kind = 'derg'",
                     (a["endDeviceId"],)).fetchone() if a["endDeviceId"] else None
    return {
        "enrollment": {"id": e["id"], "status": e["status"], "updated": e["updated"]},
        "subscription": {
            "program": {"id": program[0], "mRID": program[1], "code": program[4], "description": program[2],
                        "primacy": program[3], "href": paths.program(program[0])},
            "customer": {"id": customer["id"], "externalId": customer["externalId"], "name": customer["name"]},
            "account": {"id": sp["accountId"], "externalId": account},
            "servicePoint": {k: sp[k] for k in ("id", "externalId", "substation", "feeder", "transformer")}},
        "device": {"derAssetId": a["id"], "lFDI": a["lFDI"], "sFDI": edev[1] if edev else None,
                   "endDevice": a["endDevice"], "manufacturer": a["manufacturer"], "model": a["model"],
                   "serialNumber": a["serialNumber"],
                   "aggregator": edev[2] if edev and edev[2] != edev[0] else None,
                   "interconnection": a["interconnection"]},
        "nameplate": {"DERCapability": a["nameplate"], "DERSettings": _loads(derg[0]) if derg else None},
    }


def _sync(c: Conn, kind: str, enrollment_id: int, now: int, extra: dict[str, Any] | None = None) -> None:
    body = {**_subscription_body(c, enrollment_id), **(extra or {})}
    if enqueue_sync(c, kind, body, now, enrollment_id):
        c.execute("UPDATE enrollments SET sync_status = 'Pending', sync_reason = NULL WHERE id = ?",
                  (enrollment_id,))


def _sync_aggregator(c: Conn, lfdi: str, now: int) -> None:
    view = aggregator_view(c, lfdi)
    view["customers"] = [customer_view(c, i, detail=False) for i in view["customers"]]
    enqueue_sync(c, "aggregator", {"aggregator": view}, now)


def _sync_rules(c: Conn, program_id: int, now: int, deleted: bool = False) -> None:
    program = _program_by_ref(c, program_id)
    body = {"program": {"id": program[0], "mRID": program[1], "description": program[2], "primacy": program[3],
                        "href": paths.program(program[0])},
            "rules": None if deleted else program_rules_view(c, program_id)}
    enqueue_sync(c, "program-rules", body, now)


# -- device records -----------------------------------------------------------------------------

def _create_end_device(c: Conn, lfdi: str, sfdi: int, owner: str, category: str | None, now: int, enabled: bool,
                       nameplate: dict[str, Any], settings: dict[str, Any] | None, pin: int) -> int:
    edev = c.execute(
        "INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, device_category, "
        "enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (lfdi, sfdi, owner, now, pin, now, category, int(enabled))).lastrowid
    c.execute("INSERT INTO ders (end_device_id, n) VALUES (?, 1)", (edev,))
    c.execute("INSERT INTO der_documents (end_device_id, n, kind, body) VALUES (?, 1, 'dercap', ?)",
              (edev, json.dumps(nameplate)))
    if settings is not None:
        c.execute("INSERT INTO der_documents (end_device_id, n, kind, body) VALUES (?, 1, 'derg', ?)",
                  (edev, json.dumps(settings)))
    return edev


def _program_group(c: Conn, program: tuple, pen: Pen, changed: list) -> int:
    """The program's enrollment group, made on first use, with the program assigned to it."""
    r = c.execute("SELECT group_id FROM program_rules WHERE program_id = ?", (program[0],)).fetchone()
    group_id = r[0] if r else None
    if group_id is None or c.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
        group_id = c.execute("INSERT INTO groups (mrid, description) VALUES (?, ?)",
                             (new_mrid(pen), f"enrolled in {_program_name(program)}"[:32])).lastrowid
        if r is None:
            c.execute("INSERT INTO program_rules (program_id, group_id) VALUES (?, ?)", (program[0], group_id))
        else:
            c.execute("UPDATE program_rules SET group_id = ? WHERE program_id = ?", (group_id, program[0]))
    if c.execute("INSERT OR IGNORE INTO group_programs (group_id, program_id) VALUES (?, ?)",
                 (group_id, program[0])).rowcount:
        c.execute("UPDATE groups SET version = version + 1 WHERE id = ?", (group_id,))
        changed.append(paths.program_list(group_id))
    return group_id


def _join(c: Conn, edev: int, groups: list[int]) -> None:
    c.executemany("INSERT OR IGNORE INTO group_members (group_id, end_device_id) VALUES (?, ?)",
                  [(g, edev) for g in groups])


def _leave(c: Conn, edev: int, groups: list[int]) -> None:
    c.executemany("DELETE FROM group_members WHERE group_id = ? AND end_device_id = ?", [(g, edev) for g in groups])


# -- service tasks ------------------------------------------------------------------------------

def _task_enroll(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    enrollment = enrollment_view(c, task["enrollmentId"])
    asset = der_asset_view(c, enrollment["derAssetId"])
    if enrollment["status"] != "Pending":
        raise TaskFailed([problem(f"enrollment {enrollment['id']} is {enrollment['status']}", "enrollment")])
    if asset["status"] != "active" or asset["endDeviceId"] is None:
        raise TaskFailed([problem(f"DER asset {asset['id']} is {asset['status']}", "derAsset")])
    program = _program_by_ref(c, enrollment["programId"])
    sp = _service_point_by_ref(c, asset["servicePointId"])
    customer = _customer_by_ref(c, asset["customerId"])
    reasons = _eligibility(c, program, customer[0], sp, asset["nameplate"].get("type"), asset["nameplate"],
                           fields={"type": "program", "capacity": "program", "location": "program",
                                   "tariff": "program"})
    if customer[3] != "active":
        reasons.append(problem(f"customer {customer[1]} is {customer[3]}", "customer"))
    edev = c.execute("SELECT lfdi, owner_lfdi FROM end_devices WHERE id = ?", (asset["endDeviceId"],)).fetchone()
    if edev[1] != edev[0] and c.execute("SELECT 1 FROM aggregators WHERE lfdi = ?", (edev[1],)).fetchone():
        reasons += _aggregator_problems(c, edev[1], customer[0])
    if reasons:
        raise TaskFailed(reasons)
    groups = [_program_group(c, program, issuer.pen, changed)] + _groups_of_location(c, sp)
    c.execute("UPDATE end_devices SET enabled = 1, changed_time = ? WHERE id = ?", (now, asset["endDeviceId"]))
    _join(c, asset["endDeviceId"], groups)
    c.execute("UPDATE enrollments SET status = 'Enrolled', updated = ? WHERE id = ?", (now, enrollment["id"]))
    changed += [paths.edev(asset["endDeviceId"]), paths.fsa_list(asset["endDeviceId"])]
    _sync(c, "enrollment", enrollment["id"], now)


def _still_enrolled(c: Conn, asset_id: int, other_than: int) -> list[int]:
    """The programs of the asset's other enrollments that stand."""
    return [r[0] for r in c.execute("SELECT program_id FROM enrollments WHERE der_asset_id = ? AND id != ? "
                                    "AND status = 'Enrolled'", (asset_id, other_than))]


def _task_unenroll(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    enrollment = enrollment_view(c, task["enrollmentId"])
    if enrollment["status"] != "Enrolled":
        raise TaskFailed([problem(f"enrollment {enrollment['id']} is {enrollment['status']}", "enrollment")])
    asset = der_asset_view(c, enrollment["derAssetId"])
    edev = asset["endDeviceId"]
    if edev is not None:
        others = _still_enrolled(c, asset["id"], enrollment["id"])
        leaving = []
        if enrollment["programId"] not in others:
            group = c.execute("SELECT group_id FROM program_rules WHERE program_id = ?",
                              (enrollment["programId"],)).fetchone()
            if group and group[0] is not None:
                leaving.append(group[0])
        if not others:
            leaving += _groups_of_location(c, _service_point_by_ref(c, asset["servicePointId"]))
            c.execute("UPDATE end_devices SET enabled = 0, changed_time = ? WHERE id = ?", (now, edev))
        _leave(c, edev, leaving)
        changed += [paths.edev(edev), paths.fsa_list(edev)]
    c.execute("UPDATE enrollments SET status = 'Unenrolled', updated = ? WHERE id = ?", (now, enrollment["id"]))
    _sync(c, "unenrollment", enrollment["id"], now)


def _task_interconnect(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    if (task["approval"] or {}).get("decision") != "approved":
        raise TaskFailed([problem("the interconnection was not approved by engineering", "approval")])


def _task_replace(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    old = der_asset_view(c, task["derAssetId"])
    new = task["payload"]["device"]
    if old["status"] != "active":
        raise TaskFailed([problem(f"DER asset {old['id']} is {old['status']}", "derAsset")])
    reasons = _identity_problems(c, new["lFDI"], new["sFDI"], "device")
    model = _model_by_id(c, task["payload"]["deviceModelId"])
    if model is None:
        reasons.append(problem("the device model is no longer in the catalog", "device.model"))
    if reasons:
        raise TaskFailed(reasons)
    moving = [r[0] for r in c.execute("SELECT id FROM enrollments WHERE der_asset_id = ? AND status = 'Enrolled' "
                                      "ORDER BY id", (old["id"],))]
    old_edev = c.execute("SELECT id, lfdi, owner_lfdi, device_category FROM end_devices WHERE id = ?",
                         (old["endDeviceId"],)).fetchone() if old["endDeviceId"] else None
    owner = old_edev[2] if old_edev and old_edev[2] != old_edev[1] else new["lFDI"]
    settings = new.get("settings")
    if settings is None and old_edev is not None:
        kept = c.execute("SELECT body FROM der_documents WHERE end_device_id = ? AND n = 1 AND kind = 'derg'",
                         (old_edev[0],)).fetchone()
        settings = _loads(kept[0]) if kept else None
    nameplate = new.get("nameplate") or old["nameplate"]
    category = new.get("deviceCategory") or (old_edev[3] if old_edev else None)
    edev = _create_end_device(c, new["lFDI"], new["sFDI"], owner, category, now, bool(moving), nameplate, settings,
                              issuer.pin())
    asset_id = c.execute(
        "INSERT INTO der_assets (customer_id, service_point_id, device_model_id, serial_number, end_device_id, lfdi, "
        "nameplate, interconnection, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
        (old["customerId"], old["servicePointId"], model[0], new["serialNumber"], edev, new["lFDI"],
         json.dumps(nameplate), json.dumps(old["interconnection"]) if old["interconnection"] else None,
         now)).lastrowid
    c.execute("UPDATE der_assets SET status = 'retired', replaced_by = ? WHERE id = ?", (asset_id, old["id"]))
    groups: list[int] = []
    for enrollment_id in moving:
        program = _program_by_ref(c, enrollment_view(c, enrollment_id)["programId"])
        groups.append(_program_group(c, program, issuer.pen, changed))
        c.execute("UPDATE enrollments SET der_asset_id = ?, updated = ? WHERE id = ?", (asset_id, now, enrollment_id))
    if moving:
        groups += _groups_of_location(c, _service_point_by_ref(c, old["servicePointId"]))
        _join(c, edev, groups)
    if old_edev is not None:
        c.execute("DELETE FROM group_members WHERE end_device_id = ?", (old_edev[0],))
        c.execute("UPDATE end_devices SET enabled = 0, changed_time = ? WHERE id = ?", (now, old_edev[0]))
        changed += [paths.edev(old_edev[0]), paths.fsa_list(old_edev[0])]
    changed += [paths.edev(edev), paths.fsa_list(edev)]  # the new EndDevice joins its owner's EndDeviceList
    payload = {**task["payload"], "newDerAssetId": asset_id, "newEndDeviceId": edev, "enrollments": moving}
    c.execute("UPDATE service_tasks SET payload = ? WHERE id = ?", (json.dumps(payload), task["id"]))
    replaced = {"derAssetId": old["id"], "lFDI": old["lFDI"], "serialNumber": old["serialNumber"],
                "endDevice": old["endDevice"]}
    for enrollment_id in moving:
        _sync(c, "replacement", enrollment_id, now, {"replaced": replaced})


_HANDLERS = {"enroll": _task_enroll, "unenroll": _task_unenroll, "interconnect": _task_interconnect,
             "replace": _task_replace}


class UtilityStore:
    """Mixed into SQLiteStore, which provides _rows, _one, _reader and _in_transaction."""

    # -- reads ------------------------------------------------------------------------------------

    async def customers(self) -> list[dict[str, Any]]:
        return [customer_view(self._reader, r[0], detail=False)
                for r in self._rows("SELECT id FROM customers ORDER BY id")]

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        return customer_view(self._reader, customer_id)

    async def account(self, account_id: int) -> dict[str, Any] | None:
        return account_view(self._reader, account_id)

    async def service_point(self, sp_id: int) -> dict[str, Any] | None:
        return service_point_view(self._reader, sp_id)

    async def tariffs(self) -> list[dict[str, Any]]:
        return [tariff_view(self._reader, r[0]) for r in self._rows("SELECT id FROM tariffs ORDER BY id")]

    async def tariff(self, tariff_id: int) -> dict[str, Any] | None:
        return tariff_view(self._reader, tariff_id)

    async def asset_types(self) -> list[dict[str, Any]]:
        return [asset_type_view(self._reader, r[0]) for r in self._rows("SELECT id FROM asset_types ORDER BY id")]

    async def asset_type(self, asset_type_id: int) -> dict[str, Any] | None:
        return asset_type_view(self._reader, asset_type_id)

    async def device_models(self, manufacturer: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE manufacturer = ?", (manufacturer,)) if manufacturer else ("", ())
        return [device_model_view(self._reader, r[0]) for r in self._rows(
            f"SELECT id FROM device_models {where} ORDER BY manufacturer, model", params)]

    async def device_model(self, model_id: int) -> dict[str, Any] | None:
        return device_model_view(self._reader, model_id)

    async def utility_aggregators(self) -> list[dict[str, Any]]:
        return [aggregator_view(self._reader, r[0]) for r in self._rows("SELECT lfdi FROM aggregators ORDER BY name")]

    async def utility_aggregator(self, lfdi: str) -> dict[str, Any] | None:
        return aggregator_view(self._reader, lfdi)

    async def program_rules(self, program_id: int) -> dict[str, Any] | None:
        return program_rules_view(self._reader, program_id)

    async def der_assets(self, status: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE a.status = ?", (status,)) if status else ("", ())
        return [_asset_view(self._reader, r) for r in self._rows(
            f"SELECT {_ASSET_COLUMNS} FROM der_assets a JOIN device_models m ON m.id = a.device_model_id "
            f"{where} ORDER BY a.id", params)]

    async def der_asset(self, asset_id: int) -> dict[str, Any] | None:
        return der_asset_view(self._reader, asset_id)

    async def enrollments(self, der_asset_id: int | None = None, program_id: int | None = None,
                          status: str | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        for column, value in (("der_asset_id", der_asset_id), ("program_id", program_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [_enrollment_view(r) for r in self._rows(
            f"SELECT {_ENROLLMENT_COLUMNS} FROM enrollments {where} ORDER BY id", tuple(params))]

    async def enrollment(self, enrollment_id: int) -> dict[str, Any] | None:
        return enrollment_view(self._reader, enrollment_id)

    async def service_tasks(self, state: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        clauses, params = [], []
        for column, value in (("state", state), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [_task_view(r) for r in self._rows(
            f"SELECT {_TASK_COLUMNS} FROM service_tasks {where} ORDER BY id", tuple(params))]

    async def service_task(self, task_id: int) -> dict[str, Any] | None:
        return service_task_view(self._reader, task_id)

    async def due_service_tasks(self, now: int, limit: int = 100) -> list[int]:
        """Tasks the monitor may process now: Pending ones (interconnections once decided), and abandoned ones."""
        return [r[0] for r in self._rows(
            "SELECT id FROM service_tasks WHERE (state = 'Pending' AND (kind != 'interconnect' OR approval IS NOT "
            "NULL)) OR (state = 'Processing' AND updated <= ?) ORDER BY id LIMIT ?",
            (now - tasks.STALE_SECONDS, limit))]

    async def idempotent_answer(self, idem: Idempotency) -> tuple[int, Any] | None:
        """The answer kept under the key, if any; Conflict if it was given for another body."""
        r = self._one("SELECT request_digest, status, response FROM idempotent_requests "
                      "WHERE caller = ? AND operation = ? AND key = ?", (idem.caller, idem.operation, idem.key))
        if r is None:
            return None
        if r[0] != idem.digest:
            raise Conflict([problem("this Idempotency-Key was used before with a different body",
                                         "Idempotency-Key")])
        return r[1], json.loads(r[2])

    # -- customers, accounts, service points ------------------------------------------------------------

    async def create_customer(self, values: dict[str, Any]) -> dict[str, Any]:
        def create(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            _unique(c, "customers", "external_id", values["externalId"], "externalId", "customer", errors)
            for i, account in enumerate(values["accounts"]):
                _unique(c, "accounts", "external_id", account["externalId"], f"accounts[{i}].externalId", "account",
                        errors)
                for j, sp in enumerate(account["servicePoints"]):
                    _unique(c, "service_points", "external_id", sp["externalId"],
                            f"accounts[{i}].servicePoints[{j}].externalId", "service point", errors)
            if errors:
                raise Conflict(errors)
            customer_id = c.execute("INSERT INTO customers (external_id, name, status) VALUES (?, ?, ?)",
                                    (values["externalId"], values["name"], values["status"])).lastrowid
            for account in values["accounts"]:
                _insert_account(c, customer_id, account)
            return customer_view(c, customer_id)
        return await self._in_transaction(create)

    async def update_customer(self, customer_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def update(c: Conn) -> dict[str, Any]:
            for column, key in (("name", "name"), ("status", "status")):
                if key in values:
                    c.execute(f"UPDATE customers SET {column} = ? WHERE id = ?", (values[key], customer_id))
            return customer_view(c, customer_id)
        return await self._in_transaction(update)

    async def delete_customer(self, customer_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM der_assets WHERE customer_id = ?", (customer_id,)).fetchone()[0]
            if n:
                raise Conflict(f"the customer has {n} DER asset(s); their history is kept, so the customer stays")
            c.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
        await self._in_transaction(delete)

    async def add_account(self, customer_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def add(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            _unique(c, "accounts", "external_id", values["externalId"], "externalId", "account", errors)
            for j, sp in enumerate(values["servicePoints"]):
                _unique(c, "service_points", "external_id", sp["externalId"], f"servicePoints[{j}].externalId",
                        "service point", errors)
            if errors:
                raise Conflict(errors)
            return account_view(c, _insert_account(c, customer_id, values))
        return await self._in_transaction(add)

    async def update_account(self, account_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def update(c: Conn) -> dict[str, Any]:
            if "status" in values:
                c.execute("UPDATE accounts SET status = ? WHERE id = ?", (values["status"], account_id))
            return account_view(c, account_id)
        return await self._in_transaction(update)

    async def add_service_point(self, account_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def add(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            _unique(c, "service_points", "external_id", values["externalId"], "externalId", "service point", errors)
            if errors:
                raise Conflict(errors)
            return service_point_view(c, _insert_service_point(c, account_id, values))
        return await self._in_transaction(add)

    async def update_service_point(self, sp_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def update(c: Conn) -> dict[str, Any]:
            for key in ("address", "substation", "feeder", "transformer"):
                if key in values:
                    c.execute(f"UPDATE service_points SET {key} = ? WHERE id = ?", (values[key], sp_id))
            return service_point_view(c, sp_id)
        return await self._in_transaction(update)

    async def delete_service_point(self, sp_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM der_assets WHERE service_point_id = ?", (sp_id,)).fetchone()[0]
            if n:
                raise Conflict(f"the service point has {n} DER asset(s)")
            c.execute("DELETE FROM service_points WHERE id = ?", (sp_id,))
        await self._in_transaction(delete)

    async def set_tariff_acceptance(self, customer_id: int, tariff_id: int, accepted: bool, now: int) -> None:
        sql = ("INSERT OR IGNORE INTO tariff_acceptances (customer_id, tariff_id, accepted_at) VALUES (?, ?, ?)"
               if accepted else "DELETE FROM tariff_acceptances WHERE customer_id = ? AND tariff_id = ?")
        params = (customer_id, tariff_id, now) if accepted else (customer_id, tariff_id)
        await self._in_transaction(lambda c: c.execute(sql, params))

    # -- tariffs ------------------------------------------------------------------------------------

    async def create_tariff(self, values: dict[str, Any]) -> dict[str, Any]:
        def create(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            _unique(c, "tariffs", "code", values["code"], "code", "tariff", errors)
            if errors:
                raise Conflict(errors)
            return tariff_view(c, c.execute("INSERT INTO tariffs (code, description, terms) VALUES (?, ?, ?)",
                                            (values["code"], values.get("description"),
                                             json.dumps(values.get("terms", {})))).lastrowid)
        return await self._in_transaction(create)

    async def update_tariff(self, tariff_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def update(c: Conn) -> dict[str, Any]:
            if "description" in values:
                c.execute("UPDATE tariffs SET description = ? WHERE id = ?", (values["description"], tariff_id))
            if "terms" in values:
                c.execute("UPDATE tariffs SET terms = ? WHERE id = ?", (json.dumps(values["terms"]), tariff_id))
            return tariff_view(c, tariff_id)
        return await self._in_transaction(update)

    async def delete_tariff(self, tariff_id: int) -> None:
        def delete(c: Conn) -> None:
            users = [r[0] for r in c.execute("SELECT program_id, eligibility FROM program_rules")
                     if json.loads(r[1]).get("tariffId") == tariff_id]
            if users:
                raise Conflict(f"the rules of program(s) {', '.join(map(str, users))} require this tariff")
            c.execute("DELETE FROM tariffs WHERE id = ?", (tariff_id,))
        await self._in_transaction(delete)

    # -- the catalog ---------------------------------------------------------------------------------

    async def create_asset_type(self, values: dict[str, Any]) -> dict[str, Any]:
        def create(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            _program_exists(c, values.get("defaultProgramId"), errors)
            _checked(errors)
            _unique(c, "asset_types", "code", values["code"], "code", "asset type", errors)
            if errors:
                raise Conflict(errors)
            return asset_type_view(c, c.execute(
                "INSERT INTO asset_types (code, description, der_type, requires_interconnection, default_program_id) "
                "VALUES (?, ?, ?, ?, ?)", (values["code"], values.get("description"), values["derType"],
                                           int(values.get("requiresInterconnection", False)),
                                           values.get("defaultProgramId"))).lastrowid)
        return await self._in_transaction(create)

    async def update_asset_type(self, asset_type_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def update(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            _program_exists(c, values.get("defaultProgramId"), errors)
            _checked(errors)
            columns = {"description": "description", "derType": "der_type",
                       "requiresInterconnection": "requires_interconnection", "defaultProgramId": "default_program_id"}
            for key, column in columns.items():
                if key in values:
                    value = int(values[key]) if key == "requiresInterconnection" else values[key]
                    c.execute(f"UPDATE asset_types SET {column} = ? WHERE id = ?", (value, asset_type_id))
            return asset_type_view(c, asset_type_id)
        return await self._in_transaction(update)

    async def delete_asset_type(self, asset_type_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM device_models WHERE asset_type_id = ?", (asset_type_id,)).fetchone()[0]
            if n:
                raise Conflict(f"{n} device model(s) are of this asset type")
            c.execute("DELETE FROM asset_types WHERE id = ?", (asset_type_id,))
        await self._in_transaction(delete)

    async def create_device_model(self, values: dict[str, Any]) -> dict[str, Any]:
        def create(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            if c.execute("SELECT 1 FROM asset_types WHERE id = ?", (values["assetTypeId"],)).fetchone() is None:
                errors.append(problem(f"no asset type {values['assetTypeId']}", "assetTypeId"))
            _checked(errors)
            if _model_by_name(c, values["manufacturer"], values["model"]) is not None:
                raise Conflict([problem(f"{values['manufacturer']!r} {values['model']!r} is in the catalog "
                                             "already", "model")])
            return device_model_view(c, c.execute(
                "INSERT INTO device_models (asset_type_id, manufacturer, model, spec) VALUES (?, ?, ?, ?)",
                (values["assetTypeId"], values["manufacturer"], values["model"], json.dumps(values["spec"]))
            ).lastrowid)
        return await self._in_transaction(create)

    async def update_device_model(self, model_id: int, values: dict[str, Any]) -> dict[str, Any]:
        def update(c: Conn) -> dict[str, Any]:
            if "assetTypeId" in values:
                if c.execute("SELECT 1 FROM asset_types WHERE id = ?", (values["assetTypeId"],)).fetchone() is None:
                    raise InvalidRequest([problem(f"no asset type {values['assetTypeId']}", "assetTypeId")])
                c.execute("UPDATE device_models SET asset_type_id = ? WHERE id = ?", (values["assetTypeId"], model_id))
            if "spec" in values:
                c.execute("UPDATE device_models SET spec = ? WHERE id = ?", (json.dumps(values["spec"]), model_id))
            return device_model_view(c, model_id)
        return await self._in_transaction(update)

    async def delete_device_model(self, model_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM der_assets WHERE device_model_id = ?", (model_id,)).fetchone()[0]
            if n:
                raise Conflict(f"{n} DER asset(s) are of this model")
            c.execute("DELETE FROM device_models WHERE id = ?", (model_id,))
        await self._in_transaction(delete)

    # -- aggregators ---------------------------------------------------------------------------------

    async def save_aggregator(self, lfdi: str, values: dict[str, Any], now: int, create: bool) -> dict[str, Any]:
        """Creates (create=True; 409 if it exists) or changes an aggregator; queues its 'aggregator' sync."""
        def save(c: Conn) -> dict[str, Any]:
            exists = c.execute("SELECT 1 FROM aggregators WHERE lfdi = ?", (lfdi,)).fetchone() is not None
            if create and exists:
                raise Conflict([problem("an aggregator with this LFDI exists already", "lFDI")])
            customers = []
            errors: list[Problem] = []
            for i, ref in enumerate(values.get("customers") or []):
                found = _customer_by_ref(c, ref)
                if found is None:
                    errors.append(problem(f"no customer {ref}", f"customers[{i}]"))
                else:
                    customers.append(found[0])
            _checked(errors)
            if create:
                c.execute("INSERT INTO aggregators (lfdi, name, created, status) VALUES (?, ?, ?, ?)",
                          (lfdi, values["name"], now, values.get("status", "active")))
            else:
                for key in ("name", "status"):
                    if key in values:
                        c.execute(f"UPDATE aggregators SET {key} = ? WHERE lfdi = ?", (values[key], lfdi))
            if "customers" in values:
                c.execute("DELETE FROM aggregator_customers WHERE aggregator_lfdi = ?", (lfdi,))
                c.executemany("INSERT OR IGNORE INTO aggregator_customers (aggregator_lfdi, customer_id) VALUES (?, ?)",
                              [(lfdi, i) for i in customers])
            _sync_aggregator(c, lfdi, now)
            return aggregator_view(c, lfdi)
        return await self._in_transaction(save)

    async def set_aggregator_customer(self, lfdi: str, customer_id: int, authorised: bool, now: int) -> bool:
        """Whether anything changed (and so was synced)."""
        def apply(c: Conn) -> bool:
            if authorised:
                n = c.execute("INSERT OR IGNORE INTO aggregator_customers (aggregator_lfdi, customer_id) VALUES (?, ?)",
                              (lfdi, customer_id)).rowcount
            else:
                n = c.execute("DELETE FROM aggregator_customers WHERE aggregator_lfdi = ? AND customer_id = ?",
                              (lfdi, customer_id)).rowcount
            if n:
                _sync_aggregator(c, lfdi, now)
            return bool(n)
        return await self._in_transaction(apply)

    # -- program rules ---------------------------------------------------------------------------------

    async def set_program_rules(self, program_id: int, values: dict[str, Any], now: int) -> dict[str, Any]:
        def put(c: Conn) -> dict[str, Any]:
            errors: list[Problem] = []
            tariff = values["eligibility"].get("tariffId")
            if tariff is not None and c.execute("SELECT 1 FROM tariffs WHERE id = ?", (tariff,)).fetchone() is None:
                errors.append(problem(f"no tariff {tariff}", "eligibility.tariffId"))
            _checked(errors)
            if values.get("code") is not None:
                taken = c.execute("SELECT program_id FROM program_rules WHERE code = ? AND program_id != ?",
                                  (values["code"], program_id)).fetchone()
                if taken:
                    raise Conflict([problem(f"program {taken[0]} has this code", "code")])
            c.execute("INSERT INTO program_rules (program_id, code, eligibility, constraints) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (program_id) DO UPDATE SET code = excluded.code, "
                      "eligibility = excluded.eligibility, constraints = excluded.constraints",
                      (program_id, values.get("code"), json.dumps(values["eligibility"]),
                       json.dumps(values["constraints"])))
            _sync_rules(c, program_id, now)
            return program_rules_view(c, program_id)
        return await self._in_transaction(put)

    async def clear_program_rules(self, program_id: int, now: int) -> None:
        """Drops the program's eligibility and constraints (its enrollment group stays)."""
        def clear(c: Conn) -> None:
            c.execute("UPDATE program_rules SET code = NULL, eligibility = '{}', constraints = '{}' "
                      "WHERE program_id = ?", (program_id,))
            _sync_rules(c, program_id, now, deleted=True)
        await self._in_transaction(clear)

    async def event_constraints(self, program_id: int) -> tuple[dict[str, Any], list[int]]:
        """The program's event constraints, and the starts of its events that are not cancelled."""
        _, constraints = _rules_of(self._reader, program_id)
        starts = [r[0] for r in self._rows("SELECT start FROM controls WHERE program_id = ? AND cancelled_at IS NULL",
                                           (program_id,))]
        return constraints, starts

    # -- inbound operations ---------------------------------------------------------------------------------

    async def register_der_device(self, req: RegisterIn, caller: Caller, now: int, idem: Idempotency | None,
                                  issuer: Issuer, prior: list[Problem] = ()) -> tuple[int, Any]:
        """registerDERDevice: the DER asset, its EndDevice (disabled) with DERCapability and DERSettings, an
        enrollment and its enroll task (Pending), all at once, or InvalidRequest or Conflict with every problem (prior ones
        first: those found in the body)."""
        def work(c: Conn) -> tuple[int, Any]:
            device = req.device
            customer, sp, errors = _customer_and_point(c, req.customer, req.service_point, caller)
            errors = list(prior) + errors
            model, problems = _catalog_problems(c, device.manufacturer, device.model, "device")
            errors += problems
            errors += _identity_problems(c, device.lfdi, device.sfdi, "device")
            taken = c.execute("SELECT a.id FROM der_assets a WHERE a.serial_number = ? AND a.device_model_id = ? "
                              "AND a.status = 'active'", (device.serial, model[0] if model else -1)).fetchone()
            if taken:
                errors.append(problem(f"this {device.manufacturer} {device.model} is registered already "
                                      f"(DER asset {taken[0]})", "device.serialNumber"))
            interconnection = None
            program = None
            if model is not None:
                name = f"{model[2]} {model[3]}"
                errors += catalog.nameplate_errors(device.nameplate, json.loads(model[4]), name)
                if device.nameplate.get("type") != model[5]:
                    errors.append(problem(f"rule catalog: must be {model[5]} ({catalog.DER_TYPES.get(model[5])}), the "
                                          f"DERType of asset type {model[8]}", "device.nameplate.type"))
                if model[6]:
                    found, interconnection, open_ = _approved_interconnection(c, model[0], device.lfdi, device.serial)
                    if found is None:
                        waiting = "".join(f"; interconnection task {t} is {s}" for t, s in open_)
                        errors.append(problem(f"rule interconnection: asset type {model[8]} requires an approved "
                                              f"interconnection (interconnectDER) for this device first{waiting}",
                                              "device"))
                program_ref = req.program if req.program is not None else model[7]
                if program_ref is None:
                    errors.append(problem(f"required: asset type {model[8]} has no default program", "program"))
                else:
                    program = _program_by_ref(c, program_ref)
                    if program is None:
                        errors.append(problem(f"no program {program_ref}", "program"))
            elif req.program is not None:
                program = _program_by_ref(c, req.program)
                if program is None:
                    errors.append(problem(f"no program {req.program}", "program"))
            if program is not None and customer is not None and sp is not None:
                errors += _eligibility(c, program, customer[0], sp, device.nameplate.get("type"), device.nameplate)
            _checked(errors)
            owner = caller.aggregator or device.lfdi
            edev = _create_end_device(c, device.lfdi, device.sfdi, owner, device.device_category, now, False,
                                      device.nameplate, device.settings, issuer.pin())
            log_changes(c, [paths.edev(edev)])  # it joins its owner's EndDeviceList
            asset_id = c.execute(
                "INSERT INTO der_assets (customer_id, service_point_id, device_model_id, serial_number, end_device_id, "
                "lfdi, nameplate, interconnection, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                (customer[0], sp[0], model[0], device.serial, edev, device.lfdi, json.dumps(device.nameplate),
                 json.dumps(interconnection) if interconnection else None, now)).lastrowid
            enrollment_id = c.execute(
                "INSERT INTO enrollments (der_asset_id, program_id, status, created, updated) "
                "VALUES (?, ?, 'Pending', ?, ?)", (asset_id, program[0], now, now)).lastrowid
            task_id = _new_task(c, "enroll", now, asset_id, enrollment_id,
                                {"programId": program[0], "requestedBy": caller.name})
            return 201, {"derAsset": der_asset_view(c, asset_id),
                         "endDevice": {"id": edev, "href": paths.edev(edev), "lFDI": device.lfdi,
                                       "sFDI": device.sfdi, "owner": owner, "enabled": False},
                         "enrollment": enrollment_view(c, enrollment_id),
                         "serviceTask": service_task_view(c, task_id)}
        return await self._in_transaction(lambda c: _idempotent(c, idem, now, work))

    async def interconnect_der(self, req: InterconnectIn, caller: Caller, now: int,
                               idem: Idempotency | None) -> tuple[int, Any]:
        """interconnectDER: an interconnect task (Pending, awaiting engineering) for a catalogued device."""
        def work(c: Conn) -> tuple[int, Any]:
            customer, sp, errors = _customer_and_point(c, req.customer, req.service_point, caller)
            model, problems = _catalog_problems(c, req.manufacturer, req.model, "device")
            errors += problems
            if model is not None:
                errors += catalog.interconnection_errors(req.attributes, json.loads(model[4]),
                                                         f"{model[2]} {model[3]}")
                _, _, open_ = _approved_interconnection(c, model[0], req.lfdi, req.serial)
                for task_id, state in open_:
                    errors.append(problem(f"interconnection task {task_id} for this device is {state} already",
                                          "device.serialNumber"))
            _checked(errors)
            payload = {"customerId": customer[0], "servicePointId": sp[0], "deviceModelId": model[0],
                       "manufacturer": model[2], "model": model[3], "serialNumber": req.serial, "lFDI": req.lfdi,
                       "interconnection": req.attributes, "requestedBy": caller.name,
                       "aggregator": caller.aggregator}
            task_id = _new_task(c, "interconnect", now, None, None, payload)
            return 201, {"serviceTask": service_task_view(c, task_id)}
        return await self._in_transaction(lambda c: _idempotent(c, idem, now, work))

    async def enroll_der_asset(self, asset_id: int, program_ref: int | str, now: int,
                               idem: Idempotency | None) -> tuple[int, Any]:
        """Enrolls a registered asset in a further program: eligibility now, an enroll task (Pending)."""
        def work(c: Conn) -> tuple[int, Any]:
            asset = der_asset_view(c, asset_id)
            errors: list[Problem] = []
            if asset["status"] != "active":
                raise Conflict(f"DER asset {asset_id} is {asset['status']}")
            program = _program_by_ref(c, program_ref)
            if program is None:
                errors.append(problem(f"no program {program_ref}", "program"))
            else:
                standing = c.execute("SELECT id, status FROM enrollments WHERE der_asset_id = ? AND program_id = ? "
                                     "AND status IN ('Pending', 'Enrolled')", (asset_id, program[0])).fetchone()
                if standing:
                    raise Conflict([problem(f"enrollment {standing[0]} in this program is {standing[1]}",
                                                 "program")])
                sp = _service_point_by_ref(c, asset["servicePointId"])
                errors += _eligibility(c, program, asset["customerId"], sp, asset["nameplate"].get("type"),
                                       asset["nameplate"], fields={"type": "program", "capacity": "program",
                                                                   "location": "program", "tariff": "program"})
            _checked(errors)
            enrollment_id = c.execute(
                "INSERT INTO enrollments (der_asset_id, program_id, status, created, updated) "
                "VALUES (?, ?, 'Pending', ?, ?)", (asset_id, program[0], now, now)).lastrowid
            task_id = _new_task(c, "enroll", now, asset_id, enrollment_id, {"programId": program[0],
                                                                            "requestedBy": "admin"})
            return 201, {"enrollment": enrollment_view(c, enrollment_id), "serviceTask": service_task_view(c, task_id)}
        return await self._in_transaction(lambda c: _idempotent(c, idem, now, work))

    async def request_unenroll(self, enrollment_id: int, now: int, idem: Idempotency | None) -> tuple[int, Any]:
        def work(c: Conn) -> tuple[int, Any]:
            enrollment = enrollment_view(c, enrollment_id)
            if enrollment["status"] != "Enrolled":
                raise Conflict(f"enrollment {enrollment_id} is {enrollment['status']}, not Enrolled")
            _no_open_task(c, "enrollment_id", enrollment_id, "enrollment")
            task_id = _new_task(c, "unenroll", now, enrollment["derAssetId"], enrollment_id, {"requestedBy": "admin"})
            return 201, {"serviceTask": service_task_view(c, task_id)}
        return await self._in_transaction(lambda c: _idempotent(c, idem, now, work))

    async def request_replace(self, asset_id: int, req: ReplaceIn, now: int, idem: Idempotency | None,
                              prior: list[Problem] = ()) -> tuple[int, Any]:
        """A replace task (Pending) for a new device, checked now: its identity is free, and its nameplate
        (or the old one's) lies within its model's specification."""
        def work(c: Conn) -> tuple[int, Any]:
            asset = der_asset_view(c, asset_id)
            if asset["status"] != "active":
                raise Conflict(f"DER asset {asset_id} is {asset['status']}")
            _no_open_task(c, "der_asset_id", asset_id, "DER asset")
            device = req.device
            errors = list(prior) + [problem(e["reason"], e["field"].lstrip("."))
                                    for e in _identity_problems(c, device.lfdi, device.sfdi, "")]
            if device.manufacturer:
                model, problems = _catalog_problems(c, device.manufacturer, device.model, "")
                errors += problems
            else:
                model = _model_by_id(c, asset["deviceModelId"])
            if model is not None:
                nameplate = device.nameplate or asset["nameplate"]
                errors += catalog.nameplate_errors(nameplate, json.loads(model[4]), f"{model[2]} {model[3]}",
                                                   "nameplate")
                if nameplate.get("type") != model[5]:
                    errors.append(problem(f"rule catalog: must be {model[5]}, the DERType of asset type {model[8]}",
                                          "nameplate.type"))
            _checked(errors)
            payload = {"deviceModelId": model[0], "requestedBy": "admin", "device": {
                "lFDI": device.lfdi, "sFDI": device.sfdi, "serialNumber": device.serial,
                "deviceCategory": device.device_category, "nameplate": device.nameplate,
                "settings": device.settings}}
            task_id = _new_task(c, "replace", now, asset_id, None, payload)
            return 201, {"serviceTask": service_task_view(c, task_id)}
        return await self._in_transaction(lambda c: _idempotent(c, idem, now, work))

    # -- service tasks -------------------------------------------------------------------------------------

    async def claim_service_task(self, task_id: int, now: int) -> dict[str, Any]:
        """Pending (or abandoned Processing) -> Processing; Conflict if the task may not be processed."""
        def claim(c: Conn) -> dict[str, Any]:
            task = service_task_view(c, task_id)
            reason = tasks.why_not_process(task["kind"], task["state"], task["approval"], task["updated"], now)
            if reason:
                raise Conflict(f"service task {task_id} cannot be processed: {reason}")
            c.execute("UPDATE service_tasks SET state = 'Processing', updated = ? WHERE id = ?", (now, task_id))
            return service_task_view(c, task_id)
        return await self._in_transaction(claim)

    async def finish_service_task(self, task_id: int, now: int, issuer: Issuer) -> dict[str, Any]:
        """Does a Processing task's work: Completed, or Error with the reasons (and nothing of the work done)."""
        def finish(c: Conn) -> dict[str, Any]:
            task = service_task_view(c, task_id)
            if task["state"] != "Processing":
                raise Conflict(f"service task {task_id} is {task['state']}, not Processing")
            changed: list = []
            c.execute("SAVEPOINT task")
            try:
                _HANDLERS[task["kind"]](c, task, now, issuer, changed)
            except TaskFailed as failed:
                c.execute("ROLLBACK TO task")
                c.execute("RELEASE task")
                c.execute("UPDATE service_tasks SET state = 'Error', reasons = ?, updated = ? WHERE id = ?",
                          (json.dumps(failed.reasons), now, task_id))
                if task["kind"] == "enroll":
                    c.execute("UPDATE enrollments SET status = 'Error', updated = ? WHERE id = ?",
                              (now, task["enrollmentId"]))
                return service_task_view(c, task_id)
            c.execute("RELEASE task")
            c.execute("UPDATE service_tasks SET state = 'Completed', reasons = '[]', updated = ? WHERE id = ?",
                      (now, task_id))
            log_changes(c, list(dict.fromkeys(changed)))
            return service_task_view(c, task_id)
        return await self._in_transaction(finish)

    async def decide_interconnection(self, task_id: int, approved: bool, reason: str | None, now: int
                                     ) -> dict[str, Any]:
        """Engineering's decision: approved (the task may then complete) or rejected (Error, with the reason)."""
        def decide(c: Conn) -> dict[str, Any]:
            task = service_task_view(c, task_id)
            why = tasks.why_not_decide(task["kind"], task["state"], task["approval"])
            if why:
                raise Conflict(f"service task {task_id}: {why}")
            approval = {"decision": "approved" if approved else "rejected", "reason": reason, "at": now}
            c.execute("UPDATE service_tasks SET approval = ?, updated = ? WHERE id = ?",
                      (json.dumps(approval), now, task_id))
            if not approved:
                c.execute("UPDATE service_tasks SET state = 'Error', reasons = ? WHERE id = ?",
                          (json.dumps([problem(f"rejected by engineering: {reason}", "approval")]), task_id))
            return service_task_view(c, task_id)
        return await self._in_transaction(decide)

    async def cancel_service_task(self, task_id: int, now: int) -> dict[str, Any]:
        def cancel(c: Conn) -> dict[str, Any]:
            task = service_task_view(c, task_id)
            why = tasks.why_not_cancel(task["state"])
            if why:
                raise Conflict(f"service task {task_id}: {why}")
            c.execute("UPDATE service_tasks SET state = 'Cancelled', updated = ? WHERE id = ?", (now, task_id))
            if task["kind"] == "enroll":
                c.execute("UPDATE enrollments SET status = 'Cancelled', updated = ? WHERE id = ?",
                          (now, task["enrollmentId"]))
            return service_task_view(c, task_id)
        return await self._in_transaction(cancel)


def _no_open_task(c: Conn, column: str, value: int, what: str) -> None:
    r = c.execute(f"SELECT id, kind, state FROM service_tasks WHERE {column} = ? "
                  "AND state IN ('Pending', 'Processing') ORDER BY id LIMIT 1", (value,)).fetchone()
    if r:
        raise Conflict(f"the {what} has an open {r[1]} service task ({r[0]}, {r[2]})")


def _program_exists(c: Conn, program_id: int | None, errors: list[Problem]) -> None:
    if program_id is not None and c.execute("SELECT 1 FROM programs WHERE id = ?", (program_id,)).fetchone() is None:
        errors.append(problem(f"no program {program_id}", "defaultProgramId"))


def _insert_service_point(c: Conn, account_id: int, sp: dict[str, Any]) -> int:
    return c.execute("INSERT INTO service_points (account_id, external_id, address, substation, feeder, transformer) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (account_id, sp["externalId"], sp.get("address"),
                                                   sp.get("substation"), sp.get("feeder"),
                                                   sp.get("transformer"))).lastrowid


def _insert_account(c: Conn, customer_id: int, account: dict[str, Any]) -> int:
    account_id = c.execute("INSERT INTO accounts (customer_id, external_id, status) VALUES (?, ?, ?)",
                           (customer_id, account["externalId"], account.get("status", "active"))).lastrowid
    for sp in account["servicePoints"]:
        _insert_service_point(c, account_id, sp)
    return account_id
