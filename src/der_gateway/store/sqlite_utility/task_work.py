"""The work of each kind of service task, done in the transaction that completes it; TaskFailed undoes it."""

from __future__ import annotations

import json
from typing import Callable

from ...domain.identifiers import Issuer
from ...domain.utility import Problem, problem
from ...sep import paths
from ..utility_records import DerAssetRecord, EnrollmentRecord, ServiceTaskRecord
from . import reads
from ..sqlite_billing import account_of_asset, queue_billing_in
from ..sqlite_plumbing import Conn, inserted_id, present
from .sync_bodies import end_device_href
from .lookups import (aggregator_problems, customer_by_ref, groups_of_location, identity_problems, model_by_id,
                      program_by_ref, program_eligibility, program_name, service_point_by_ref)
from .membership import admissible, join_groups, leave_all_groups, leave_groups, withdraw_from_program
from .shared_writes import create_end_device, new_task, program_group, queue_sync

class TaskFailed(Exception):
    """A service task that cannot complete: its reasons."""

    def __init__(self, reasons: list[Problem]) -> None:
        super().__init__("; ".join(r["reason"] for r in reasons))
        self.reasons = reasons


def _enrollment(c: Conn, enrollment_id: int | None) -> EnrollmentRecord:
    return present(reads.enrollment(c, enrollment_id) if enrollment_id is not None else None,
                   f"enrollment {enrollment_id}")


def _asset(c: Conn, asset_id: int | None) -> DerAssetRecord:
    return present(reads.der_asset(c, asset_id) if asset_id is not None else None, f"DER asset {asset_id}")


def _program(c: Conn, program_id: int) -> tuple:
    return present(program_by_ref(c, program_id), f"program {program_id}")


def _service_point(c: Conn, sp_id: int) -> tuple:
    return present(service_point_by_ref(c, sp_id), f"service point {sp_id}")


def _task_enroll(c: Conn, task: ServiceTaskRecord, now: int, issuer: Issuer, changed: list[str]) -> None:
    enrollment = _enrollment(c, task.enrollment_id)
    asset = _asset(c, enrollment.der_asset_id)
    if enrollment.status != "Pending":
        raise TaskFailed([problem(f"enrollment {enrollment.id} is {enrollment.status}", "enrollment")])
    if asset.status != "active" or asset.end_device_id is None:
        raise TaskFailed([problem(f"DER asset {asset.id} is {asset.status}", "derAsset")])
    edev_id = asset.end_device_id
    program = _program(c, enrollment.program_id)
    sp = _service_point(c, asset.service_point_id)
    customer = present(customer_by_ref(c, asset.customer_id), f"customer {asset.customer_id}")
    reasons = program_eligibility(c, program, customer[0], sp, asset.nameplate.get("type"), asset.nameplate,
                                  fields={"type": "program", "capacity": "program", "location": "program",
                                          "tariff": "program"})
    if customer[3] != "active":
        reasons.append(problem(f"customer {customer[1]} is {customer[3]}", "customer"))
    edev = c.execute("SELECT lfdi, owner_lfdi FROM end_devices WHERE id = ?", (edev_id,)).fetchone()
    if edev[1] != edev[0] and c.execute("SELECT 1 FROM aggregators WHERE lfdi = ?", (edev[1],)).fetchone():
        reasons += aggregator_problems(c, edev[1], customer[0])
    if reasons:
        raise TaskFailed(reasons)
    groups = [program_group(c, program, issuer.pen, changed)] + groups_of_location(c, sp)
    c.execute("UPDATE end_devices SET enabled = 1, changed_time = ? WHERE id = ?", (now, edev_id))
    c.execute("UPDATE enrollments SET status = 'Enrolled', updated = ? WHERE id = ?", (now, enrollment.id))
    join_groups(c, edev_id, admissible(c, edev_id, groups), now, "enrollment",
                f"enrolled in program {program_name(program)} (enrollment {enrollment.id})")
    changed += [paths.edev(edev_id), paths.fsa_list(edev_id)]
    queue_sync(c, "enrollment", enrollment.id, now)


