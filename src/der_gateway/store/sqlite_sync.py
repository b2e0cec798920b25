"""SQLite persistence of enrollment sync (operational endpoints, the sync outbox and its
acknowledgements) and of network locations (substations, feeders and transformers, each an FSA group).

Sync messages are queued by `sync_queue.enqueue_sync` in the transaction of the
change they report.  Each endpoint's queued messages go out in id order; a
message leaves the queue as 'sent' (the receiver answered 2xx), and becomes
'acknowledged' or 'rejected' when the receiver acknowledges it.

Network-location groups hold the enrolled EndDevices of the service points on
that location: an import reconciles their membership, logging each moved
EndDevice's FunctionSetAssignmentsList as changed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import AbstractSet, Iterable, Sequence

from ..domain import network
from ..domain.identifiers import Pen, new_mrid
from ..sep import paths
from . import sqlite_control_plane
from .sqlite_billing import settle_billing_ack
from .sqlite_plumbing import Conn, Row, SQLitePlumbing, inserted_id
from .sync_queue import OPERATIONS
from .sqlite_utility.membership import (enrollment_programs, joining_problems, record as record_membership,
                                         withdraw_rejected_enrollment)
from .base import (AckConflict, AckResult, ImportSummary, NetworkImportRejected, NetworkLocationRecord,
                   SyncEndpointRecord, SyncMessageRecord)

DELETED = 4  # Notification.status: the subscribed resource was deleted
SYNCHRONIZED = "Synchronized"
SYNC_ERROR = "Error"
ENROLLED = "Enrolled"


_MESSAGE_COLUMNS = ("id, endpoint_id, kind, enrollment_id, body, state, attempts, next_attempt, last_error, "
                    "ack_reason, created")


def _message(r: Row) -> SyncMessageRecord:
    return SyncMessageRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6], r[7], r[8], r[9], r[10])


def _chunks(items: Sequence, size: int = 500) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class SyncStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    # -- operational endpoints ----------------------------------------------------

    async def sync_endpoints(self) -> list[SyncEndpointRecord]:
        return [SyncEndpointRecord(*r) for r in await self._rows(
            "SELECT id, name, url, purpose FROM sync_endpoints ORDER BY id")]

    async def sync_endpoint(self, endpoint_id: int) -> SyncEndpointRecord | None:
        r = await self._one("SELECT id, name, url, purpose FROM sync_endpoints WHERE id = ?", (endpoint_id,))
        return SyncEndpointRecord(*r) if r else None

    async def create_sync_endpoint(self, name: str, url: str, purpose: str = OPERATIONS) -> int:
        """Raises Conflict when the name is taken."""
        return await self._in_transaction(lambda c: inserted_id(c.execute(
            "INSERT INTO sync_endpoints (name, url, purpose) VALUES (?, ?, ?)", (name, url, purpose))))

    async def update_sync_endpoint(self, endpoint_id: int, name: str, url: str) -> None:
        """Queued messages go to the new URL (its purpose stays).  Raises Conflict when the name is taken."""
        await self._in_transaction(lambda c: c.execute(
            "UPDATE sync_endpoints SET name = ?, url = ? WHERE id = ?", (name, url, endpoint_id)))

    async def delete_sync_endpoint(self, endpoint_id: int) -> None:
        """Deletes the endpoint with every message queued for it or sent to it."""
        await self._in_transaction(lambda c: c.execute("DELETE FROM sync_endpoints WHERE id = ?", (endpoint_id,)))

    async def ensure_sync_endpoints(self, endpoints: dict[str, str]) -> None:
        """Creates the endpoints named (name -> url), or points existing ones at the url given."""
        if endpoints:
            await self._in_transaction(lambda c: c.executemany(
                "INSERT INTO sync_endpoints (name, url) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET url = excluded.url", list(endpoints.items())))

    async def sync_counts(self) -> dict[int, dict[str, int]]:
        """endpoint id -> state -> how many messages."""
        counts: dict[int, dict[str, int]] = {}
        for endpoint_id, state, n in await self._rows(
                "SELECT endpoint_id, state, count(*) FROM sync_messages GROUP BY endpoint_id, state"):
            counts.setdefault(endpoint_id, {})[state] = n
        return counts

    # -- the sync outbox ------------------------------------------------------------

    async def sync_message(self, message_id: int) -> SyncMessageRecord | None:
        r = await self._one(f"SELECT {_MESSAGE_COLUMNS} FROM sync_messages WHERE id = ?", (message_id,))
        return _message(r) if r else None

    async def sync_messages(self, *, state: str | None = None, endpoint_id: int | None = None,
                            kind: str | None = None, enrollment_id: int | None = None, after: int = 0,
                            limit: int = 100) -> tuple[int, list[SyncMessageRecord]]:
        """(how many match, the first `limit` of them with an id above `after`, by id)."""
        where, params = ["1 = 1"], []
        for column, value in (("state", state), ("endpoint_id", endpoint_id), ("kind", kind),
                              ("enrollment_id", enrollment_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = " AND ".join(where)
        total = (await self._aggregate(f"SELECT count(*) FROM sync_messages WHERE {clause}", tuple(params)))[0]
        rows = await self._rows(f"SELECT {_MESSAGE_COLUMNS} FROM sync_messages WHERE {clause} AND id > ? "
                          "ORDER BY id LIMIT ?", (*params, after, limit))
        return total, [_message(r) for r in rows]

    async def sync_heads(self, now: int, limit: int = 500) -> list[SyncMessageRecord]:
        """The oldest queued message of each endpoint, where it is due: order holds per endpoint."""
        return [_message(r) for r in await self._rows(
            f"SELECT {', '.join('m.' + c.strip() for c in _MESSAGE_COLUMNS.split(','))} FROM sync_messages m "
            "JOIN (SELECT endpoint_id, min(id) AS id FROM sync_messages WHERE state = 'queued' "
            "GROUP BY endpoint_id) h ON h.id = m.id WHERE m.next_attempt <= ? ORDER BY m.id LIMIT ?",
            (now, limit))]

    async def sync_queue(self, endpoint_id: int, limit: int) -> list[SyncMessageRecord]:
        return [_message(r) for r in await self._rows(
            f"SELECT {_MESSAGE_COLUMNS} FROM sync_messages WHERE endpoint_id = ? AND state = 'queued' "
            "ORDER BY id LIMIT ?", (endpoint_id, limit))]

    async def next_sync_attempt(self) -> int | None:
        """When the next message may go: the earliest head of an endpoint's queue."""
        return (await self._aggregate("SELECT min(m.next_attempt) FROM sync_messages m JOIN (SELECT min(id) AS id "
                               "FROM sync_messages WHERE state = 'queued' GROUP BY endpoint_id) h ON h.id = m.id"))[0]

    async def sync_sent(self, message_id: int) -> None:
        """The receiver took it (2xx).  An acknowledgement that came first stands."""
        await self._in_transaction(lambda c: c.execute(
            "UPDATE sync_messages SET state = 'sent', attempts = attempts + 1, last_error = NULL "
            "WHERE id = ? AND state = 'queued'", (message_id,)))

    async def sync_retry(self, endpoint_id: int, next_attempt: int, error: str) -> None:
        """Holds back every queued message of the endpoint until next_attempt, counting an attempt on the head."""
        def retry(c: Conn) -> None:
            c.execute("UPDATE sync_messages SET next_attempt = ? WHERE endpoint_id = ? AND state = 'queued'",
                      (next_attempt, endpoint_id))
            c.execute("UPDATE sync_messages SET attempts = attempts + 1, last_error = ? WHERE id = "
                      "(SELECT min(id) FROM sync_messages WHERE endpoint_id = ? AND state = 'queued')",
                      (error[:500], endpoint_id))
        await self._in_transaction(retry)

    async def acknowledge_sync_message(self, message_id: int, ok: bool, reason: str | None,
                                       now: int) -> AckResult | None:
        """Records the receiver's acknowledgement and, for a message about an enrollment, moves the
        enrollment's sync_status: 'Error' (with the reason) on a negative one; 'Synchronized' once the
        latest message about it to every endpoint is acknowledged.  None if there is no such message;
        AckConflict if it was acknowledged the other way already."""
        state = "acknowledged" if ok else "rejected"

        def ack(c: Conn) -> AckResult | None:
            row = c.execute(f"SELECT {_MESSAGE_COLUMNS} FROM sync_messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                return None
            message = _message(row)
            if message.state in ("acknowledged", "rejected"):
                if message.state != state:
                    raise AckConflict(f"message {message_id} was {message.state} already")
                return AckResult(message, False, _enrollment_sync(c, message.enrollment_id))
            c.execute("UPDATE sync_messages SET state = ?, ack_reason = ? WHERE id = ?", (state, reason, message_id))
            settle_billing_ack(c, message_id, ok, reason, now)
            if message.enrollment_id is not None:
                if not ok:
                    c.execute("UPDATE enrollments SET sync_status = ?, sync_reason = ?, updated = ? WHERE id = ?",
                              (SYNC_ERROR, reason, now, message.enrollment_id))
                    withdraw_rejected_enrollment(c, message.enrollment_id, now, reason)
                else:
                    pending = c.execute(
                        "SELECT count(*) FROM sync_messages m JOIN (SELECT endpoint_id, max(id) AS id "
                        "FROM sync_messages WHERE enrollment_id = ? GROUP BY endpoint_id) latest "
                        "ON latest.id = m.id WHERE m.state != 'acknowledged'", (message.enrollment_id,)).fetchone()[0]
                    if pending == 0:
                        c.execute("UPDATE enrollments SET sync_status = ?, sync_reason = NULL, updated = ? "
                                  "WHERE id = ?", (SYNCHRONIZED, now, message.enrollment_id))
            updated = _message(c.execute(f"SELECT {_MESSAGE_COLUMNS} FROM sync_messages WHERE id = ?",
                                         (message_id,)).fetchone())
            return AckResult(updated, True, _enrollment_sync(c, message.enrollment_id))

        return await self._in_transaction(ack)

    async def enrollment_sync_status(self, enrollment_id: int) -> tuple[str | None, str | None] | None:
        r = await self._one("SELECT sync_status, sync_reason FROM enrollments WHERE id = ?", (enrollment_id,))
        return (r[0], r[1]) if r else None

    # -- network locations --------------------------------------------------------------

    async def network_locations(self, kind: str | None = None) -> list[NetworkLocationRecord]:
        where, params = ("WHERE kind = ?", (kind,)) if kind else ("", ())
        members: dict[int, int] = dict(await self._rows("SELECT m.group_id, count(*) FROM group_members m "
                                  "JOIN network_locations l ON l.group_id = m.group_id GROUP BY m.group_id"))
        service_points = {(k, name): n for k in network.KINDS for name, n in await self._rows(
            f"SELECT {k}, count(*) FROM service_points WHERE {k} IS NOT NULL GROUP BY {k}")}
        return [NetworkLocationRecord(lid, k, name, parent, group, members.get(group, 0),
                                      service_points.get((k, name), 0))
                for lid, k, name, parent, group in await self._rows(
                    f"SELECT id, kind, name, parent_id, group_id FROM network_locations {where} "
                    "ORDER BY CASE kind WHEN 'substation' THEN 0 WHEN 'feeder' THEN 1 ELSE 2 END, name", params)]

    async def unknown_service_points(self, external_ids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        unique = sorted(set(external_ids))
        for chunk in _chunks(unique):
            known.update(r[0] for r in await self._rows(
                f"SELECT external_id FROM service_points WHERE external_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk)))
        return set(unique) - known

    async def import_network_locations(self, rows: Sequence[network.LocationRow], mode: str,
                                       pen: Pen) -> ImportSummary:
        """Applies rows that passed domain.network's checks, all or nothing (NetworkImportRejected
        when a service point is unknown)."""
        if mode not in network.MODES:
            raise ValueError(f"mode must be one of {', '.join(network.MODES)}")
        return await self._in_transaction(lambda c: _import(c, list(rows), mode, pen))

    async def reconcile_network_groups(self) -> int:
        """Puts every enrolled EndDevice in the groups of its service point's locations (and no others);
        returns how many EndDevices moved."""
        def apply(c: Conn) -> int:
            moved = reconcile_location_groups(c)
            sqlite_control_plane.log_changes(c, [paths.fsa_list(e) for e in moved])
            return len(moved)
        return await self._in_transaction(apply)


def _enrollment_sync(c: Conn, enrollment_id: int | None) -> tuple[int, str | None, str | None] | None:
    if enrollment_id is None:
        return None
    r = c.execute("SELECT id, sync_status, sync_reason FROM enrollments WHERE id = ?", (enrollment_id,)).fetchone()
    return (r[0], r[1], r[2]) if r else None


# -- the import, inside one transaction ------------------------------------------------------

def _import(c: Conn, rows: list[network.LocationRow], mode: str, pen: Pen) -> ImportSummary:
    sp_ids: dict[str, int] = {}
    external = sorted({r.service_point for r in rows})
    for chunk in _chunks(external):
        sp_ids.update(c.execute(f"SELECT external_id, id FROM service_points WHERE external_id IN "
                                f"({','.join('?' * len(chunk))})", tuple(chunk)).fetchall())
    unknown = [network.problem(f"no service point {r.service_point}", r.field("servicePoint"))
               for r in rows if r.service_point not in sp_ids]
    if unknown:
        raise NetworkImportRejected(unknown)

    wanted = network.hierarchy(rows)
    existing = {(kind, name): (lid, parent, group) for lid, kind, name, parent, group in c.execute(
        "SELECT id, kind, name, parent_id, group_id FROM network_locations")}
    created = moved = 0

    def ensure(kind: str, name: str, parent_id: int | None) -> int:
        nonlocal created, moved
        found = existing.get((kind, name))
        if found is None:
            group_id = inserted_id(c.execute("INSERT INTO groups (mrid, description) VALUES (?, ?)",
                                             (new_mrid(pen), network.description(kind, name))))
            lid = inserted_id(c.execute(
                "INSERT INTO network_locations (kind, name, parent_id, group_id) VALUES (?, ?, ?, ?)",
                (kind, name, parent_id, group_id)))
            existing[(kind, name)] = (lid, parent_id, group_id)
            created += 1
            return lid
        lid, old_parent, group_id = found
        if old_parent != parent_id:
            c.execute("UPDATE network_locations SET parent_id = ? WHERE id = ?", (parent_id, lid))
            existing[(kind, name)] = (lid, parent_id, group_id)
            moved += 1
        return lid

    for substation in sorted(wanted.substations):
        ensure("substation", substation, None)
    for feeder, substation in sorted(wanted.feeders.items()):
        ensure("feeder", feeder, existing[("substation", substation)][0])
    for transformer, feeder in sorted(wanted.transformers.items()):
        ensure("transformer", transformer, existing[("feeder", feeder)][0])

    # the service points: those given, then (initial) nothing else, then every one on a moved
    # transformer or feeder follows it
    before = {r[0]: r[1:] for r in c.execute("SELECT id, transformer, feeder, substation FROM service_points")}
    if mode == "initial":
        c.execute("UPDATE service_points SET transformer = NULL, feeder = NULL, substation = NULL "
                  "WHERE transformer IS NOT NULL OR feeder IS NOT NULL OR substation IS NOT NULL")
    c.executemany("UPDATE service_points SET transformer = ?, feeder = ?, substation = ? WHERE id = ?",
                  [(r.transformer, r.feeder, r.substation, sp_ids[r.service_point]) for r in rows])
    c.execute("""
        UPDATE service_points SET
            feeder = (SELECT f.name FROM network_locations t JOIN network_locations f ON f.id = t.parent_id
                      WHERE t.kind = 'transformer' AND t.name = service_points.transformer),
            substation = (SELECT s.name FROM network_locations t JOIN network_locations f ON f.id = t.parent_id
                          JOIN network_locations s ON s.id = f.parent_id
                          WHERE t.kind = 'transformer' AND t.name = service_points.transformer)
        WHERE transformer IN (SELECT t.name FROM network_locations t JOIN network_locations f
                              ON f.id = t.parent_id WHERE t.kind = 'transformer' AND f.parent_id IS NOT NULL)""")
    after = {r[0]: r[1:] for r in c.execute("SELECT id, transformer, feeder, substation FROM service_points")}
    sp_changed = sum(1 for k, v in after.items() if before.get(k) != v)

    # an initial load removes the locations it does not name, children first
    stale: list[tuple[int, int]] = []
    if mode == "initial":
        named = ({("substation", s) for s in wanted.substations} | {("feeder", f) for f in wanted.feeders}
                 | {("transformer", t) for t in wanted.transformers})
        order = {kind: i for i, kind in enumerate(reversed(network.KINDS))}
        by_kind = sorted(existing.items(), key=lambda item: order[item[0][0]])
        stale = [(lid, group) for (kind, name), (lid, _, group) in by_kind
                 if (kind, name) not in named]

    end_devices = reconcile_location_groups(c, exclude_groups={g for _, g in stale})
    changed: list[str | tuple[str, int]] = [paths.fsa_list(e) for e in end_devices]
    for lid, group_id in stale:
        c.execute("DELETE FROM network_locations WHERE id = ?", (lid,))
        c.execute("SAVEPOINT stale_group")
        try:  # a group something else still refers to (a program rule, say) stays, empty
            c.execute("DELETE FROM groups WHERE id = ?", (group_id,))
        except sqlite3.IntegrityError:
            c.execute("ROLLBACK TO stale_group")
        else:
            changed.append((paths.program_list(group_id), DELETED))
        c.execute("RELEASE stale_group")
    sqlite_control_plane.log_changes(c, changed)
    return ImportSummary(mode, len(rows), sp_changed, created, moved, len(stale), len(end_devices))


def reconcile_location_groups(c: Conn, end_device_ids: Iterable[int] | None = None,
                              exclude_groups: AbstractSet[int] = frozenset()) -> list[int]:
    """Inside a transaction: makes the location groups hold exactly the enrolled EndDevices of the
    service points on each location (an enrolled EndDevice: of an active DER asset with an enrollment in
    status 'Enrolled').  Only the EndDevices given, if any.  Returns the EndDevices whose groups changed;
    the caller logs their paths.fsa_list as changed.  Groups in exclude_groups (about to be deleted)
    are emptied."""
    group_of = {(kind, name): group for kind, name, group in c.execute(
        "SELECT kind, name, group_id FROM network_locations")
        if group not in exclude_groups}
    location_groups = {group for _, _, group in c.execute("SELECT kind, name, group_id FROM network_locations")}
    wanted: set[tuple[int, int]] = set()
    for edev, transformer, feeder, substation in c.execute(
            "SELECT DISTINCT a.end_device_id, s.transformer, s.feeder, s.substation FROM der_assets a "
            "JOIN service_points s ON s.id = a.service_point_id "
            "WHERE a.status = 'active' AND a.end_device_id IS NOT NULL AND EXISTS "
            "(SELECT 1 FROM enrollments e WHERE e.der_asset_id = a.id AND e.status = ?)", (ENROLLED,)):
        for kind, name in (("transformer", transformer), ("feeder", feeder), ("substation", substation)):
            group = group_of.get((kind, name)) if name else None
            if group is not None:
                wanted.add((group, edev))
    current = {(g, e) for g, e in c.execute("SELECT group_id, end_device_id FROM group_members")
               if g in location_groups}
    if end_device_ids is not None:
        only = set(end_device_ids)
        wanted = {x for x in wanted if x[1] in only}
        current = {x for x in current if x[1] in only}
    add, remove = sorted(wanted - current), sorted(current - wanted)
    ruled = {g for g in {g for g, _ in add} if enrollment_programs(c, g)}  # holding a program with rules
    add = [(g, e) for g, e in add if g not in ruled or not joining_problems(c, g, [e], "")]
    c.executemany("INSERT OR IGNORE INTO group_members (group_id, end_device_id) VALUES (?, ?)", add)
    c.executemany("DELETE FROM group_members WHERE group_id = ? AND end_device_id = ?", remove)
    now = int(time.time())
    for (group, edev), kind in [(x, "joined") for x in add] + [(x, "left") for x in remove]:
        record_membership(c, group, edev, kind, now, "network", "the network locations put its service point "
                          + ("on" if kind == "joined" else "no longer on") + " this group's location")
    return sorted({e for _, e in add} | {e for _, e in remove})
