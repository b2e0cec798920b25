"""Customers with their accounts and service points, and tariffs with their acceptance."""

from __future__ import annotations

import json
import time
from typing import Any

from ...domain.utility import Conflict, Problem, problem
from .. import sqlite_control_plane
from ..utility_records import AccountRecord, CustomerRecord, ServicePointRecord, TariffRecord
from . import reads
from .lookups import unique
from ..sqlite_plumbing import Conn, SQLitePlumbing, inserted_id, present
from .shared_writes import insert_account, insert_service_point
from .task_work import unenroll_now


def _move_out(c: Conn, customer_id: int, reason: str, now: int) -> None:
    assets = [r[0] for r in c.execute("SELECT id FROM der_assets WHERE customer_id = ? AND status = 'active' "
                                      "ORDER BY id", (customer_id,))]
    for asset_id in assets:
        for task_id, kind, enrollment_id in c.execute(
                "SELECT id, kind, enrollment_id FROM service_tasks WHERE der_asset_id = ? AND state IN "
                "('Pending', 'Processing') ORDER BY id", (asset_id,)).fetchall():
            c.execute("UPDATE service_tasks SET state = 'Cancelled', reasons = ?, updated = ? WHERE id = ?",
                      (json.dumps([problem(reason, "customer")]), now, task_id))
            if kind == "enroll":
                c.execute("UPDATE enrollments SET status = 'Cancelled', updated = ? WHERE id = ?", (now, enrollment_id))
    changed: list[str] = []
    for (enrollment_id,) in c.execute(
            f"SELECT id FROM enrollments WHERE status = 'Enrolled' AND der_asset_id IN "
            f"({','.join('?' * len(assets))}) ORDER BY id", tuple(assets)).fetchall() if assets else []:
        unenroll_now(c, enrollment_id, now, "move-out", reason, changed)
    sqlite_control_plane.log_changes(c, list(dict.fromkeys(changed)))


