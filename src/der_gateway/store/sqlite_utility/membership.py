"""Group membership as enrollment allows it (domain/utility/membership.py), and its history.

Every write to group_members made here is recorded in membership_history in the same transaction.  A program with
enrollment rules reaches only devices whose enrollment in it stands: the operator's changes are judged against that
and refused whole with every failing device; an unenrollment or a rejected enrollment sync takes the device out of
every group holding the program.
"""

from __future__ import annotations

import json
import time
from typing import Sequence

from ...domain.utility import Conflict, Problem
from ...domain.utility.membership import (SYNC_REJECTED, Standing, dispatched, leaving_problem, retired_reason,
                                          standing_problems)
from ...sep import paths
from ..interface import Changes
from ..membership_records import MembershipChangeRecord
from .. import sqlite_control_plane
from ..sqlite_plumbing import Conn, SQLitePlumbing, present
from .lookups import program_by_ref, program_eligibility, program_name, service_point_by_ref


_HISTORY_COLUMNS = "id, group_id, end_device_id, kind, changed_at, actor, reason"

# A program has enrollment rules once the operator set its code or eligibility (PUT /programs/{id}/rules) and until
# cleared; its event constraints alone (how many events, when) do not say who may be called.  A program_rules row may
# also stand for an enrollment group alone.
_HAS_RULES = "(er.code IS NOT NULL OR er.eligibility != '{}')"
# The EndDevice e is not the EndDevice of a retired DER asset, and each program of group g with enrollment rules
# finds e's enrollment in it standing (Enrolled, its sync not rejected by operations).
_NOT_RETIRED = "NOT EXISTS (SELECT 1 FROM der_assets ra WHERE ra.end_device_id = e.id AND ra.status != 'active')"
_ENROLLMENT_ALLOWS = (
    "NOT EXISTS (SELECT 1 FROM group_programs egp JOIN program_rules er ON er.program_id = egp.program_id "
    "WHERE egp.group_id = {group} AND " + _HAS_RULES + " AND NOT EXISTS (SELECT 1 FROM der_assets ea "
    "JOIN enrollments en "
    "ON en.der_asset_id = ea.id WHERE ea.end_device_id = e.id AND ea.status = 'active' "
    "AND en.program_id = egp.program_id AND en.status = 'Enrolled' "
    f"AND (en.sync_status IS NULL OR en.sync_status != '{SYNC_REJECTED}')))")


def record(c: Conn, group_id: int, end_device_id: int, kind: str, now: int, actor: str, reason: str) -> None:
    c.execute("INSERT INTO membership_history (group_id, end_device_id, kind, changed_at, actor, reason) "
              "VALUES (?, ?, ?, ?, ?, ?)", (group_id, end_device_id, kind, now, actor, reason))


def join_groups(c: Conn, edev: int, groups: Sequence[int], now: int, actor: str, reason: str) -> list[int]:
    """The groups the EndDevice joined (it was in the others already)."""
    joined = []
    for g in dict.fromkeys(groups):
        if c.execute("INSERT OR IGNORE INTO group_members (group_id, end_device_id) VALUES (?, ?)",
                     (g, edev)).rowcount:
            record(c, g, edev, "joined", now, actor, reason)
            joined.append(g)
    return joined


def leave_groups(c: Conn, edev: int, groups: Sequence[int], now: int, actor: str, reason: str) -> list[int]:
    """The groups the EndDevice left (it was not in the others)."""
    left = []
    for g in dict.fromkeys(groups):
        if c.execute("DELETE FROM group_members WHERE group_id = ? AND end_device_id = ?", (g, edev)).rowcount:
            record(c, g, edev, "left", now, actor, reason)
            left.append(g)
    return left


def leave_all_groups(c: Conn, edev: int, now: int, actor: str, reason: str) -> list[int]:
    groups = [r[0] for r in c.execute("SELECT group_id FROM group_members WHERE end_device_id = ? ORDER BY group_id",
                                      (edev,))]
    return leave_groups(c, edev, groups, now, actor, reason)


