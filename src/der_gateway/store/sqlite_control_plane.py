"""SQLite persistence of programs, events, groups, grants, responses, subscriptions and the outbox.

Writes that change a resource clients may subscribe to take `changed`: the
hrefs of those resources.  They are logged in the same transaction as the
change, so the notifier can never miss one, even across a crash.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Sequence

from . import list_index
from .base import ControlRecord, GroupRecord, OutboxFailure, OutboxItem, Page, ProgramRecord, ResponseRecord, SubscriptionRecord
from .interface import Changes
from .sqlite_plumbing import Conn, Params, Row, SQLitePlumbing, inserted_id


def log_changes(c: Conn, changed: Changes) -> None:
    """Each change is a resource href; (href, Notification status) for a deletion; or (href, status,
    audience): the LFDIs of the clients whose view of the resource changes, for a list each client
    sees its own part of."""
    rows = []
    for x in changed:
        audience: tuple[str, ...] | None = None
        if isinstance(x, str):
            href, status = x, 0
        elif len(x) == 2:
            href, status = x
        else:
            href, status, audience = x
        rows.append((href, status, json.dumps(sorted(set(audience))) if audience is not None else None))
    c.executemany("INSERT INTO changes (resource, status, audience) VALUES (?, ?, ?)", rows)


_CONTROL_COLUMNS = ("id, program_id, mrid, creation_time, start, duration, body, status, status_time, "
                    "potentially_superseded_time, cancelled_at")


def insert_control(c: Conn, program_id: int, mrid: str, creation_time: int, start: int, duration: int,
                   data: dict[str, Any], status: int, status_time: int,
                   states: Iterable[tuple[int, int, int, int | None]], changed: Changes) -> int:
    """add_control's writes, for a store method that adds an event with more in the same transaction."""
    cid = inserted_id(c.execute(
        "INSERT INTO controls (program_id, mrid, creation_time, start, duration, body, status, status_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (program_id, mrid, creation_time, start, duration, json.dumps(data), status, status_time)))
    _set_states(c, states)
    log_changes(c, changed)
    return cid


def _control(r: Row) -> ControlRecord:
    return ControlRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], r[8], r[9], r[10])


def _program(r: Row) -> ProgramRecord:
    return ProgramRecord(r[0], r[1], r[2], r[3], r[4])


class ControlPlaneStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    # -- programs -------------------------------------------------------------

    async def create_program(self, mrid: str, description: str | None, primacy: int, changed: Changes = ()) -> int:
        def insert(c: Conn) -> int:
            pid = inserted_id(c.execute("INSERT INTO programs (mrid, description, primacy) VALUES (?, ?, ?)",
                                        (mrid, description, primacy)))
            log_changes(c, changed)
            return pid
        return await self._in_transaction(insert)

    async def update_program(self, program_id: int, description: str | None, primacy: int,
                             changed: Changes = ()) -> None:
        def update(c: Conn) -> None:
            c.execute("UPDATE programs SET description = ?, primacy = ?, version = version + 1 WHERE id = ?",
                      (description, primacy, program_id))
            log_changes(c, changed)
        await self._in_transaction(update)

    async def delete_program(self, program_id: int, changed: Changes = ()) -> None:
        def delete(c: Conn) -> None:
            c.execute("DELETE FROM programs WHERE id = ?", (program_id,))
            log_changes(c, changed)
        await self._in_transaction(delete)

    async def program(self, program_id: int) -> ProgramRecord | None:
        r = await self._one("SELECT id, mrid, description, primacy, version FROM programs WHERE id = ?", (program_id,))
        return _program(r) if r else None

    async def programs(self) -> list[ProgramRecord]:
        return [_program(r) for r in await self._rows(
            "SELECT id, mrid, description, primacy, version FROM programs ORDER BY primacy, id")]

    async def programs_of_group(self, group_id: int) -> list[ProgramRecord]:
        return [_program(r) for r in await self._rows(
            "SELECT p.id, p.mrid, p.description, p.primacy, p.version FROM programs p "
            "JOIN group_programs g ON g.program_id = p.id WHERE g.group_id = ? ORDER BY p.primacy, p.id",
            (group_id,))]

    # -- DefaultDERControl and DERCurves -----------------------------------------

    async def set_default_control(self, program_id: int, mrid: str, data: dict[str, Any],
                                  changed: Changes = ()) -> None:
        def upsert(c: Conn) -> None:
            c.execute("INSERT INTO default_controls (program_id, mrid, body) VALUES (?, ?, ?) "
                      "ON CONFLICT (program_id) DO UPDATE SET mrid = excluded.mrid, body = excluded.body",
                      (program_id, mrid, json.dumps(data)))
            log_changes(c, changed)
        await self._in_transaction(upsert)

    async def default_control(self, program_id: int) -> dict[str, Any] | None:
        r = await self._one("SELECT body FROM default_controls WHERE program_id = ?", (program_id,))
        return json.loads(r[0]) if r else None

    async def add_curve(self, program_id: int, mrid: str, data: dict[str, Any], changed: Changes = ()) -> int:
        def insert(c: Conn) -> int:
            cid = inserted_id(c.execute("INSERT INTO curves (program_id, mrid, body) VALUES (?, ?, ?)",
                                        (program_id, mrid, json.dumps(data))))
            log_changes(c, changed)
            return cid
        return await self._in_transaction(insert)

    async def curves(self, program_id: int) -> list[tuple[int, dict[str, Any]]]:
        return [(r[0], json.loads(r[1])) for r in await self._rows(
            "SELECT id, body FROM curves WHERE program_id = ? ORDER BY id", (program_id,))]

    async def curve(self, program_id: int, curve_id: int) -> dict[str, Any] | None:
        r = await self._one("SELECT body FROM curves WHERE program_id = ? AND id = ?", (program_id, curve_id))
        return json.loads(r[0]) if r else None

    async def delete_curve(self, program_id: int, curve_id: int, changed: Changes = ()) -> None:
        def delete(c: Conn) -> None:
            c.execute("DELETE FROM curves WHERE program_id = ? AND id = ?", (program_id, curve_id))
            log_changes(c, changed)
        await self._in_transaction(delete)

    # -- DERControls (events) ----------------------------------------------------

    async def add_control(self, program_id: int, mrid: str, creation_time: int, start: int, duration: int,
                          data: dict[str, Any], status: int, status_time: int,
                          states: Iterable[tuple[int, int, int, int | None]] = (), changed: Changes = ()) -> int:
        """Adds an event and, in the same transaction, the new states of its program's other events."""
        def insert(c: Conn) -> int:
            return insert_control(c, program_id, mrid, creation_time, start, duration, data, status, status_time,
                                  states, changed)
        return await self._in_transaction(insert)

    async def controls(self, program_id: int, ending_after: int | None = None) -> list[ControlRecord]:
        """A program's events, in the standard's order: start ascending, then newest first.

        With ending_after, only those that end later than it, and every event overlapping one of
        those, so that their states can be worked out from what is returned.
        """
        params: Params
        if ending_after is None:
            where, params = "program_id = ?", (program_id,)
        else:  # through the events' ends, so that the work is bounded by those still listed, not by history
            where = ("program_id = ? AND (start + duration) > (SELECT coalesce(min(start), ?) FROM controls "
                     "INDEXED BY controls_by_end WHERE program_id = ? AND (start + duration) > ?)")
            params = (program_id, ending_after, program_id, ending_after)
        indexed = "" if ending_after is None else "INDEXED BY controls_by_end "
        return [_control(r) for r in await self._rows(
            f"SELECT {_CONTROL_COLUMNS} FROM controls {indexed}WHERE {where} "
            "ORDER BY start, creation_time DESC, id DESC", params)]

    async def all_controls(self, ending_after: int | None = None) -> list[ControlRecord]:
        """Every event, or only those whose end is later than ending_after."""
        where, params = (("INDEXED BY controls_by_end_everywhere WHERE (start + duration) > ?", (ending_after,))
                         if ending_after is not None else ("", ()))
        return [_control(r) for r in await self._rows(
            f"SELECT {_CONTROL_COLUMNS} FROM controls {where} ORDER BY program_id, start, creation_time DESC, id DESC",
            params)]

    async def control(self, control_id: int) -> ControlRecord | None:
        r = await self._one(f"SELECT {_CONTROL_COLUMNS} FROM controls WHERE id = ?", (control_id,))
        return _control(r) if r else None

    async def control_by_mrid(self, mrid: str) -> ControlRecord | None:
        r = await self._one(f"SELECT {_CONTROL_COLUMNS} FROM controls WHERE mrid = ?", (mrid.upper(),))
        return _control(r) if r else None

    async def cancel_control(self, control_id: int, at: int, states: Iterable[tuple[int, int, int, int | None]],
                             changed: Changes = ()) -> None:
        def cancel(c: Conn) -> None:
            c.execute("UPDATE controls SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL", (at, control_id))
            _set_states(c, states)
            log_changes(c, changed)
        await self._in_transaction(cancel)

    async def set_control_states(self, states: Iterable[tuple[int, int, int, int | None]],
                                 changed: Changes = ()) -> None:
        """(control id, status, status time, potentiallySupersededTime) for each event whose state moved."""
        def update(c: Conn) -> None:
            _set_states(c, states)
            log_changes(c, changed)
        await self._in_transaction(update)

    async def clear_controls(self, program_id: int, changed: Changes = ()) -> int:
        def clear(c: Conn) -> int:
            n = c.execute("DELETE FROM controls WHERE program_id = ?", (program_id,)).rowcount
            log_changes(c, changed)
            return n
        return await self._in_transaction(clear)

    # -- groups (FunctionSetAssignments) ----------------------------------------

    async def create_group(self, mrid: str, description: str | None) -> int:
        return await self._in_transaction(lambda c: inserted_id(c.execute(
            "INSERT INTO groups (mrid, description) VALUES (?, ?)", (mrid, description))))

    async def group(self, group_id: int) -> GroupRecord | None:
        r = await self._one("SELECT id, mrid, description, version FROM groups WHERE id = ?", (group_id,))
        return GroupRecord(*r) if r else None

    async def groups(self) -> list[GroupRecord]:
        return [GroupRecord(*r) for r in await self._rows("SELECT id, mrid, description, version FROM groups ORDER BY id")]

    async def groups_of(self, end_device_id: int) -> list[GroupRecord]:
        return [GroupRecord(*r) for r in await self._rows(
            "SELECT g.id, g.mrid, g.description, g.version FROM groups g JOIN group_members m ON m.group_id = g.id "
            "WHERE m.end_device_id = ? ORDER BY g.id", (end_device_id,))]

    async def group_members(self, group_id: int) -> list[int]:
        return [r[0] for r in await self._read_rows(
            "SELECT end_device_id FROM group_members WHERE group_id = ? ORDER BY end_device_id", (group_id,))]

    async def count_group_members(self, group_id: int) -> int:
        return (await self._read_rows("SELECT count(*) FROM group_members WHERE group_id = ?", (group_id,)))[0][0]

    async def groups_with_program(self, program_id: int) -> list[int]:
        return [r[0] for r in await self._rows(
            "SELECT group_id FROM group_programs WHERE program_id = ? ORDER BY group_id", (program_id,))]

    async def group_visible_to(self, client_lfdi: str, group_id: int) -> bool:
        """Whether the group holds an enabled EndDevice the client acts for."""
        return await self._one(
            "SELECT 1 FROM group_members m JOIN end_devices e ON e.id = m.end_device_id "
            "WHERE m.group_id = ? AND e.enabled = 1 AND (e.lfdi = ? OR e.owner_lfdi = ? OR e.id IN "
            "(SELECT end_device_id FROM end_device_access WHERE client_lfdi = ?)) LIMIT 1",
            (group_id, client_lfdi, client_lfdi, client_lfdi)) is not None

    async def lfdis_acted_for(self, client_lfdi: str) -> list[str]:
        """The client's own LFDI and those of the EndDevices it acts for."""
        rows = await self._read_rows("SELECT e.lfdi FROM end_device_views v JOIN end_devices e ON e.id = v.end_device_id "
                                     "WHERE v.viewer = ?", (client_lfdi,))
        return sorted({client_lfdi, *(r[0] for r in rows)})

    async def acts_for(self, client_lfdi: str, lfdi: str) -> bool:
        """Whether lfdi is the client's own or that of an EndDevice it acts for (one of lfdis_acted_for)."""
        return lfdi == client_lfdi or await self._one(
            "SELECT 1 FROM end_devices e JOIN end_device_views v ON v.sfdi = e.sfdi AND v.viewer = ? "
            "WHERE e.lfdi = ?", (client_lfdi, lfdi)) is not None

    async def program_visible_to(self, client_lfdi: str, program_id: int) -> bool:
        """Whether the program is assigned to a group holding an EndDevice the client acts for."""
        return await self._one(
            "SELECT 1 FROM group_programs gp JOIN group_members m ON m.group_id = gp.group_id "
            "JOIN end_devices e ON e.id = m.end_device_id "
            "WHERE gp.program_id = ? AND e.enabled = 1 AND (e.lfdi = ? OR e.owner_lfdi = ? OR e.id IN "
            "(SELECT end_device_id FROM end_device_access WHERE client_lfdi = ?)) LIMIT 1",
            (program_id, client_lfdi, client_lfdi, client_lfdi)) is not None

    # -- access grants -------------------------------------------------------------

    async def set_access(self, end_device_id: int, client_lfdi: str, granted: bool, changed: Changes = ()) -> None:
        sql = ("INSERT OR IGNORE INTO end_device_access (end_device_id, client_lfdi) VALUES (?, ?)" if granted
               else "DELETE FROM end_device_access WHERE end_device_id = ? AND client_lfdi = ?")

        def apply(c: Conn) -> None:
            c.execute(sql, (end_device_id, client_lfdi))
            log_changes(c, changed)
        await self._in_transaction(apply)

    async def has_access(self, end_device_id: int, client_lfdi: str) -> bool:
        return await self._one("SELECT 1 FROM end_device_access WHERE end_device_id = ? AND client_lfdi = ?",
                         (end_device_id, client_lfdi)) is not None

    async def access_grants(self, end_device_id: int) -> list[str]:
        return [r[0] for r in await self._rows(
            "SELECT client_lfdi FROM end_device_access WHERE end_device_id = ? ORDER BY client_lfdi",
            (end_device_id,))]

    # -- client certificates the operator has shut out ---------------------------------

    async def set_client_access(self, client_lfdi: str, granted: bool, now: int) -> None:
        sql = ("DELETE FROM revoked_clients WHERE lfdi = ?" if granted
               else "INSERT OR IGNORE INTO revoked_clients (lfdi, revoked) VALUES (?, ?)")
        await self._in_transaction(lambda c: c.execute(sql, (client_lfdi,) if granted else (client_lfdi, now)))

    async def client_revoked_at(self, client_lfdi: str) -> int | None:
        """When the operator revoked this client certificate's access, or None if it has access."""
        r = await self._one("SELECT revoked FROM revoked_clients WHERE lfdi = ?", (client_lfdi,))
        return r[0] if r else None

    # -- responses ---------------------------------------------------------------------

    async def add_response(self, control_id: int, end_device_lfdi: str, status: int, created: int, received: int,
                           data: dict[str, Any]) -> int:
        return await self._in_transaction(lambda c: inserted_id(c.execute(
            "INSERT INTO responses (control_id, end_device_lfdi, status, created, received, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (control_id, end_device_lfdi, status, created, received, json.dumps(data)))))

    async def responses(self, control_id: int) -> list[ResponseRecord]:
        return [ResponseRecord(*r) for r in await self._rows(
            "SELECT id, control_id, end_device_lfdi, status, created, received FROM responses "
            "WHERE control_id = ? ORDER BY end_device_lfdi, received, id", (control_id,))]

    async def response(self, response_id: int) -> tuple[str, dict[str, Any]] | None:
        r = await self._one("SELECT end_device_lfdi, body FROM responses WHERE id = ?", (response_id,))
        return (r[0], json.loads(r[1])) if r else None

    async def response_page(self, start: int, limit: int, visible_lfdis: Sequence[str] | None
                            ) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
        """Responses, newest first; only those from visible_lfdis unless it is None."""
        where = ""
        params: tuple[str, ...] = ()
        if visible_lfdis is not None:
            where = f"WHERE end_device_lfdi IN ({','.join('?' * len(visible_lfdis))})"
            params = tuple(visible_lfdis)

        def page(c: Conn) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
            total = c.execute(f"SELECT count(*) FROM responses {where}", params).fetchone()[0]
            rows = c.execute(f"SELECT id, body FROM responses {where} ORDER BY created DESC, id DESC "
                             "LIMIT ? OFFSET ?", params + (limit, start)).fetchall()
            return total, [(r[0], json.loads(r[1])) for r in rows]
        return await self._read(page)

    async def responses_visible_to(self, client_lfdi: str, start: int, limit: int
                                   ) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
        """Responses from the client or an EndDevice it acts for, newest first: the client's rows of
        response_views, paged through list_counts."""
        def page(c: Conn) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
            total = list_index.total(c, "rsp", client_lfdi)
            found = list_index.locate(c, "rsp", client_lfdi, start, list_index.WIDE) if limit > 0 else None
            if found is None:
                return total, []
            least, skip = found
            rows = c.execute(  # the skip walks response_views' index alone; only the page's rows are joined
                "SELECT r.id, r.body FROM (SELECT list_key, created, response_id FROM response_views "
                "WHERE viewer = ? AND list_key >= ? ORDER BY list_key, created DESC, response_id DESC "
                "LIMIT ? OFFSET ?) v JOIN responses r ON r.id = v.response_id "
                "ORDER BY v.list_key, v.created DESC, v.response_id DESC", (client_lfdi, least, limit, skip)).fetchall()
            return total, [(r[0], json.loads(r[1])) for r in rows]
        return await self._read(page)

    # -- subscriptions and the outbox -------------------------------------------------

    async def add_subscription(self, end_device_id: int | None, client_lfdi: str, resource: str,
                               data: dict[str, Any]) -> int:
        """end_device_id None: into the SubscriptionList of the client's own (aggregator) EndDevice.

        The subscription hears of changes logged after it only: what came before is in what it reads now."""
        return await self._in_transaction(lambda c: inserted_id(c.execute(
            "INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body, after_change) VALUES "
            "(?, ?, ?, ?, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'changes'))",
            (end_device_id, client_lfdi, resource, json.dumps(data)))))

    async def _subscriptions(self, where: str, params: Params) -> list[SubscriptionRecord]:
        return [SubscriptionRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in await self._rows(
            "SELECT id, end_device_id, client_lfdi, resource, body, after_change FROM subscriptions "
            f"WHERE {where} ORDER BY id", params)]

    async def subscriptions(self, end_device_id: int) -> list[SubscriptionRecord]:
        return await self._subscriptions("end_device_id = ?", (end_device_id,))

    async def subscription_page(self, end_device_id: int | None, client_lfdi: str, start: int,
                                limit: int) -> Page[SubscriptionRecord]:
        """A page of a SubscriptionList by id: the EndDevice's, or (end_device_id None) the client's own
        aggregator EndDevice's, paged through list_counts."""
        list_name, owner, where = (("asub", client_lfdi, "client_lfdi = ? AND end_device_id IS NULL")
                                   if end_device_id is None else ("sub", end_device_id, "end_device_id = ?"))

        def page(c: Conn) -> Page[SubscriptionRecord]:
            total = list_index.total(c, list_name, owner)
            found = list_index.locate(c, list_name, owner, start, list_index.WIDE) if limit > 0 else None
            if found is None:
                return Page(total, [])
            least, skip = found
            rows = c.execute("SELECT id, end_device_id, client_lfdi, resource, body, after_change FROM subscriptions "
                             f"WHERE {where} AND id >= ? ORDER BY id LIMIT ? OFFSET ?",
                             (owner, least, limit, skip)).fetchall()
            return Page(total, [SubscriptionRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows])
        if limit <= 0:
            return Page(await self._lookup(list_index.total, list_name, owner), [])
        return await self._read(page)

    async def aggregator_subscriptions(self, client_lfdi: str) -> list[SubscriptionRecord]:
        """The SubscriptionList of an aggregator's own EndDevice (CSIP-AUS)."""
        return await self._subscriptions("client_lfdi = ? AND end_device_id IS NULL", (client_lfdi,))

    async def subscription(self, subscription_id: int) -> SubscriptionRecord | None:
        found = await self._subscriptions("id = ?", (subscription_id,))
        return found[0] if found else None

    async def subscribed_resources(self) -> list[str]:
        return [r[0] for r in await self._rows("SELECT DISTINCT resource FROM subscriptions ORDER BY resource")]

    async def subscriptions_to(self, resource: str) -> list[SubscriptionRecord]:
        return await self._subscriptions("resource = ?", (resource,))

    async def count_subscriptions(self, client_lfdi: str, end_device_id: int | None) -> int:
        """The client's subscriptions in one EndDevice's SubscriptionList (None: its own aggregator EndDevice's)."""
        if end_device_id is None:  # that list holds the client's alone: its kept count
            return await self._lookup(list_index.total, "asub", client_lfdi)
        return (await self._aggregate("SELECT count(*) FROM subscriptions WHERE client_lfdi = ? AND end_device_id IS ?",
                                      (client_lfdi, end_device_id)))[0]

    async def delete_subscriptions(self, subscription_ids: Sequence[int],
                                   farewells: Sequence[tuple[int, str, bytes]] = ()) -> None:
        """Deletes subscriptions, queueing their last notifications (subscription id, uri, body) at once."""
        def delete(c: Conn) -> None:
            c.executemany("DELETE FROM subscriptions WHERE id = ?", [(i,) for i in subscription_ids])
            _enqueue(c, farewells)
        await self._in_transaction(delete)

    async def pending_changes(self, limit: int = 1000) -> list[tuple[int, str, int, tuple[str, ...] | None]]:
        """(id, href, status, audience: None for everyone) of the oldest changes not yet fanned out."""
        return [(r[0], r[1], r[2], tuple(json.loads(r[3])) if r[3] is not None else None) for r in await self._rows(
            "SELECT id, resource, status, audience FROM changes ORDER BY id LIMIT ?", (limit,))]

    async def notification_backlog(self, now: int) -> tuple[int, int, int]:
        """(changes not yet fanned out, notifications queued, of which due now rather than held back)."""
        queued, due = await self._aggregate("SELECT count(*), count(*) FILTER (WHERE next_attempt <= ?) FROM outbox", (now,))
        return (await self._aggregate("SELECT count(*) FROM changes"))[0], queued, due

    async def drop_refused_subscription(self, subscription_id: int) -> None:
        """Deletes a subscription whose client refused its notifications, and everything queued for it, silently."""
        def drop(c: Conn) -> None:
            c.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
            c.execute("DELETE FROM outbox WHERE subscription_id = ?", (subscription_id,))
        await self._in_transaction(drop)


    async def fan_out(self, change_ids: Sequence[int], notifications: Sequence[tuple[int, str, bytes]],
                      ended_subscriptions: Sequence[int] = ()) -> bool:
        """Replaces handled changes by their notifications, in one transaction; False, changing nothing, if
        another pass has handled any of them meanwhile (its notifications are queued already)."""
        def apply(c: Conn) -> bool:
            pending = sum(c.execute("SELECT count(*) FROM changes WHERE id = ?", (i,)).fetchone()[0]
                          for i in change_ids)
            if pending != len(change_ids):
                return False
            c.executemany("DELETE FROM changes WHERE id = ?", [(i,) for i in change_ids])
            c.executemany("DELETE FROM subscriptions WHERE id = ?", [(i,) for i in ended_subscriptions])
            _enqueue(c, notifications)
            return True
        return await self._in_transaction(apply)

    async def outbox_heads(self, now: int, limit: int = 500) -> list[OutboxItem]:
        """The oldest undelivered notification of each notificationURI that is due, so order holds per URI."""
        return [OutboxItem(*r) for r in await self._rows(  # without bodies: outbox_queue reads those
            "SELECT o.id, o.subscription_id, o.uri, x'', o.attempts FROM outbox o "
            "JOIN (SELECT uri, min(id) AS id FROM outbox GROUP BY uri) h ON h.id = o.id "
            "WHERE o.next_attempt <= ? ORDER BY o.id LIMIT ?", (now, limit))]

    async def outbox_queue(self, uri: str, limit: int) -> list[OutboxItem]:
        return [OutboxItem(*r) for r in await self._rows(
            "SELECT id, subscription_id, uri, body, attempts FROM outbox WHERE uri = ? ORDER BY id LIMIT ?",
            (uri, limit))]

    async def outbox_failures(self, limit: int = 100) -> list[OutboxFailure]:
        """The notificationURIs whose head has failed, the longest held back first."""
        return [OutboxFailure(*r) for r in await self._rows(
            "SELECT o.uri, o.attempts, o.last_error, o.next_attempt FROM outbox o "
            "JOIN (SELECT uri, min(id) AS id FROM outbox GROUP BY uri) h ON h.id = o.id "
            "WHERE o.last_error IS NOT NULL ORDER BY o.attempts DESC, o.id LIMIT ?", (limit,))]

    async def outbox_size(self) -> int:
        return (await self._aggregate("SELECT count(*) FROM outbox"))[0]

    async def next_outbox_attempt(self) -> int | None:
        """When the next notification may go: the earliest due head of a notificationURI's queue."""
        return (await self._aggregate("SELECT min(o.next_attempt) FROM outbox o "
                               "JOIN (SELECT min(id) AS id FROM outbox GROUP BY uri) h ON h.id = o.id"))[0]

    async def outbox_delivered(self, item_ids: Sequence[int]) -> None:
        await self._in_transaction(lambda c: c.executemany(
            "DELETE FROM outbox WHERE id = ?", [(i,) for i in item_ids]))

    async def outbox_retry(self, uri: str, next_attempt: int, error: str) -> None:
        """Holds back every notification to uri until next_attempt, counting an attempt on the head."""
        def retry(c: Conn) -> None:
            c.execute("UPDATE outbox SET next_attempt = ? WHERE uri = ?", (next_attempt, uri))
            c.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? "
                      "WHERE id = (SELECT min(id) FROM outbox WHERE uri = ?)", (error[:500], uri))
        await self._in_transaction(retry)

    # -- poll and post rates --------------------------------------------------------

    async def set_rate(self, resource: str, poll_rate: int | None, post_rate: int | None,
                       changed: Changes = ()) -> None:
        def upsert(c: Conn) -> None:
            c.execute("INSERT INTO rates (resource, poll_rate, post_rate) VALUES (?, ?, ?) ON CONFLICT (resource) "
                      "DO UPDATE SET poll_rate = excluded.poll_rate, post_rate = excluded.post_rate",
                      (resource, poll_rate, post_rate))
            log_changes(c, changed)
        await self._in_transaction(upsert)

    async def rates(self) -> dict[str, tuple[int | None, int | None]]:
        return {r[0]: (r[1], r[2]) for r in await self._rows("SELECT resource, poll_rate, post_rate FROM rates")}

    # -- mirrors, for the operator --------------------------------------------------------

    async def delete_mirror_usage_points_of(self, owner_lfdi: str) -> int:
        return await self._in_transaction(lambda c: c.execute(
            "DELETE FROM mirror_usage_points WHERE owner_lfdi = ?", (owner_lfdi,)).rowcount)


def _set_states(c: Conn, states: Iterable[tuple[int, int, int, int | None]]) -> None:
    c.executemany("UPDATE controls SET status = ?, status_time = ?, potentially_superseded_time = ? WHERE id = ?",
                  [(s, t, p, i) for i, s, t, p in states])


def _enqueue(c: Conn, items: Iterable[tuple[int, str, bytes]]) -> None:
    queued_at = int(time.time())
    c.executemany("INSERT INTO outbox (subscription_id, uri, body, next_attempt, queued_at) VALUES (?, ?, ?, 0, ?)",
                  [(s, u, b, queued_at) for s, u, b in items])
