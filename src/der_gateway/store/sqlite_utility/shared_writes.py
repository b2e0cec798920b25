"""Rows more than one operation writes: idempotent answers, service tasks, customers' accounts and service points, the
sync messages, EndDevices and group memberships."""

from __future__ import annotations

import json
from typing import Any, Callable

from ...domain.identifiers import Pen, new_mrid
from ...domain.utility import Conflict, Idempotency, problem
from ...sep import paths
from ..sync_queue import enqueue_sync
from .views import (Conn, aggregator_view, customer_view, der_asset_view, enrollment_view, load_json,
                    program_rules_view, service_point_view)
from .lookups import program_by_ref, program_name

def idempotent(c: Conn, idem: Idempotency | None, now: int, work: Callable[[Conn], tuple[int, Any]]
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


def new_task(c: Conn, kind: str, now: int, asset_id: int | None, enrollment_id: int | None,
              payload: dict[str, Any]) -> int:
    return c.execute("INSERT INTO service_tasks (kind, state, der_asset_id, enrollment_id, payload, reasons, "
                     "created, updated) VALUES (?, 'Pending', ?, ?, ?, '[]', ?, ?)",
                     (kind, asset_id, enrollment_id, json.dumps(payload), now, now)).lastrowid


def insert_service_point(c: Conn, account_id: int, sp: dict[str, Any]) -> int:
    return c.execute("INSERT INTO service_points (account_id, external_id, address, substation, feeder, transformer) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (account_id, sp["externalId"], sp.get("address"),
                                                   sp.get("substation"), sp.get("feeder"),
                                                   sp.get("transformer"))).lastrowid


def insert_account(c: Conn, customer_id: int, account: dict[str, Any]) -> int:
    account_id = c.execute("INSERT INTO accounts (customer_id, external_id, status) VALUES (?, ?, ?)",
                           (customer_id, account["externalId"], account.get("status", "active"))).lastrowid
    for sp in account["servicePoints"]:
        insert_service_point(c, account_id, sp)
    return account_id


def _subscription_body(c: Conn, enrollment_id: int) -> dict[str, Any]:
    e = enrollment_view(c, enrollment_id)
    a = der_asset_view(c, e["derAssetId"])
    program = program_by_ref(c, e["programId"])
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
        "nameplate": {"DERCapability": a["nameplate"], "DERSettings": load_json(derg[0]) if derg else None},
    }


def queue_sync(c: Conn, kind: str, enrollment_id: int, now: int, extra: dict[str, Any] | None = None) -> None:
    body = {**_subscription_body(c, enrollment_id), **(extra or {})}
    if enqueue_sync(c, kind, body, now, enrollment_id):
        c.execute("UPDATE enrollments SET sync_status = 'Pending', sync_reason = NULL WHERE id = ?",
                  (enrollment_id,))


def sync_aggregator(c: Conn, lfdi: str, now: int) -> None:
    view = aggregator_view(c, lfdi)
    view["customers"] = [customer_view(c, i, detail=False) for i in view["customers"]]
    enqueue_sync(c, "aggregator", {"aggregator": view}, now)


def sync_rules(c: Conn, program_id: int, now: int, deleted: bool = False) -> None:
    program = program_by_ref(c, program_id)
    body = {"program": {"id": program[0], "mRID": program[1], "description": program[2], "primacy": program[3],
                        "href": paths.program(program[0])},
            "rules": None if deleted else program_rules_view(c, program_id)}
    enqueue_sync(c, "program-rules", body, now)


def create_end_device(c: Conn, lfdi: str, sfdi: int, owner: str, category: str | None, now: int, enabled: bool,
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


def program_group(c: Conn, program: tuple, pen: Pen, changed: list) -> int:
    """The program's enrollment group, made on first use, with the program assigned to it."""
    r = c.execute("SELECT group_id FROM program_rules WHERE program_id = ?", (program[0],)).fetchone()
    group_id = r[0] if r else None
    if group_id is None or c.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
        group_id = c.execute("INSERT INTO groups (mrid, description) VALUES (?, ?)",
                             (new_mrid(pen), f"enrolled in {program_name(program)}"[:32])).lastrowid
        if r is None:
            c.execute("INSERT INTO program_rules (program_id, group_id) VALUES (?, ?)", (program[0], group_id))
        else:
            c.execute("UPDATE program_rules SET group_id = ? WHERE program_id = ?", (group_id, program[0]))
    if c.execute("INSERT OR IGNORE INTO group_programs (group_id, program_id) VALUES (?, ?)",
                 (group_id, program[0])).rowcount:
        c.execute("UPDATE groups SET version = version + 1 WHERE id = ?", (group_id,))
        changed.append(paths.program_list(group_id))
    return group_id


def join_groups(c: Conn, edev: int, groups: list[int]) -> None:
    c.executemany("INSERT OR IGNORE INTO group_members (group_id, end_device_id) VALUES (?, ?)",
                  [(g, edev) for g in groups])


def leave_groups(c: Conn, edev: int, groups: list[int]) -> None:
    c.executemany("DELETE FROM group_members WHERE group_id = ? AND end_device_id = ?", [(g, edev) for g in groups])
