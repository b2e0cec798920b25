"""Rows more than one operation writes: idempotent answers, service tasks, customers' accounts and service points, the
sync messages, EndDevices and group memberships."""

from __future__ import annotations

import json
from typing import Any, Callable

from ...domain.identifiers import Pen, new_mrid
from ...domain.utility import Conflict, Idempotency, problem
from ...sep import paths
from ..sync_queue import enqueue_sync
from ..utility_records import Created, Replayed
from .lookups import program_name
from ..sqlite_plumbing import Conn, inserted_id
from .sync_bodies import aggregator_body, rules_body, subscription_body

def idempotent(c: Conn, idem: Idempotency | None, now: int, work: Callable[[Conn], Created],
               keep: Callable[[Created], str] | None) -> Created | Replayed:
    """The first answer to this key, or what work created, kept under the key (in this transaction) as keep
    serializes it."""
    if idem is not None:
        kept = kept_answer(c, idem)
        if kept is not None:
            return kept
    created = work(c)
    if idem is not None:
        if keep is None:
            raise ValueError("an idempotent request needs its answer serialized (keep)")
        c.execute("INSERT INTO idempotent_requests (key, caller, operation, request_digest, outcome, response, "
                  "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                  (idem.key, idem.caller, idem.operation, idem.digest, created.outcome, keep(created), now))
    return created


def kept_answer(c: Conn, idem: Idempotency) -> Replayed | None:
    """The answer kept under the key, if any; Conflict if it was given for another body."""
    r = c.execute("SELECT request_digest, outcome, response FROM idempotent_requests "
                  "WHERE caller = ? AND operation = ? AND key = ?", (idem.caller, idem.operation, idem.key)
                  ).fetchone()
    if r is None:
        return None
    if r[0] != idem.digest:
        raise Conflict([problem("this Idempotency-Key was used before with a different body", "Idempotency-Key")])
    return Replayed(r[1], r[2])


def new_task(c: Conn, kind: str, now: int, asset_id: int | None, enrollment_id: int | None,
              payload: dict[str, Any]) -> int:
    return inserted_id(c.execute("INSERT INTO service_tasks (kind, state, der_asset_id, enrollment_id, payload, "
                              "reasons, created, updated) VALUES (?, 'Pending', ?, ?, ?, '[]', ?, ?)",
                              (kind, asset_id, enrollment_id, json.dumps(payload), now, now)))


def insert_service_point(c: Conn, account_id: int, sp: dict[str, Any]) -> int:
    return inserted_id(c.execute(
        "INSERT INTO service_points (account_id, external_id, address, substation, feeder, transformer) "
        "VALUES (?, ?, ?, ?, ?, ?)", (account_id, sp["externalId"], sp.get("address"), sp.get("substation"),
                                      sp.get("feeder"), sp.get("transformer"))))


def insert_account(c: Conn, customer_id: int, account: dict[str, Any]) -> int:
    account_id = inserted_id(c.execute("INSERT INTO accounts (customer_id, external_id, status) VALUES (?, ?, ?)",
                                    (customer_id, account["externalId"], account.get("status", "active"))))
    for sp in account["servicePoints"]:
        insert_service_point(c, account_id, sp)
    return account_id


def queue_sync(c: Conn, kind: str, enrollment_id: int, now: int, extra: dict[str, Any] | None = None) -> None:
    body = {**subscription_body(c, enrollment_id), **(extra or {})}
    if enqueue_sync(c, kind, body, now, enrollment_id):
        c.execute("UPDATE enrollments SET sync_status = 'Pending', sync_reason = NULL WHERE id = ?",
                  (enrollment_id,))


def sync_aggregator(c: Conn, lfdi: str, now: int) -> None:
    enqueue_sync(c, "aggregator", aggregator_body(c, lfdi), now)


def sync_rules(c: Conn, program_id: int, now: int, deleted: bool = False) -> None:
    enqueue_sync(c, "program-rules", rules_body(c, program_id, deleted), now)


def create_end_device(c: Conn, lfdi: str, sfdi: int, owner: str, category: str | None, now: int, enabled: bool,
                       nameplate: dict[str, Any], settings: dict[str, Any] | None, pin: int) -> int:
    edev = inserted_id(c.execute(
        "INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, device_category, "
        "enabled) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (lfdi, sfdi, owner, now, pin, now, category, int(enabled))))
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
    group_id: int | None = r[0] if r else None
    if group_id is None or c.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None:
        group_id = inserted_id(c.execute("INSERT INTO groups (mrid, description) VALUES (?, ?)",
                                      (new_mrid(pen), f"enrolled in {program_name(program)}"[:32])))
        if r is None:
            c.execute("INSERT INTO program_rules (program_id, group_id) VALUES (?, ?)", (program[0], group_id))
        else:
            c.execute("UPDATE program_rules SET group_id = ? WHERE program_id = ?", (group_id, program[0]))
    if c.execute("INSERT OR IGNORE INTO group_programs (group_id, program_id) VALUES (?, ?)",
                 (group_id, program[0])).rowcount:
        c.execute("UPDATE groups SET version = version + 1 WHERE id = ?", (group_id,))
        changed.append(paths.program_list(group_id))
    return group_id
