"""The work of each kind of service task, done in the transaction that completes it; TaskFailed undoes it."""

from __future__ import annotations

import json
from typing import Any

from ...domain.identifiers import Issuer
from ...domain.utility import Problem, problem
from ...sep import paths
from .views import Conn, der_asset_view, enrollment_view, load_json
from .lookups import (aggregator_problems, customer_by_ref, groups_of_location, identity_problems, model_by_id,
                      program_by_ref, program_eligibility, service_point_by_ref)
from .shared_writes import create_end_device, join_groups, leave_groups, program_group, queue_sync

class TaskFailed(Exception):
    """A service task that cannot complete: its reasons."""

    def __init__(self, reasons: list[Problem]) -> None:
        super().__init__("; ".join(r["reason"] for r in reasons))
        self.reasons = reasons


def _task_enroll(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    enrollment = enrollment_view(c, task["enrollmentId"])
    asset = der_asset_view(c, enrollment["derAssetId"])
    if enrollment["status"] != "Pending":
        raise TaskFailed([problem(f"enrollment {enrollment['id']} is {enrollment['status']}", "enrollment")])
    if asset["status"] != "active" or asset["endDeviceId"] is None:
        raise TaskFailed([problem(f"DER asset {asset['id']} is {asset['status']}", "derAsset")])
    program = program_by_ref(c, enrollment["programId"])
    sp = service_point_by_ref(c, asset["servicePointId"])
    customer = customer_by_ref(c, asset["customerId"])
    reasons = program_eligibility(c, program, customer[0], sp, asset["nameplate"].get("type"), asset["nameplate"],
                           fields={"type": "program", "capacity": "program", "location": "program",
                                   "tariff": "program"})
    if customer[3] != "active":
        reasons.append(problem(f"customer {customer[1]} is {customer[3]}", "customer"))
    edev = c.execute("SELECT lfdi, owner_lfdi FROM end_devices WHERE id = ?", (asset["endDeviceId"],)).fetchone()
    if edev[1] != edev[0] and c.execute("SELECT 1 FROM aggregators WHERE lfdi = ?", (edev[1],)).fetchone():
        reasons += aggregator_problems(c, edev[1], customer[0])
    if reasons:
        raise TaskFailed(reasons)
    groups = [program_group(c, program, issuer.pen, changed)] + groups_of_location(c, sp)
    c.execute("UPDATE end_devices SET enabled = 1, changed_time = ? WHERE id = ?", (now, asset["endDeviceId"]))
    join_groups(c, asset["endDeviceId"], groups)
    c.execute("UPDATE enrollments SET status = 'Enrolled', updated = ? WHERE id = ?", (now, enrollment["id"]))
    changed += [paths.edev(asset["endDeviceId"]), paths.fsa_list(asset["endDeviceId"])]
    queue_sync(c, "enrollment", enrollment["id"], now)


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
            leaving += groups_of_location(c, service_point_by_ref(c, asset["servicePointId"]))
            c.execute("UPDATE end_devices SET enabled = 0, changed_time = ? WHERE id = ?", (now, edev))
        leave_groups(c, edev, leaving)
        changed += [paths.edev(edev), paths.fsa_list(edev)]
    c.execute("UPDATE enrollments SET status = 'Unenrolled', updated = ? WHERE id = ?", (now, enrollment["id"]))
    queue_sync(c, "unenrollment", enrollment["id"], now)


def _task_interconnect(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    if (task["approval"] or {}).get("decision") != "approved":
        raise TaskFailed([problem("the interconnection was not approved by engineering", "approval")])


def _task_replace(c: Conn, task: dict[str, Any], now: int, issuer: Issuer, changed: list) -> None:
    old = der_asset_view(c, task["derAssetId"])
    new = task["payload"]["device"]
    if old["status"] != "active":
        raise TaskFailed([problem(f"DER asset {old['id']} is {old['status']}", "derAsset")])
    reasons = identity_problems(c, new["lFDI"], new["sFDI"], "device")
    model = model_by_id(c, task["payload"]["deviceModelId"])
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
        settings = load_json(kept[0]) if kept else None
    nameplate = new.get("nameplate") or old["nameplate"]
    category = new.get("deviceCategory") or (old_edev[3] if old_edev else None)
    edev = create_end_device(c, new["lFDI"], new["sFDI"], owner, category, now, bool(moving), nameplate, settings,
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
        program = program_by_ref(c, enrollment_view(c, enrollment_id)["programId"])
        groups.append(program_group(c, program, issuer.pen, changed))
        c.execute("UPDATE enrollments SET der_asset_id = ?, updated = ? WHERE id = ?", (asset_id, now, enrollment_id))
    if moving:
        groups += groups_of_location(c, service_point_by_ref(c, old["servicePointId"]))
        join_groups(c, edev, groups)
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
        queue_sync(c, "replacement", enrollment_id, now, {"replaced": replaced})


HANDLERS = {"enroll": _task_enroll, "unenroll": _task_unenroll, "interconnect": _task_interconnect,
             "replace": _task_replace}