def _still_enrolled(c: Conn, asset_id: int, other_than: int) -> list[int]:
    """The programs of the asset's other enrollments that stand."""
    return [r[0] for r in c.execute("SELECT program_id FROM enrollments WHERE der_asset_id = ? AND id != ? "
                                    "AND status = 'Enrolled'", (asset_id, other_than))]


def _task_unenroll(c: Conn, task: ServiceTaskRecord, now: int, issuer: Issuer, changed: list[str]) -> None:
    _unenroll(c, task, now, changed)


def actor_of(task: ServiceTaskRecord) -> str:
    """Who unenrolls: a move-out, or the unenrollment asked for."""
    return "move-out" if task.payload.get("requestedBy") == "move-out" else "unenrollment"


def _unenroll(c: Conn, task: ServiceTaskRecord, now: int, changed: list[str]) -> None:
    enrollment = _enrollment(c, task.enrollment_id)
    if enrollment.status != "Enrolled":
        raise TaskFailed([problem(f"enrollment {enrollment.id} is {enrollment.status}", "enrollment")])
    asset = _asset(c, enrollment.der_asset_id)
    edev = asset.end_device_id
    if edev is not None:
        others = _still_enrolled(c, asset.id, enrollment.id)
        why = (f"unenrolled from program {program_name(_program(c, enrollment.program_id))} "
               f"(enrollment {enrollment.id})" + (f": {task.payload['reason']}" if task.payload.get("reason") else ""))
        actor = actor_of(task)
        if enrollment.program_id not in others:  # every group through which the program calls it
            withdraw_from_program(c, edev, enrollment.program_id, now, actor, why)
        if not others:
            leave_groups(c, edev, groups_of_location(c, _service_point(c, asset.service_point_id)), now, actor, why)
            c.execute("UPDATE end_devices SET enabled = 0, changed_time = ? WHERE id = ?", (now, edev))
        changed += [paths.edev(edev), paths.fsa_list(edev)]
    c.execute("UPDATE enrollments SET status = 'Unenrolled', updated = ? WHERE id = ?", (now, enrollment.id))
    reason = task.payload.get("reason")
    queue_sync(c, "unenrollment", enrollment.id, now, {"reason": reason} if reason else None)
    account = account_of_asset(c, asset.id)
    queue_billing_in(c, [account] if account is not None else [], actor_of(task), now)


def _task_interconnect(c: Conn, task: ServiceTaskRecord, now: int, issuer: Issuer, changed: list[str]) -> None:
    if (task.approval or {}).get("decision") != "approved":
        raise TaskFailed([problem("the interconnection was not approved by engineering", "approval")])


