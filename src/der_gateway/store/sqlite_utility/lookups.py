"""Facts a request is judged on, looked up in the transaction that acts on them, and the checks made with them."""

from __future__ import annotations

import json
from typing import Any

from ...domain.utility import Caller, Conflict, InvalidRequest, NotPermitted, Problem, problem
from ...domain.utility import catalog, rules
from ...sep import paths
from ..sqlite_plumbing import Conn

def customer_by_ref(c: Conn, ref: int | str) -> tuple | None:
    column = "id" if type(ref) is int else "external_id"
    return c.execute(f"SELECT id, external_id, name, status FROM customers WHERE {column} = ?", (ref,)).fetchone()


def service_point_by_ref(c: Conn, ref: int | str) -> tuple | None:
    """(id, account_id, external_id, address, substation, feeder, transformer, customer_id)"""
    column = "sp.id" if type(ref) is int else "sp.external_id"
    return c.execute(
        "SELECT sp.id, sp.account_id, sp.external_id, sp.address, sp.substation, sp.feeder, sp.transformer, "
        f"a.customer_id FROM service_points sp JOIN accounts a ON a.id = sp.account_id WHERE {column} = ?",
        (ref,)).fetchone()


def program_by_ref(c: Conn, ref: int | str) -> tuple | None:
    """(id, mrid, description, primacy, code) by id, by its rules' code, or by mRID."""
    base = ("SELECT p.id, p.mrid, p.description, p.primacy, r.code FROM programs p "
            "LEFT JOIN program_rules r ON r.program_id = p.id WHERE ")
    if type(ref) is int:
        return c.execute(base + "p.id = ?", (ref,)).fetchone()
    return (c.execute(base + "r.code = ?", (ref,)).fetchone()
            or c.execute(base + "p.mrid = ?", (str(ref).upper(),)).fetchone())


def program_name(program: tuple) -> str:
    return program[4] or program[2] or program[1]


def rules_of(c: Conn, program_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    r = c.execute("SELECT eligibility, constraints FROM program_rules WHERE program_id = ?", (program_id,)).fetchone()
    return (json.loads(r[0]), json.loads(r[1])) if r else ({}, {})


def model_by_name(c: Conn, manufacturer: str, model: str) -> tuple | None:
    """(id, asset_type_id, manufacturer, model, spec, der_type, requires_interconnection, default_program_id,
    asset type code)"""
    return c.execute(
        "SELECT m.id, m.asset_type_id, m.manufacturer, m.model, m.spec, t.der_type, t.requires_interconnection, "
        "t.default_program_id, t.code FROM device_models m JOIN asset_types t ON t.id = m.asset_type_id "
        "WHERE m.manufacturer = ? AND m.model = ?", (manufacturer, model)).fetchone()


def model_by_id(c: Conn, model_id: int) -> tuple | None:
    return c.execute(
        "SELECT m.id, m.asset_type_id, m.manufacturer, m.model, m.spec, t.der_type, t.requires_interconnection, "
        "t.default_program_id, t.code FROM device_models m JOIN asset_types t ON t.id = m.asset_type_id "
        "WHERE m.id = ?", (model_id,)).fetchone()


def catalog_problems(c: Conn, manufacturer: str, model: str, path: str) -> tuple[tuple | None, list[Problem]]:
    found = model_by_name(c, manufacturer, model)
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


def aggregator_problems(c: Conn, lfdi: str, customer_id: int | None, field: str = "aggregator") -> list[Problem]:
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


def program_eligibility(c: Conn, program: tuple, customer_id: int, sp: tuple, der_type: int | None,
                 nameplate: dict[str, Any], fields: dict[str, str] | None = None) -> list[Problem]:
    eligibility, _ = rules_of(c, program[0])
    return rules.eligibility_errors(
        eligibility, program_name(program), der_type=der_type, capacity_w=catalog.quantity(nameplate.get("rtgMaxW")),
        location={"substation": sp[4], "feeder": sp[5], "transformer": sp[6]},
        accepted_tariffs=_accepted_tariffs(c, customer_id), tariff_name=_tariff_name(c, eligibility.get("tariffId")),
        fields=fields)


def customer_and_point(c: Conn, customer_ref: int | str, sp_ref: int | str, caller: Caller
                        ) -> tuple[tuple | None, tuple | None, list[Problem]]:
    """The customer and service point a request names, checked: for a certified aggregator an unknown or
    unauthorised customer is refused outright (403), so that it learns nothing of other customers."""
    errors: list[Problem] = []
    customer = customer_by_ref(c, customer_ref)
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
    sp = service_point_by_ref(c, sp_ref)
    if sp is None:
        errors.append(problem(f"no service point {sp_ref}", "servicePoint"))
    elif customer is not None and sp[7] != customer[0]:
        errors.append(problem(f"service point {sp_ref} does not belong to customer {customer_ref}", "servicePoint"))
    if caller.aggregator is not None:
        errors += aggregator_problems(c, caller.aggregator, customer[0] if customer else None)
    return customer, sp, errors


def identity_problems(c: Conn, lfdi: str, sfdi: int, path: str) -> list[Problem]:
    r = c.execute("SELECT id, lfdi FROM end_devices WHERE lfdi = ? OR sfdi = ?", (lfdi, sfdi)).fetchone()
    if r is None:
        return []
    if r[1] == lfdi:
        return [problem(f"an EndDevice with this lFDI is registered already ({paths.edev(r[0])})", f"{path}.lFDI")]
    return [problem(f"its sFDI {sfdi} belongs to another EndDevice ({paths.edev(r[0])})", f"{path}.lFDI")]


def approved_interconnection(c: Conn, model_id: int, lfdi: str | None, serial: str) -> tuple[int | None, Any, list]:
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


def groups_of_location(c: Conn, sp: tuple) -> list[int]:
    """The groups standing for the service point's substation, feeder and transformer, where they exist."""
    groups = []
    for kind, name in zip(rules.LOCATION_KINDS, (sp[4], sp[5], sp[6])):
        if name is None:
            continue
        r = c.execute("SELECT group_id FROM network_locations WHERE kind = ? AND name = ?", (kind, name)).fetchone()
        if r is not None:
            groups.append(r[0])
    return groups


def refuse_if_any(errors: list[Problem]) -> None:
    if errors:
        raise InvalidRequest(errors)


def unique(c: Conn, table: str, column: str, value: Any, field: str, what: str, errors: list[Problem],
            exclude: int | None = None) -> None:
    sql = f"SELECT id FROM {table} WHERE {column} = ?"
    params: tuple = (value,)
    if exclude is not None:
        sql += " AND id != ?"
        params += (exclude,)
    if c.execute(sql, params).fetchone() is not None:
        errors.append(problem(f"another {what} has {column.replace('_', ' ')} {value!r}", field))


def program_exists(c: Conn, program_id: int | None, errors: list[Problem]) -> None:
    if program_id is not None and c.execute("SELECT 1 FROM programs WHERE id = ?", (program_id,)).fetchone() is None:
        errors.append(problem(f"no program {program_id}", "defaultProgramId"))


def no_open_task(c: Conn, column: str, value: int, what: str) -> None:
    r = c.execute(f"SELECT id, kind, state FROM service_tasks WHERE {column} = ? "
                  "AND state IN ('Pending', 'Processing') ORDER BY id LIMIT 1", (value,)).fetchone()
    if r:
        raise Conflict(f"the {what} has an open {r[1]} service task ({r[0]}, {r[2]})")
