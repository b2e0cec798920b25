"""Aggregators with the customers they may act for, and programs' rules."""

from __future__ import annotations

import json
from typing import Any

from ...domain.utility import Conflict, Problem, problem
from ..utility_records import ProgramRulesRecord, UtilityAggregatorRecord
from . import reads
from .lookups import customer_by_ref, refuse_if_any, rules_of
from ..sqlite_plumbing import Conn, SQLitePlumbing, present
from .membership import has_rules, unenrolled_members
from .shared_writes import sync_aggregator, sync_rules


class AggregatorStore(SQLitePlumbing):
    async def utility_aggregators(self) -> list[UtilityAggregatorRecord]:
        def read(c: Conn) -> list[UtilityAggregatorRecord]:
            lfdis = c.execute("SELECT lfdi FROM aggregators ORDER BY name").fetchall()
            return [a for a in (reads.aggregator(c, r[0]) for r in lfdis) if a is not None]
        return await self._read(read)

    async def utility_aggregator(self, lfdi: str) -> UtilityAggregatorRecord | None:
        return await self._lookup(reads.aggregator, lfdi)

    async def aggregator_suspended(self, lfdi: str) -> bool:
        """Whether this client certificate is an aggregator the utility has suspended (it is cut off from 2030.5)."""
        return await self._one("SELECT 1 FROM aggregators WHERE lfdi = ? AND status = 'suspended'", (lfdi,)) is not None

    async def add_missing_aggregator(self, lfdi: str, name: str, now: int) -> bool:
        """Registers an aggregator the server does not know yet; one it knows keeps what the operator set.
        Whether it was added."""
        return await self._in_transaction(lambda c: c.execute(
            "INSERT INTO aggregators (lfdi, name, created) VALUES (?, ?, ?) ON CONFLICT (lfdi) DO NOTHING",
            (lfdi, name, now)).rowcount > 0)

    async def program_rules(self, program_id: int) -> ProgramRulesRecord | None:
        return await self._lookup(reads.program_rules, program_id)

    async def save_aggregator(self, lfdi: str, values: dict[str, Any], now: int,
                              create: bool) -> UtilityAggregatorRecord:
        """Creates (create=True; Conflict if it exists) or changes an aggregator; queues its 'aggregator' sync."""
        def save(c: Conn) -> UtilityAggregatorRecord:
            exists = c.execute("SELECT 1 FROM aggregators WHERE lfdi = ?", (lfdi,)).fetchone() is not None
            if create and exists:
                raise Conflict([problem("an aggregator with this LFDI exists already", "lFDI")])
            customers = []
            errors: list[Problem] = []
            for i, ref in enumerate(values.get("customers") or []):
                found = customer_by_ref(c, ref)
                if found is None:
                    errors.append(problem(f"no customer {ref}", f"customers[{i}]"))
                else:
                    customers.append(found[0])
            refuse_if_any(errors)
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
            sync_aggregator(c, lfdi, now)
            return present(reads.aggregator(c, lfdi), f"aggregator {lfdi}")
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
                sync_aggregator(c, lfdi, now)
            return bool(n)
        return await self._in_transaction(apply)

    async def set_program_rules(self, program_id: int, values: dict[str, Any], now: int) -> ProgramRulesRecord:
        def put(c: Conn) -> ProgramRulesRecord:
            errors: list[Problem] = []
            tariff = values["eligibility"].get("tariffId")
            if tariff is not None and c.execute("SELECT 1 FROM tariffs WHERE id = ?", (tariff,)).fetchone() is None:
                errors.append(problem(f"no tariff {tariff}", "eligibility.tariffId"))
            refuse_if_any(errors)
            if values.get("code") is not None:
                taken = c.execute("SELECT program_id FROM program_rules WHERE code = ? AND program_id != ?",
                                  (values["code"], program_id)).fetchone()
                if taken:
                    raise Conflict([problem(f"program {taken[0]} has this code", "code")])
            had_rules = has_rules(c, program_id)
            c.execute("INSERT INTO program_rules (program_id, code, eligibility, constraints) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (program_id) DO UPDATE SET code = excluded.code, "
                      "eligibility = excluded.eligibility, constraints = excluded.constraints",
                      (program_id, values.get("code"), json.dumps(values["eligibility"]),
                       json.dumps(values["constraints"])))
            if not had_rules and has_rules(c, program_id):  # from now on: only through their enrollment
                unenrolled = unenrolled_members(c, program_id)
                if unenrolled:
                    raise Conflict(unenrolled)
            sync_rules(c, program_id, now)
            return present(reads.program_rules(c, program_id), f"rules of program {program_id}")
        return await self._in_transaction(put)

    async def clear_program_rules(self, program_id: int, now: int) -> None:
        """Drops the program's eligibility and constraints (its enrollment group stays)."""
        def clear(c: Conn) -> None:
            c.execute("UPDATE program_rules SET code = NULL, eligibility = '{}', constraints = '{}' "
                      "WHERE program_id = ?", (program_id,))
            sync_rules(c, program_id, now, deleted=True)
        await self._in_transaction(clear)

    async def event_constraints(self, program_id: int) -> tuple[dict[str, Any], list[int]]:
        """The program's event constraints, and the starts of its events that are not cancelled."""
        _, constraints = await self._lookup(rules_of, program_id)
        starts = [r[0] for r in await self._rows("SELECT start FROM controls WHERE program_id = ? AND cancelled_at IS NULL",
                                           (program_id,))]
        return constraints, starts
