"""Settlement credits and their billing: unbilled credits are gathered per account and currency into a batch,
sent to every billing endpoint through the sync outbox in the transaction that makes the batch, and marked
billed once each of those messages is acknowledged; a negative acknowledgement returns them to unbilled with
the reason, so that the next run sends them again.  A credit is in at most one pending batch, and keeps the
batch that billed it: never sent twice.
"""

from __future__ import annotations

import json
from dataclasses import fields
from decimal import Decimal
from typing import Any, Sequence

from .billing_records import BillingBatchRecord, CreditRecord
from .sqlite_plumbing import Conn, Row, SQLitePlumbing, inserted_id
from .sync_queue import BILLING, endpoint_ids

UNBILLED_CREDITS = "unbilled-credits"  # the sync message's kind
_CREDIT_COLUMNS = ("stage_id, end_device_id, lfdi, customer_id, account_id, service_point_id, currency, "
                   "baseline_kwh, measured_kwh, avoided_kwh, paid_kwh, energy, per_event, reservation, penalty, "
                   "total, quality, computed_at, billing_batch_id, billed_at, billing_reason, method, profile")
_DECIMALS = range(7, 16)  # the columns above held as decimal text
_FIELDS = [f.name for f in fields(CreditRecord)][:21]  # in the order of the columns above
_BATCH_COLUMNS = "id, account_id, currency, amount, trigger, created, state, reason, settled_at, credit_count"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _credit(r: Row) -> CreditRecord:
    values: list[Any] = [Decimal(v) if i in _DECIMALS and v is not None else v for i, v in enumerate(r[:21])]
    profile = tuple((a, b, _decimal(base), _decimal(measured)) for a, b, base, measured in json.loads(r[22]))
    return CreditRecord(**dict(zip(_FIELDS, values)), method=json.loads(r[21]), profile=profile)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _batch(r: Row) -> BillingBatchRecord:
    return BillingBatchRecord(r[0], r[1], r[2], Decimal(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])


def queue_billing_in(c: Conn, account_ids: Sequence[int] | None, trigger: str, now: int) -> list[int]:
    """In the caller's transaction: a batch per account and currency with unbilled credits not already in a
    pending batch (of the accounts given, or all), each queued to every billing endpoint.  None queued (the
    credits stay unbilled) while there is no billing endpoint.  The batches' ids."""
    endpoints = endpoint_ids(c, BILLING)
    if not endpoints:
        return []
    where, params = "", tuple[int, ...]()
    if account_ids is not None:
        if not account_ids:
            return []
        where, params = f" AND account_id IN ({','.join('?' * len(account_ids))})", tuple(account_ids)
    groups: dict[tuple[int, str], list[Row]] = {}
    for r in c.execute(f"SELECT {_CREDIT_COLUMNS} FROM settlement_credits WHERE billed_at IS NULL AND "
                       f"billing_batch_id IS NULL AND account_id IS NOT NULL{where} "
                       "ORDER BY account_id, currency, stage_id, end_device_id", params).fetchall():
        groups.setdefault((r[4], r[6]), []).append(r)
    batches = []
    for (account_id, currency), rows in groups.items():
        credits = [_credit(r) for r in rows]
        amount = sum((cr.total for cr in credits), Decimal(0))
        batch_id = inserted_id(c.execute(
            "INSERT INTO billing_batches (account_id, currency, amount, trigger, created, state, credit_count) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?)", (account_id, currency, str(amount), trigger, now, len(credits))))
        c.executemany("UPDATE settlement_credits SET billing_batch_id = ? WHERE stage_id = ? AND end_device_id = ?",
                      [(batch_id, cr.stage_id, cr.end_device_id) for cr in credits])
        account = c.execute("SELECT a.external_id, cu.external_id FROM accounts a JOIN customers cu "
                            "ON cu.id = a.customer_id WHERE a.id = ?", (account_id,)).fetchone()
        body = {"kind": UNBILLED_CREDITS, "batchId": batch_id, "accountId": account_id,
                "account": account[0] if account else None, "customer": account[1] if account else None,
                "currency": currency, "amount": str(amount), "trigger": trigger, "created": now,
                "credits": [_line(c, cr) for cr in credits]}
        for endpoint_id in endpoints:
            message_id = inserted_id(c.execute(
                "INSERT INTO sync_messages (endpoint_id, kind, enrollment_id, body, state, created) "
                "VALUES (?, ?, NULL, ?, 'queued', ?)", (endpoint_id, UNBILLED_CREDITS, json.dumps(body), now)))
            c.execute("INSERT INTO billing_messages (message_id, batch_id) VALUES (?, ?)", (message_id, batch_id))
        batches.append(batch_id)
    return batches


