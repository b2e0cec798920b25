"""DER assets and enrollments: the inbound operations (registerDERDevice, interconnectDER, enrollment, unenrollment,
replacement) and their idempotent answers."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ...domain.identifiers import Issuer
from ...domain.utility import Caller, Conflict, Idempotency, Problem, problem
from ...domain.utility import catalog
from ...domain.utility.requests import InterconnectIn, RegisterIn, ReplaceIn
from ...sep import paths
from ..sqlite_control_plane import log_changes
from ..utility_records import Created, DerAssetRecord, EnrollmentRecord, Keep, RegisteredEndDevice, Replayed
from . import reads
from .lookups import (approved_interconnection, catalog_problems, customer_and_point, identity_problems, model_by_id,
                      no_open_task, program_by_ref, program_eligibility, refuse_if_any, service_point_by_ref)
from ..sqlite_plumbing import Conn, SQLitePlumbing, inserted_id, present
from .shared_writes import create_end_device, idempotent, kept_answer, new_task


def _asset(c: Conn, asset_id: int) -> DerAssetRecord:
    return present(reads.der_asset(c, asset_id), f"DER asset {asset_id}")


def _enrollment(c: Conn, enrollment_id: int) -> EnrollmentRecord:
    return present(reads.enrollment(c, enrollment_id), f"enrollment {enrollment_id}")


def _created(c: Conn, task_id: int, der_asset: DerAssetRecord | None = None,
             end_device: RegisteredEndDevice | None = None, enrollment: EnrollmentRecord | None = None) -> Created:
    task = present(reads.service_task(c, task_id), f"service task {task_id}")
    return Created(task, der_asset, end_device, enrollment)


def _approval_for(c: Conn, model_id: int, lfdi: str, serial: str, customer_id: int, sp_id: int
                  ) -> tuple[int, Any] | None:
    """The device's approved, completed interconnection for this customer and service point, if any: an approval
    is bound to where it was studied."""
    for task_id, payload, approval in c.execute(
            "SELECT id, payload, approval FROM service_tasks WHERE kind = 'interconnect' AND state = 'Completed' "
            "ORDER BY id DESC"):
        data = json.loads(payload)
        if data.get("deviceModelId") != model_id or not (data.get("serialNumber") == serial
                                                         or data.get("lFDI") == lfdi):
            continue
        if (json.loads(approval) if approval else {}).get("decision") != "approved":
            continue
        if data.get("customerId") == customer_id and data.get("servicePointId") == sp_id:
            return task_id, data.get("interconnection")
    return None


def _elsewhere(c: Conn, task_id: int, customer: str, service_point: str) -> Problem:
    data = json.loads(c.execute("SELECT payload FROM service_tasks WHERE id = ?", (task_id,)).fetchone()[0])
    where = c.execute("SELECT cu.external_id, sp.external_id FROM service_points sp JOIN accounts ac ON "
                      "ac.id = sp.account_id JOIN customers cu ON cu.id = ac.customer_id WHERE sp.id = ?",
                      (data.get("servicePointId"),)).fetchone()
    approved_at = f"customer {where[0]}, service point {where[1]}" if where else "another service point"
    return problem(f"rule interconnection: the approved interconnection of this device (task {task_id}) is for "
                   f"{approved_at}, not customer {customer}, service point {service_point}; an approval is "
                   "bound to its customer and service point: interconnect the device there first", "device")


class EnrollmentStore(SQLitePlumbing):
    async def der_assets(self, status: str | None = None) -> list[DerAssetRecord]:
        where, params = ("WHERE a.status = ?", (status,)) if status else ("", ())
        def read(c: Conn) -> list[DerAssetRecord]:
            return [reads.der_asset_of_row(c, r) for r in c.execute(
                f"SELECT {reads.ASSET_COLUMNS} FROM {reads.ASSET_FROM} {where} ORDER BY a.id", params).fetchall()]
        return await self._read(read)

    async def der_asset(self, asset_id: int) -> DerAssetRecord | None:
        return await self._lookup(reads.der_asset, asset_id)

    async def enrollments(self, der_asset_id: int | None = None, program_id: int | None = None,
                          status: str | None = None) -> list[EnrollmentRecord]:
        clauses: list[str] = []
        params: list[int | str] = []
        for column, value in (("der_asset_id", der_asset_id), ("program_id", program_id), ("status", status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [reads.enrollment_of_row(r) for r in await self._rows(
            f"SELECT {reads.ENROLLMENT_COLUMNS} FROM enrollments {where} ORDER BY id", tuple(params))]

    async def enrollment(self, enrollment_id: int) -> EnrollmentRecord | None:
        return await self._lookup(reads.enrollment, enrollment_id)

    async def idempotent_answer(self, idem: Idempotency) -> Replayed | None:
        """The answer kept under the key, if any; Conflict if it was given for another body."""
        return await self._lookup(kept_answer, idem)

    async def register_der_device(self, req: RegisterIn, caller: Caller, now: int, idem: Idempotency | None,
                                  issuer: Issuer, prior: Sequence[Problem] = (),
                                  keep: Keep | None = None) -> Created | Replayed:
        """registerDERDevice: the DER asset, its EndDevice (disabled) with DERCapability and DERSettings, an
        enrollment and its enroll task (Pending), all at once, or InvalidRequest or Conflict with every problem
        (prior ones first: those found in the body)."""
        def work(c: Conn) -> Created:
            device = req.device
            nameplate = device.nameplate or {}  # required by registerDERDevice
            customer, sp, errors = customer_and_point(c, req.customer, req.service_point, caller)
            errors = list(prior) + errors
            model, problems = catalog_problems(c, device.manufacturer, device.model, "device")
            errors += problems
            errors += identity_problems(c, device.lfdi, device.sfdi, "device")
            taken = c.execute("SELECT a.id FROM der_assets a WHERE a.serial_number = ? AND a.device_model_id = ? "
                              "AND a.status = 'active'", (device.serial, model[0] if model else -1)).fetchone()
            if taken:
                errors.append(problem(f"this {device.manufacturer} {device.model} is registered already "
                                      f"(DER asset {taken[0]})", "device.serialNumber"))
            interconnection = None
            program = None
            binding: list[Problem] = []
            if model is not None:
                name = f"{model[2]} {model[3]}"
                errors += catalog.nameplate_errors(nameplate, json.loads(model[4]), name)
                if nameplate.get("type") != model[5]:
                    errors.append(problem(f"rule catalog: must be {model[5]} ({catalog.DER_TYPES.get(model[5])}), the "
                                          f"DERType of asset type {model[8]}", "device.nameplate.type"))
                if model[6]:
                    found, interconnection, open_ = approved_interconnection(c, model[0], device.lfdi, device.serial)
                    if found is not None and customer is not None and sp is not None:
                        here = _approval_for(c, model[0], device.lfdi, device.serial, customer[0], sp[0])
                        if here is None:
                            binding.append(_elsewhere(c, found, customer[1], sp[2]))
                        else:
                            found, interconnection = here
                    if found is None:
                        waiting = "".join(f"; interconnection task {t} is {s}" for t, s in open_)
                        errors.append(problem(f"rule interconnection: asset type {model[8]} requires an approved "
                                              f"interconnection (interconnectDER) for this device first{waiting}",
                                              "device"))
                program_ref = req.program if req.program is not None else model[7]
                if program_ref is None:
                    errors.append(problem(f"required: asset type {model[8]} has no default program", "program"))
                else:
                    program = program_by_ref(c, program_ref)
                    if program is None:
                        errors.append(problem(f"no program {program_ref}", "program"))
            elif req.program is not None:
                program = program_by_ref(c, req.program)
                if program is None:
                    errors.append(problem(f"no program {req.program}", "program"))
            if program is not None and customer is not None and sp is not None:
                errors += program_eligibility(c, program, customer[0], sp, nameplate.get("type"), nameplate)
            refuse_if_any(errors)
            if binding:
                raise Conflict(binding)
            owner = caller.aggregator or device.lfdi
            edev = create_end_device(c, device.lfdi, device.sfdi, owner, device.device_category, now, False,
                                     nameplate, device.settings, issuer.pin())
            log_changes(c, [paths.edev(edev)])  # it joins its owner's EndDeviceList
            assert customer is not None and sp is not None and model is not None and program is not None
            asset_id = inserted_id(c.execute(
                "INSERT INTO der_assets (customer_id, service_point_id, device_model_id, serial_number, end_device_id, "
                "lfdi, nameplate, interconnection, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                (customer[0], sp[0], model[0], device.serial, edev, device.lfdi, json.dumps(nameplate),
                 json.dumps(interconnection) if interconnection else None, now)))
            enrollment_id = inserted_id(c.execute(
                "INSERT INTO enrollments (der_asset_id, program_id, status, created, updated) "
                "VALUES (?, ?, 'Pending', ?, ?)", (asset_id, program[0], now, now)))
            task_id = new_task(c, "enroll", now, asset_id, enrollment_id,
                               {"programId": program[0], "requestedBy": caller.name})
            return _created(c, task_id, der_asset=_asset(c, asset_id),
                            end_device=RegisteredEndDevice(edev, device.lfdi, device.sfdi, owner, False),
                            enrollment=_enrollment(c, enrollment_id))
        return await self._in_transaction(lambda c: idempotent(c, idem, now, work, keep))

    async def interconnect_der(self, req: InterconnectIn, caller: Caller, now: int, idem: Idempotency | None,
                               keep: Keep | None = None) -> Created | Replayed:
        """interconnectDER: an interconnect task (Pending, awaiting engineering) for a catalogued device."""
        def work(c: Conn) -> Created:
            customer, sp, errors = customer_and_point(c, req.customer, req.service_point, caller)
            model, problems = catalog_problems(c, req.manufacturer, req.model, "device")
            errors += problems
            if model is not None:
                errors += catalog.interconnection_errors(req.attributes, json.loads(model[4]),
                                                         f"{model[2]} {model[3]}")
                _, _, open_ = approved_interconnection(c, model[0], req.lfdi, req.serial)
                for task_id, state in open_:
                    errors.append(problem(f"interconnection task {task_id} for this device is {state} already",
                                          "device.serialNumber"))
            refuse_if_any(errors)
            assert customer is not None and sp is not None and model is not None
            payload = {"customerId": customer[0], "servicePointId": sp[0], "deviceModelId": model[0],
                       "manufacturer": model[2], "model": model[3], "serialNumber": req.serial, "lFDI": req.lfdi,
                       "interconnection": req.attributes, "requestedBy": caller.name,
                       "aggregator": caller.aggregator}
            return _created(c, new_task(c, "interconnect", now, None, None, payload))
        return await self._in_transaction(lambda c: idempotent(c, idem, now, work, keep))

    async def enroll_der_asset(self, asset_id: int, program_ref: int | str, now: int, idem: Idempotency | None,
                               keep: Keep | None = None) -> Created | Replayed:
        """Enrolls a registered asset in a further program: eligibility now, an enroll task (Pending)."""
        def work(c: Conn) -> Created:
            asset = _asset(c, asset_id)
            errors: list[Problem] = []
            if asset.status != "active":
                raise Conflict(f"DER asset {asset_id} is {asset.status}")
            program = program_by_ref(c, program_ref)
            if program is None:
                errors.append(problem(f"no program {program_ref}", "program"))
            else:
                standing = c.execute("SELECT id, status FROM enrollments WHERE der_asset_id = ? AND program_id = ? "
                                     "AND status IN ('Pending', 'Enrolled')", (asset_id, program[0])).fetchone()
                if standing:
                    raise Conflict([problem(f"enrollment {standing[0]} in this program is {standing[1]}",
                                                 "program")])
                sp = present(service_point_by_ref(c, asset.service_point_id),
                             f"service point {asset.service_point_id}")
                errors += program_eligibility(c, program, asset.customer_id, sp, asset.nameplate.get("type"),
                                              asset.nameplate, fields={"type": "program", "capacity": "program",
                                                                       "location": "program", "tariff": "program"})
            refuse_if_any(errors)
            assert program is not None
            enrollment_id = inserted_id(c.execute(
                "INSERT INTO enrollments (der_asset_id, program_id, status, created, updated) "
                "VALUES (?, ?, 'Pending', ?, ?)", (asset_id, program[0], now, now)))
            task_id = new_task(c, "enroll", now, asset_id, enrollment_id, {"programId": program[0],
                                                                            "requestedBy": "admin"})
            return _created(c, task_id, enrollment=_enrollment(c, enrollment_id))
        return await self._in_transaction(lambda c: idempotent(c, idem, now, work, keep))

    async def request_unenroll(self, enrollment_id: int, now: int, idem: Idempotency | None,
                               keep: Keep | None = None) -> Created | Replayed:
        def work(c: Conn) -> Created:
            enrollment = _enrollment(c, enrollment_id)
            if enrollment.status != "Enrolled":
                raise Conflict(f"enrollment {enrollment_id} is {enrollment.status}, not Enrolled")
            no_open_task(c, "enrollment_id", enrollment_id, "enrollment")
            return _created(c, new_task(c, "unenroll", now, enrollment.der_asset_id, enrollment_id,
                                        {"requestedBy": "admin"}))
        return await self._in_transaction(lambda c: idempotent(c, idem, now, work, keep))

    async def request_replace(self, asset_id: int, req: ReplaceIn, now: int, idem: Idempotency | None,
                              prior: Sequence[Problem] = (), keep: Keep | None = None) -> Created | Replayed:
        """A replace task (Pending) for a new device, checked now: its identity is free, and its nameplate
        (or the old one's) lies within its model's specification."""
        def work(c: Conn) -> Created:
            asset = _asset(c, asset_id)
            if asset.status != "active":
                raise Conflict(f"DER asset {asset_id} is {asset.status}")
            no_open_task(c, "der_asset_id", asset_id, "DER asset")
            device = req.device
            errors = list(prior) + [problem(e["reason"], e["field"].lstrip("."))
                                    for e in identity_problems(c, device.lfdi, device.sfdi, "")]
            if device.manufacturer:
                model, problems = catalog_problems(c, device.manufacturer, device.model, "")
                errors += problems
            else:
                model = model_by_id(c, asset.device_model_id)
            if model is not None:
                nameplate = device.nameplate or asset.nameplate
                errors += catalog.nameplate_errors(nameplate, json.loads(model[4]), f"{model[2]} {model[3]}",
                                                   "nameplate")
                if nameplate.get("type") != model[5]:
                    errors.append(problem(f"rule catalog: must be {model[5]}, the DERType of asset type {model[8]}",
                                          "nameplate.type"))
            refuse_if_any(errors)
            assert model is not None
            payload = {"deviceModelId": model[0], "requestedBy": "admin", "device": {
                "lFDI": device.lfdi, "sFDI": device.sfdi, "serialNumber": device.serial,
                "deviceCategory": device.device_category, "nameplate": device.nameplate,
                "settings": device.settings}}
            return _created(c, new_task(c, "replace", now, asset_id, None, payload))
        return await self._in_transaction(lambda c: idempotent(c, idem, now, work, keep))