def enrollment_programs(c: Conn, group_id: int, with_rules: bool = True) -> list[tuple]:
    """The group's programs with enrollment rules (with_rules), or with rules or an enrollment group, as
    lookups.program_by_ref gives them."""
    where = f" AND {_HAS_RULES}" if with_rules else ""
    return [present(program_by_ref(c, r[0]), f"program {r[0]}") for r in c.execute(
        "SELECT gp.program_id FROM group_programs gp JOIN program_rules er ON er.program_id = gp.program_id "
        f"WHERE gp.group_id = ?{where} ORDER BY gp.program_id", (group_id,))]


def has_rules(c: Conn, program_id: int) -> bool:
    return c.execute(f"SELECT 1 FROM program_rules er WHERE er.program_id = ? AND {_HAS_RULES}",
                     (program_id,)).fetchone() is not None


def unenrolled_members(c: Conn, program_id: int) -> list[Problem]:
    """Why members of the groups holding the program could not stay there once it has enrollment rules (not their
    eligibility: rules may change under standing enrollments)."""
    program = present(program_by_ref(c, program_id), f"program {program_id}")
    found: list[Problem] = []
    for group_id, edev in c.execute(
            "SELECT m.group_id, m.end_device_id FROM group_programs gp JOIN group_members m ON m.group_id = "
            "gp.group_id WHERE gp.program_id = ? ORDER BY m.group_id, m.end_device_id", (program_id,)).fetchall():
        for p in standing_problems(standing(c, edev, program_id), program_name(program), [], "groups"):
            found.append({**p, "reason": f"group {group_id}: {p['reason']}"})
    return found


def standing(c: Conn, edev: int, program_id: int | None) -> Standing:
    e = c.execute("SELECT enabled FROM end_devices WHERE id = ?", (edev,)).fetchone()
    a = c.execute("SELECT id, status FROM der_assets WHERE end_device_id = ? ORDER BY id DESC LIMIT 1",
                  (edev,)).fetchone()
    en = c.execute("SELECT id, status, sync_status, sync_reason FROM enrollments WHERE der_asset_id = ? "
                   "AND program_id = ? ORDER BY CASE status WHEN 'Enrolled' THEN 0 ELSE 1 END, id DESC LIMIT 1",
                   (a[0], program_id)).fetchone() if a is not None and program_id is not None else None
    return Standing(edev, bool(e and e[0]), a[0] if a else None, a[1] if a else None,
                    en[0] if en else None, en[1] if en else None, en[2] if en else None, en[3] if en else None)


def _eligibility(c: Conn, s: Standing, program: tuple) -> list[Problem]:
    if s.asset_id is None:
        return []
    a = c.execute("SELECT customer_id, service_point_id, nameplate FROM der_assets WHERE id = ?",
                  (s.asset_id,)).fetchone()
    sp = service_point_by_ref(c, a[1])
    if sp is None:
        return []
    nameplate = json.loads(a[2])
    return program_eligibility(c, program, a[0], sp, nameplate.get("type"), nameplate)


def joining_problems(c: Conn, group_id: int, edevs: Sequence[int], field: str) -> list[Problem]:
    """Why these EndDevices may not be members of the group: retired, or failing a program of the group with
    enrollment rules."""
    programs = enrollment_programs(c, group_id)
    found: list[Problem] = []
    for edev in edevs:
        if not programs:
            reason = retired_reason(standing(c, edev, None))
            if reason:
                found.append({"field": field, "reason": reason})
            continue
        for program in programs:
            s = standing(c, edev, program[0])
            problems = standing_problems(s, program_name(program), _eligibility(c, s, program), field)
            found += [p for p in problems if p not in found]
    return found