def _task_replace(c: Conn, task: ServiceTaskRecord, now: int, issuer: Issuer, changed: list[str]) -> None:
    old = _asset(c, task.der_asset_id)
    new = task.payload["device"]
    if old.status != "active":
        raise TaskFailed([problem(f"DER asset {old.id} is {old.status}", "derAsset")])
    reasons = identity_problems(c, new["lFDI"], new["sFDI"], "device")
    model = model_by_id(c, task.payload["deviceModelId"])
    if model is None:
        reasons.append(problem("the device model is no longer in the catalog", "device.model"))
    if reasons or model is None:
        raise TaskFailed(reasons)
    moving = [r[0] for r in c.execute("SELECT id FROM enrollments WHERE der_asset_id = ? AND status = 'Enrolled' "
                                      "ORDER BY id", (old.id,))]
    old_edev = c.execute("SELECT id, lfdi, owner_lfdi, device_category FROM end_devices WHERE id = ?",
                         (old.end_device_id,)).fetchone() if old.end_device_id else None
    owner = old_edev[2] if old_edev and old_edev[2] != old_edev[1] else new["lFDI"]
    settings = new.get("settings")
    if settings is None and old_edev is not None:
        kept = c.execute("SELECT body FROM der_documents WHERE end_device_id = ? AND n = 1 AND kind = 'derg'",
                         (old_edev[0],)).fetchone()
        settings = reads.load_json(kept[0]) if kept else None
    nameplate = new.get("nameplate") or old.nameplate
    category = new.get("deviceCategory") or (old_edev[3] if old_edev else None)
    edev = create_end_device(c, new["lFDI"], new["sFDI"], owner, category, now, bool(moving), nameplate, settings,
                              issuer.pin())
    asset_id = inserted_id(c.execute(
        "INSERT INTO der_assets (customer_id, service_point_id, device_model_id, serial_number, end_device_id, lfdi, "
        "nameplate, interconnection, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
        (old.customer_id, old.service_point_id, model[0], new["serialNumber"], edev, new["lFDI"],
         json.dumps(nameplate), json.dumps(old.interconnection) if old.interconnection else None, now)))
    c.execute("UPDATE der_assets SET status = 'retired', replaced_by = ? WHERE id = ?", (asset_id, old.id))
    account = account_of_asset(c, old.id)
    queue_billing_in(c, [account] if account is not None else [], "replacement", now)
    groups: list[int] = []
    for enrollment_id in moving:
        program = _program(c, _enrollment(c, enrollment_id).program_id)
        groups.append(program_group(c, program, issuer.pen, changed))
        c.execute("UPDATE enrollments SET der_asset_id = ?, updated = ? WHERE id = ?", (asset_id, now, enrollment_id))
    if moving:
        groups += groups_of_location(c, _service_point(c, old.service_point_id))
        join_groups(c, edev, admissible(c, edev, groups), now, "enrollment",
                    f"replaces EndDevice {old_edev[0] if old_edev else None} (DER asset {old.id}) in its enrollments")
    if old_edev is not None:
        leave_all_groups(c, old_edev[0], now, "retirement", f"DER asset {old.id} retired, replaced by DER asset "
                         f"{asset_id} (EndDevice {edev})")
        c.execute("UPDATE end_devices SET enabled = 0, changed_time = ? WHERE id = ?", (now, old_edev[0]))
        changed += [paths.edev(old_edev[0]), paths.fsa_list(old_edev[0])]
    changed += [paths.edev(edev), paths.fsa_list(edev)]  # the new EndDevice joins its owner's EndDeviceList
    payload = {**task.payload, "newDerAssetId": asset_id, "newEndDeviceId": edev, "enrollments": moving}
    c.execute("UPDATE service_tasks SET payload = ? WHERE id = ?", (json.dumps(payload), task.id))
    replaced = {"derAssetId": old.id, "lFDI": old.lfdi, "serialNumber": old.serial_number,
                "endDevice": end_device_href(old.end_device_id)}
    for enrollment_id in moving:
        queue_sync(c, "replacement", enrollment_id, now, {"replaced": replaced})


HANDLERS: dict[str, Callable[[Conn, ServiceTaskRecord, int, Issuer, list[str]], None]] = {"enroll": _task_enroll, "unenroll": _task_unenroll, "interconnect": _task_interconnect,
             "replace": _task_replace}


def unenroll_now(c: Conn, enrollment_id: int, now: int, requested_by: str, reason: str, changed: list[str]) -> int:
    """Unenrolls at once, as a completed unenroll task would (the same membership changes and sync message), for
    a business event such as a move-out; the task is recorded Completed.  Its id."""
    task_id = new_task(c, "unenroll", now, _enrollment(c, enrollment_id).der_asset_id, enrollment_id,
                       {"requestedBy": requested_by, "reason": reason})
    task = present(reads.service_task(c, task_id), f"service task {task_id}")
    _unenroll(c, task, now, changed)
    c.execute("UPDATE service_tasks SET state = 'Completed', updated = ? WHERE id = ?", (now, task_id))
    return task_id