class CustomerStore(SQLitePlumbing):
    async def customers(self) -> list[CustomerRecord]:
        return await self._lookup(reads.customers)

    async def customer(self, customer_id: int) -> CustomerRecord | None:
        return await self._lookup(reads.customer, customer_id)

    async def account(self, account_id: int) -> AccountRecord | None:
        return await self._lookup(reads.account, account_id)

    async def service_point(self, sp_id: int) -> ServicePointRecord | None:
        return await self._lookup(reads.service_point, sp_id)

    async def tariffs(self) -> list[TariffRecord]:
        return await self._lookup(reads.tariffs)

    async def tariff(self, tariff_id: int) -> TariffRecord | None:
        return await self._lookup(reads.tariff, tariff_id)

    async def create_customer(self, values: dict[str, Any]) -> CustomerRecord:
        def create(c: Conn) -> CustomerRecord:
            errors: list[Problem] = []
            unique(c, "customers", "external_id", values["externalId"], "externalId", "customer", errors)
            for i, account in enumerate(values["accounts"]):
                unique(c, "accounts", "external_id", account["externalId"], f"accounts[{i}].externalId", "account",
                        errors)
                for j, sp in enumerate(account["servicePoints"]):
                    unique(c, "service_points", "external_id", sp["externalId"],
                            f"accounts[{i}].servicePoints[{j}].externalId", "service point", errors)
            if errors:
                raise Conflict(errors)
            customer_id = inserted_id(c.execute("INSERT INTO customers (external_id, name, status) VALUES (?, ?, ?)",
                                              (values["externalId"], values["name"], values["status"])))
            for account in values["accounts"]:
                insert_account(c, customer_id, account)
            return present(reads.customer(c, customer_id), f"customer {customer_id}")
        return await self._in_transaction(create)

    async def update_customer(self, customer_id: int, values: dict[str, Any], now: int | None = None
                              ) -> CustomerRecord:
        """Deactivating an active customer (a move-out) unenrolls its devices at once, each through a completed
        unenroll task with the reason, and cancels its open enroll, unenroll and replace tasks."""
        at = int(time.time()) if now is None else now

        def update(c: Conn) -> CustomerRecord:
            before = c.execute("SELECT status, external_id FROM customers WHERE id = ?", (customer_id,)).fetchone()
            for column, key in (("name", "name"), ("status", "status")):
                if key in values:
                    c.execute(f"UPDATE customers SET {column} = ? WHERE id = ?", (values[key], customer_id))
            if before is not None and before[0] == "active" and values.get("status", "active") != "active":
                _move_out(c, customer_id, f"customer {before[1]} is {values['status']} (move-out)", at)
            return present(reads.customer(c, customer_id), f"customer {customer_id}")
        return await self._in_transaction(update)

    async def delete_customer(self, customer_id: int) -> None:
        def delete(c: Conn) -> None:
            n = c.execute("SELECT count(*) FROM der_assets WHERE customer_id = ?", (customer_id,)).fetchone()[0]
            if n:
                raise Conflict(f"the customer has {n} DER asset(s); their history is kept, so the customer stays")
            c.execute("DELETE FROM customers WHERE id = ?", (customer_id,))
        await self._in_transaction(delete)

    async def add_account(self, customer_id: int, values: dict[str, Any]) -> AccountRecord:
        def add(c: Conn) -> AccountRecord:
            errors: list[Problem] = []
            unique(c, "accounts", "external_id", values["externalId"], "externalId", "account", errors)
            for j, sp in enumerate(values["servicePoints"]):
                unique(c, "service_points", "external_id", sp["externalId"], f"servicePoints[{j}].externalId",
                        "service point", errors)
            if errors:
                raise Conflict(errors)
            account_id = insert_account(c, customer_id, values)
            return present(reads.account(c, account_id), f"account {account_id}")
        return await self._in_transaction(add)

    async def update_account(self, account_id: int, values: dict[str, Any]) -> AccountRecord:
        def update(c: Conn) -> AccountRecord:
            if "status" in values:
                c.execute("UPDATE accounts SET status = ? WHERE id = ?", (values["status"], account_id))
            return present(reads.account(c, account_id), f"account {account_id}")
        return await self._in_transaction(update)

    async def add_service_point(self, account_id: int, values: dict[str, Any]) -> ServicePointRecord:
        def add(c: Conn) -> ServicePointRecord:
            errors: list[Problem] = []
            unique(c, "service_points", "external_id", values["externalId"], "externalId", "service point", errors)
            if errors:
                raise Conflict(errors)
            sp_id = insert_service_point(c, account_id, values)
            return present(reads.service_point(c, sp_id), f"service point {sp_id}")
        return await self._in_transaction(add)

    async def update_service_point(self, sp_id: int, values: dict[str, Any]) -> ServicePointRecord:
        def update(c: Conn) -> ServicePointRecord:
            for key in ("address", "substation", "feeder", "transformer"):
                if key in values:
                    c.execute(f"UPDATE service_points SET {key} = ? WHERE id = ?", (values[key], sp_id))
            return present(reads.service_point(c, sp_id), f"service point {sp_id}")
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

    async def create_tariff(self, values: dict[str, Any]) -> TariffRecord:
        def create(c: Conn) -> TariffRecord:
            errors: list[Problem] = []
            unique(c, "tariffs", "code", values["code"], "code", "tariff", errors)
            if errors:
                raise Conflict(errors)
            tariff_id = inserted_id(c.execute("INSERT INTO tariffs (code, description, terms) VALUES (?, ?, ?)",
                                            (values["code"], values.get("description"),
                                             json.dumps(values.get("terms", {})))))
            return present(reads.tariff(c, tariff_id), f"tariff {tariff_id}")
        return await self._in_transaction(create)

    async def update_tariff(self, tariff_id: int, values: dict[str, Any]) -> TariffRecord:
        def update(c: Conn) -> TariffRecord:
            if "description" in values:
                c.execute("UPDATE tariffs SET description = ? WHERE id = ?", (values["description"], tariff_id))
            if "terms" in values:
                c.execute("UPDATE tariffs SET terms = ? WHERE id = ?", (json.dumps(values["terms"]), tariff_id))
            return present(reads.tariff(c, tariff_id), f"tariff {tariff_id}")
        return await self._in_transaction(update)

    async def delete_tariff(self, tariff_id: int) -> None:
        def delete(c: Conn) -> None:
            users = [r[0] for r in c.execute("SELECT program_id, eligibility FROM program_rules")
                     if json.loads(r[1]).get("tariffId") == tariff_id]
            if users:
                raise Conflict(f"the rules of program(s) {', '.join(map(str, users))} require this tariff")
            c.execute("DELETE FROM tariffs WHERE id = ?", (tariff_id,))
        await self._in_transaction(delete)