def admissible(c: Conn, edev: int, groups: Sequence[int]) -> list[int]:
    """Those of the groups the EndDevice may join: a group holding a program with rules it does not stand in (a
    location group, say) is left out."""
    return [g for g in groups if not enrollment_programs(c, g) or not joining_problems(c, g, [edev], "")]


def leaving_problems(c: Conn, group_id: int, edev: int, field: str) -> list[Problem]:
    """Why the operator may not take the EndDevice out of the group: a program of the group calls it through its
    enrollment, and through no other group."""
    found = []
    for program in enrollment_programs(c, group_id, with_rules=False):
        s = standing(c, edev, program[0])
        if not dispatched(s):
            continue
        elsewhere = c.execute(
            "SELECT 1 FROM group_members m JOIN group_programs gp ON gp.group_id = m.group_id "
            "WHERE m.end_device_id = ? AND gp.program_id = ? AND m.group_id != ? LIMIT 1",
            (edev, program[0], group_id)).fetchone()
        if elsewhere is None:
            found.append(leaving_problem(s, program_name(program), field))
    return found


def withdraw_from_program(c: Conn, edev: int, program_id: int, now: int, actor: str, reason: str) -> list[int]:
    """Takes the EndDevice out of every group holding the program; the groups it left."""
    groups = [r[0] for r in c.execute(
        "SELECT m.group_id FROM group_members m JOIN group_programs gp ON gp.group_id = m.group_id "
        "WHERE m.end_device_id = ? AND gp.program_id = ? ORDER BY m.group_id", (edev, program_id))]
    return leave_groups(c, edev, groups, now, actor, reason)


def withdraw_rejected_enrollment(c: Conn, enrollment_id: int, now: int, reason: str | None) -> None:
    """Operations rejected the sync of an Enrolled enrollment: the program no longer calls the device."""
    r = c.execute("SELECT en.program_id, a.end_device_id FROM enrollments en JOIN der_assets a "
                  "ON a.id = en.der_asset_id WHERE en.id = ? AND en.status = 'Enrolled'", (enrollment_id,)).fetchone()
    if r is None or r[1] is None:
        return
    if withdraw_from_program(c, r[1], r[0], now, "sync-rejection",
                             f"operations rejected the sync of enrollment {enrollment_id}: "
                             f"{reason or 'no reason given'}"):
        sqlite_control_plane.log_changes(c, [paths.fsa_list(r[1])])


# (id, lfdi) of the EndDevices a program (the parameter) calls now, as targeted_end_devices says
TARGETED_END_DEVICES = (
    "SELECT DISTINCT e.id, e.lfdi FROM group_programs gp JOIN group_members m ON m.group_id = gp.group_id "
    "JOIN end_devices e ON e.id = m.end_device_id WHERE gp.program_id = ? AND e.enabled = 1 "
    f"AND {_NOT_RETIRED} AND {_ENROLLMENT_ALLOWS.replace('{group}', 'gp.group_id')}")


