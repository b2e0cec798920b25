"""The bodies of the enrollment sync's messages (the operational systems' contract, see docs), composed from
records in the transaction that queues them: the message is the store's to keep, not an answer of the edge."""

from __future__ import annotations

from typing import Any

from ...sep import paths
from . import reads
from .lookups import program_by_ref
from ..sqlite_plumbing import Conn, present


def _customer(c: Conn, customer_id: int) -> dict[str, Any]:
    customer = present(reads.customer(c, customer_id, detail=False), f"customer {customer_id}")
    return {"id": customer.id, "externalId": customer.external_id, "name": customer.name, "status": customer.status}


def _program(program: tuple) -> dict[str, Any]:
    return {"id": program[0], "mRID": program[1], "description": program[2], "primacy": program[3],
            "href": paths.program(program[0])}


def subscription_body(c: Conn, enrollment_id: int) -> dict[str, Any]:
    e = present(reads.enrollment(c, enrollment_id), f"enrollment {enrollment_id}")
    a = present(reads.der_asset(c, e.der_asset_id), f"DER asset {e.der_asset_id}")
    program = present(program_by_ref(c, e.program_id), f"program {e.program_id}")
    customer = _customer(c, a.customer_id)
    sp = present(reads.service_point(c, a.service_point_id), f"service point {a.service_point_id}")
    account = c.execute("SELECT external_id FROM accounts WHERE id = ?", (sp.account_id,)).fetchone()[0]
    edev = c.execute("SELECT lfdi, sfdi, owner_lfdi FROM end_devices WHERE id = ?",
                     (a.end_device_id,)).fetchone() if a.end_device_id else None
    derg = c.execute("SELECT body FROM der_documents WHERE end_device_id = ? AND n = 1 AND kind = 'derg'",
                     (a.end_device_id,)).fetchone() if a.end_device_id else None
    return {
        "enrollment": {"id": e.id, "status": e.status, "updated": e.updated},
        "subscription": {
            "program": {"id": program[0], "mRID": program[1], "code": program[4], "description": program[2],
                        "primacy": program[3], "href": paths.program(program[0])},
            "customer": {k: customer[k] for k in ("id", "externalId", "name")},
            "account": {"id": sp.account_id, "externalId": account},
            "servicePoint": {"id": sp.id, "externalId": sp.external_id, "substation": sp.substation,
                             "feeder": sp.feeder, "transformer": sp.transformer}},
        "device": {"derAssetId": a.id, "lFDI": a.lfdi, "sFDI": edev[1] if edev else None,
                   "endDevice": end_device_href(a.end_device_id), "manufacturer": a.manufacturer, "model": a.model,
                   "serialNumber": a.serial_number,
                   "aggregator": edev[2] if edev and edev[2] != edev[0] else None,
                   "interconnection": a.interconnection},
        "nameplate": {"DERCapability": a.nameplate, "DERSettings": reads.load_json(derg[0]) if derg else None},
    }


def end_device_href(end_device_id: int | None) -> str | None:
    return paths.edev(end_device_id) if end_device_id is not None else None


def aggregator_body(c: Conn, lfdi: str) -> dict[str, Any]:
    agg = present(reads.aggregator(c, lfdi), f"aggregator {lfdi}")
    return {"aggregator": {"lFDI": agg.lfdi, "name": agg.name, "status": agg.status, "created": agg.created,
                           "customers": [_customer(c, i) for i in agg.customers]}}


def rules_body(c: Conn, program_id: int, deleted: bool) -> dict[str, Any]:
    program = present(program_by_ref(c, program_id), f"program {program_id}")
    rules = None if deleted else present(reads.program_rules(c, program_id), f"rules of program {program_id}")
    return {"program": _program(program),
            "rules": None if rules is None else {"programId": rules.program_id, "code": rules.code,
                                                 "groupId": rules.group_id, "eligibility": rules.eligibility,
                                                 "constraints": rules.constraints}}