def _line(c: Conn, cr: CreditRecord) -> dict[str, Any]:
    stage = c.execute("SELECT e.mrid, s.position, s.program_id FROM event_stages s JOIN utility_events e "
                      "ON e.id = s.event_id WHERE s.id = ?", (cr.stage_id,)).fetchone()
    return {"stageId": cr.stage_id, "eventMRID": stage[0] if stage else None,
            "stagePosition": stage[1] if stage else None, "programId": stage[2] if stage else None,
            "endDeviceLFDI": cr.lfdi, "avoidedKWh": _text(cr.avoided_kwh), "amount": str(cr.total)}


def settle_billing_ack(c: Conn, message_id: int, ok: bool, reason: str | None, now: int) -> None:
    """In the acknowledgement's transaction: a negative one rejects the message's batch (its credits unbilled
    again, with the reason); a positive one bills the batch once every message of it is acknowledged."""
    row = c.execute("SELECT b.id, b.state FROM billing_messages m JOIN billing_batches b ON b.id = m.batch_id "
                    "WHERE m.message_id = ?", (message_id,)).fetchone()
    if row is None or row[1] != "pending":
        return
    batch_id = row[0]
    if not ok:
        c.execute("UPDATE billing_batches SET state = 'rejected', reason = ?, settled_at = ? WHERE id = ?",
                  (reason, now, batch_id))
        c.execute("UPDATE settlement_credits SET billing_batch_id = NULL, billing_reason = ? "
                  "WHERE billing_batch_id = ?", (reason, batch_id))
        return
    waiting = c.execute("SELECT count(*) FROM billing_messages b JOIN sync_messages m ON m.id = b.message_id "
                        "WHERE b.batch_id = ? AND m.state != 'acknowledged'", (batch_id,)).fetchone()[0]
    if waiting == 0:
        c.execute("UPDATE billing_batches SET state = 'billed', settled_at = ? WHERE id = ?", (now, batch_id))
        c.execute("UPDATE settlement_credits SET billed_at = ?, billing_reason = NULL WHERE billing_batch_id = ?",
                  (now, batch_id))


def account_of_asset(c: Conn, asset_id: int) -> int | None:
    r = c.execute("SELECT sp.account_id FROM der_assets a JOIN service_points sp ON sp.id = a.service_point_id "
                  "WHERE a.id = ?", (asset_id,)).fetchone()
    return r[0] if r else None


class BillingStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    async def set_baseline_method(self, program_id: int, method: dict[str, Any], measurement: str) -> None:
        await self._in_transaction(lambda c: c.execute(
            "INSERT INTO program_baselines (program_id, method, measurement) VALUES (?, ?, ?) ON CONFLICT "
            "(program_id) DO UPDATE SET method = excluded.method, measurement = excluded.measurement",
            (program_id, json.dumps(method), measurement)))

    async def baseline_method(self, program_id: int) -> tuple[dict[str, Any], str] | None:
        """(the method's document, the measurement source: auto, cis or telemetry), if set."""
        r = await self._one("SELECT method, measurement FROM program_baselines WHERE program_id = ?", (program_id,))
        return (json.loads(r[0]), r[1]) if r else None

    async def device_places(self, end_device_ids: Sequence[int]) -> dict[int, tuple[int, int, int]]:
        """EndDevice id -> (customer, account, service point) of its DER asset (the latest, if several)."""
        if not end_device_ids:
            return {}
        rows = await self._rows(
            "SELECT a.end_device_id, a.customer_id, sp.account_id, a.service_point_id FROM der_assets a "
            "JOIN service_points sp ON sp.id = a.service_point_id "
            f"WHERE a.end_device_id IN ({','.join('?' * len(end_device_ids))}) ORDER BY a.id",
            tuple(end_device_ids))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    async def record_credits(self, credits: Sequence[CreditRecord]) -> int:
        """Stores each credit; one computed again (new data, say) replaces the stored one only while that is
        unbilled and not on its way to billing.  How many were stored."""
        columns = _CREDIT_COLUMNS.split(", ")
        kept = ("stage_id", "end_device_id", "billing_batch_id", "billed_at", "billing_reason")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in kept)

        def insert(c: Conn) -> int:
            stored = 0
            for cr in credits:
                stored += c.execute(
                    f"INSERT INTO settlement_credits ({_CREDIT_COLUMNS}) VALUES ({','.join('?' * 23)}) "
                    f"ON CONFLICT (stage_id, end_device_id) DO UPDATE SET {updates} "
                    "WHERE settlement_credits.billed_at IS NULL AND settlement_credits.billing_batch_id IS NULL",
                    (cr.stage_id, cr.end_device_id, cr.lfdi.upper(), cr.customer_id, cr.account_id,
                     cr.service_point_id, cr.currency, _text(cr.baseline_kwh), _text(cr.measured_kwh),
                     _text(cr.avoided_kwh), str(cr.paid_kwh), str(cr.energy), str(cr.per_event),
                     str(cr.reservation), str(cr.penalty), str(cr.total), cr.quality, cr.computed_at, None, None,
                     None, json.dumps(cr.method),
                     json.dumps([[a, b, _text(base), _text(m)] for a, b, base, m in cr.profile]))).rowcount
            return stored
        return await self._in_transaction(insert)

    async def stage_credited(self, stage_id: int, now: int) -> None:
        """Marks the stage settled into credits (the settlement duty does not take it again)."""
        await self._in_transaction(lambda c: c.execute(
            "UPDATE event_stages SET credited_at = ? WHERE id = ? AND credited_at IS NULL", (now, stage_id)))

    async def stages_to_credit(self, ended_before: int, limit: int = 100) -> list[int]:
        """Stages whose outcomes are settled, that ended before the time given and were never credited."""
        return [r[0] for r in await self._rows(
            "SELECT s.id FROM event_stages s JOIN controls c ON c.id = s.control_id WHERE s.credited_at IS NULL "
            "AND s.settled_at IS NOT NULL AND c.start + c.duration <= ? ORDER BY s.id LIMIT ?",
            (ended_before, limit))]

    async def credits(self, *, account_id: int | None = None, stage_id: int | None = None,
                      customer_id: int | None = None, unbilled: bool | None = None) -> list[CreditRecord]:
        clauses, params = [], []
        for column, value in (("account_id", account_id), ("stage_id", stage_id), ("customer_id", customer_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if unbilled is not None:
            clauses.append("billed_at IS NULL" if unbilled else "billed_at IS NOT NULL")
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [_credit(r) for r in await self._rows(
            f"SELECT {_CREDIT_COLUMNS} FROM settlement_credits {where} ORDER BY stage_id, end_device_id",
            tuple(params))]

    async def queue_billing(self, account_ids: Sequence[int] | None, trigger: str, now: int) -> list[int]:
        return await self._in_transaction(lambda c: queue_billing_in(c, account_ids, trigger, now))

    async def billing_batches(self, *, account_id: int | None = None,
                              state: str | None = None) -> list[BillingBatchRecord]:
        clauses, params = [], []
        for column, value in (("account_id", account_id), ("state", state)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""

        return [_batch(r) for r in await self._rows(
            f"SELECT {_BATCH_COLUMNS} FROM billing_batches {where} ORDER BY id", tuple(params))]

    async def billing_batch(self, batch_id: int) -> BillingBatchRecord | None:
        r = await self._one(f"SELECT {_BATCH_COLUMNS} FROM billing_batches WHERE id = ?", (batch_id,))
        return _batch(r) if r else None