class MembershipStore(SQLitePlumbing):
    """Group membership, the programs assigned to groups, and whom a program calls."""

    async def set_membership(self, group_id: int, end_device_ids: Sequence[int], member: bool,
                             changed: Changes = (), *, now: int | None = None, reason: str | None = None,
                             actor: str = "operator") -> None:
        """Adds or removes members, all or none, as the operator (or actor) asks: Conflict with each device that
        may not."""
        at = int(time.time()) if now is None else now

        def apply(c: Conn) -> None:
            if member:
                new = [e for e in dict.fromkeys(end_device_ids) if c.execute(
                    "SELECT 1 FROM group_members WHERE group_id = ? AND end_device_id = ?", (group_id, e)
                ).fetchone() is None]
                problems = joining_problems(c, group_id, new, "endDevices")
                if problems:
                    raise Conflict(problems)
                for e in new:
                    join_groups(c, e, [group_id], at, actor, reason or f"added by the {actor}")
            else:
                members = [e for e in dict.fromkeys(end_device_ids) if c.execute(
                    "SELECT 1 FROM group_members WHERE group_id = ? AND end_device_id = ?", (group_id, e)
                ).fetchone() is not None]
                problems = [p for e in members for p in leaving_problems(c, group_id, e, "endDevices")]
                if problems:
                    raise Conflict(problems)
                for e in members:
                    leave_groups(c, e, [group_id], at, actor, reason or f"removed by the {actor}")
            sqlite_control_plane.log_changes(c, changed)
        await self._in_transaction(apply)

    async def set_group_program(self, group_id: int, program_id: int, assigned: bool, changed: Changes = ()) -> None:
        """Assigning a program that takes part in enrollment judges every member (Conflict with each failing one);
        a program's own enrollment group keeps it while it has members (they leave through unenrollment)."""
        def apply(c: Conn) -> None:
            rules = c.execute("SELECT group_id FROM program_rules WHERE program_id = ?", (program_id,)).fetchone()
            if assigned and has_rules(c, program_id):
                members = [r[0] for r in c.execute(
                    "SELECT end_device_id FROM group_members WHERE group_id = ? ORDER BY end_device_id", (group_id,))]
                program = present(program_by_ref(c, program_id), f"program {program_id}")
                problems: list[Problem] = []
                for edev in members:
                    s = standing(c, edev, program_id)
                    problems += standing_problems(s, program_name(program), _eligibility(c, s, program),
                                                  "endDevices")
                if problems:
                    raise Conflict(problems)
            if not assigned and rules is not None and rules[0] == group_id and c.execute(
                    "SELECT 1 FROM group_members WHERE group_id = ? LIMIT 1", (group_id,)).fetchone():
                raise Conflict(f"group {group_id} is the enrollment group of program {program_id}: its members "
                               "leave it through unenrollment (POST /enrollments/{id}/unenroll)")
            if assigned:
                c.execute("INSERT OR IGNORE INTO group_programs (group_id, program_id) VALUES (?, ?)",
                          (group_id, program_id))
            else:
                c.execute("DELETE FROM group_programs WHERE group_id = ? AND program_id = ?", (group_id, program_id))
            c.execute("UPDATE groups SET version = version + 1 WHERE id = ?", (group_id,))
            sqlite_control_plane.log_changes(c, changed)
        await self._in_transaction(apply)

    async def delete_group(self, group_id: int, changed: Changes = (), *, now: int | None = None) -> None:
        """Its members leave it, on record."""
        at = int(time.time()) if now is None else now

        def delete(c: Conn) -> None:
            for (edev,) in c.execute("SELECT end_device_id FROM group_members WHERE group_id = ? ORDER BY "
                                     "end_device_id", (group_id,)).fetchall():
                record(c, group_id, edev, "left", at, "operator", "the group was deleted")
            c.execute("DELETE FROM groups WHERE id = ?", (group_id,))
            sqlite_control_plane.log_changes(c, changed)
        await self._in_transaction(delete)

    async def targeted_end_devices(self, program_id: int) -> list[tuple[int, str]]:
        """(id, lFDI) of the EndDevices the program calls now: enabled, not retired, members of a group holding it
        that every program of the group taking part in enrollment allows (their enrollment in it stands)."""
        return list(await self._read_rows(f"{TARGETED_END_DEVICES} ORDER BY e.id", (program_id,)))

    async def membership_history(self, group_id: int | None = None, end_device_id: int | None = None,
                                 limit: int = 1000) -> list[MembershipChangeRecord]:
        """A group's or an EndDevice's membership changes, oldest first (the latest `limit` of them)."""
        clauses, params = [], []
        for column, value in (("group_id", group_id), ("end_device_id", end_device_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = await self._read_rows(f"SELECT {_HISTORY_COLUMNS} FROM membership_history {where} "
                                     "ORDER BY id DESC LIMIT ?", (*params, limit))
        return [MembershipChangeRecord(*r) for r in reversed(rows)]
