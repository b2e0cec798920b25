"""SQLite persistence of utility events, their stages and the durable participation record.

A stage is written in the transaction that adds its DERControl, with the
devices it calls and its SCHEDULED report to operations.  Each later status
report is written with a guard on the last one reported, so that two passes
(a restart, a new leader) never report one twice; likewise the settlement of
a stage's outcomes.  Reports go out through the sync outbox (one message per
endpoint, as enrollment sync does), linked to their stage.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from .interface import Changes
from .sqlite_plumbing import Conn, Row, SQLitePlumbing, inserted_id
from .sync_queue import endpoint_ids
from .sqlite_control_plane import insert_control, log_changes
from ..sep import paths
from .sqlite_utility.membership import join_groups, leave_groups
from .stage_records import (NewStage, ParticipationRecord, ReservationRecord, StageDispatch, StageRecord,
                            StageTransitionRecord, Transition, UtilityEventRecord)

_STAGE_COLUMNS = ("id, event_id, position, control_id, program_id, target_w, reported, settled_at, exported_at, "
                  "dispatch_program_id, dispatch_group_id")
_RESERVATION_COLUMNS = "end_device_id, lfdi, reserved, reason, score, available, forecast_w, rank"
_EVENT_COLUMNS = "id, mrid, description, created, cancelled_at, archived_at"
_PARTICIPATION_COLUMNS = "stage_id, end_device_id, lfdi, called_at, control_mrid, visible_at, outcome, responses"


def _stage(r: Row) -> StageRecord:
    return StageRecord(*r)


def _participation(r: Row) -> ParticipationRecord:
    responses = tuple(tuple(x) for x in json.loads(r[7])) if r[7] is not None else None
    return ParticipationRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], responses)  # type: ignore[arg-type]


def _enqueue(c: Conn, kind: str, body: dict[str, Any], now: int, stage_id: int,
             transition_id: int | None = None) -> None:
    """One sync message per endpoint, each linked to its stage (and the transition it reports)."""
    event_id = c.execute("SELECT event_id FROM event_stages WHERE id = ?", (stage_id,)).fetchone()[0]
    payload = json.dumps({"kind": kind, **body, "eventId": event_id, "stageId": stage_id})
    for endpoint_id in endpoint_ids(c):
        message_id = inserted_id(c.execute(
            "INSERT INTO sync_messages (endpoint_id, kind, enrollment_id, body, state, created) "
            "VALUES (?, ?, NULL, ?, 'queued', ?)", (endpoint_id, kind, payload, now)))
        c.execute("INSERT INTO stage_sync_messages (message_id, stage_id, transition_id) VALUES (?, ?, ?)",
                  (message_id, stage_id, transition_id))


def _dispatch(c: Conn, dispatch: StageDispatch, reserved: Sequence[tuple[int, str]], event_mrid: str,
              position: int, now: int) -> tuple[int, int]:
    """The stage's own DERProgram and group, the reserved devices its members, on record: (program, group)."""
    program_id = inserted_id(c.execute("INSERT INTO programs (mrid, description, primacy) VALUES (?, ?, ?)",
                                       (dispatch.program_mrid.upper(), dispatch.program_description,
                                        dispatch.primacy)))
    group_id = inserted_id(c.execute("INSERT INTO groups (mrid, description) VALUES (?, ?)",
                                     (dispatch.group_mrid.upper(), dispatch.group_description)))
    c.execute("INSERT INTO group_programs (group_id, program_id) VALUES (?, ?)", (group_id, program_id))
    for edev, _ in reserved:
        join_groups(c, edev, [group_id], now, "reservation",
                    f"reserved for stage {position} of event {event_mrid.upper()}")
    return program_id, group_id


def _transition(c: Conn, stage_id: int, t: Transition, now: int) -> None:
    tid = inserted_id(c.execute("INSERT INTO stage_transitions (stage_id, status, at, recorded) VALUES (?, ?, ?, ?)",
                                (stage_id, t.status, t.at, now)))
    _enqueue(c, "stage-status", t.message, now, stage_id, tid)


class StageStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    # -- writes ------------------------------------------------------------------------------

    async def add_utility_event(self, mrid: str, description: str | None, now: int, stages: Sequence[NewStage],
                                states: Iterable[tuple[int, int, int, int | None]], changed: Changes) -> int:
        """The event with its stages, in one transaction: each stage's DERControl (add_control's writes, with the
        new states of the programs' other events), the devices it calls and its SCHEDULED report.  Raises
        Conflict when an mRID is taken."""
        def insert(c: Conn) -> int:
            event_id = inserted_id(c.execute(
                "INSERT INTO utility_events (mrid, description, created) VALUES (?, ?, ?)",
                (mrid.upper(), description, now)))
            for position, stage in enumerate(stages, start=1):
                new = stage.control
                first = position == 1  # the other events' states and the changes are written once, with it
                program_id, group_id = new.program_id, None
                if stage.dispatch is not None:
                    program_id, group_id = _dispatch(c, stage.dispatch, stage.called, mrid, position, now)
                control_id = insert_control(c, program_id, new.mrid, new.creation_time, new.start, new.duration,
                                            new.data, new.status, new.status_time, states if first else (),
                                            changed if first else ())
                stage_id = inserted_id(c.execute(
                    "INSERT INTO event_stages (event_id, position, control_id, program_id, target_w, reported, "
                    "dispatch_program_id, dispatch_group_id) VALUES (?, ?, ?, ?, ?, 'SCHEDULED', ?, ?)",
                    (event_id, position, control_id, new.program_id, stage.target_w,
                     program_id if stage.dispatch is not None else None, group_id)))
                c.executemany(
                    "INSERT INTO stage_participation (stage_id, end_device_id, lfdi, called_at, control_mrid, "
                    "visible_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [(stage_id, edev, lfdi.upper(), new.creation_time, new.mrid, new.creation_time)
                     for edev, lfdi in stage.called])
                c.executemany(
                    f"INSERT INTO stage_reservations (stage_id, {_RESERVATION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(stage_id, r.end_device_id, r.lfdi.upper(), int(r.reserved), r.reason, r.score,
                      int(r.available), r.forecast_w, rank) for rank, r in enumerate(stage.reservation, start=1)])
                log_changes(c, stage.changed)
                _transition(c, stage_id, Transition("SCHEDULED", new.creation_time, stage.message), now)
                if stage.reservation_message is not None:
                    _enqueue(c, "stage-reservation", stage.reservation_message, now, stage_id)
            return event_id
        return await self._in_transaction(insert)

    async def record_stage_transitions(self, stage_id: int, reported: str | None, transitions: Sequence[Transition],
                                       now: int) -> bool:
        """Records the transitions and queues their reports, if the last status reported is still `reported`;
        False (nothing written) if another pass moved it first."""
        def record(c: Conn) -> bool:
            if not transitions:
                return False
            moved = c.execute("UPDATE event_stages SET reported = ? WHERE id = ? AND reported IS ?",
                              (transitions[-1].status, stage_id, reported)).rowcount
            if moved != 1:
                return False
            for t in transitions:
                _transition(c, stage_id, t, now)
            return True
        return await self._in_transaction(record)

    async def settle_stage(self, stage_id: int, outcomes: Sequence[tuple[int, str, Sequence[tuple[int, int, int]]]],
                           message: dict[str, Any], now: int) -> bool:
        """Writes each called device's outcome and Responses, (end_device_id, outcome, responses), and queues the
        stage's outcome report, unless the stage was settled already (False)."""
        def settle(c: Conn) -> bool:
            if c.execute("UPDATE event_stages SET settled_at = ? WHERE id = ? AND settled_at IS NULL",
                         (now, stage_id)).rowcount != 1:
                return False
            c.executemany("UPDATE stage_participation SET outcome = ?, responses = ? "
                          "WHERE stage_id = ? AND end_device_id = ?",
                          [(o, json.dumps([list(r) for r in rs]), stage_id, edev) for edev, o, rs in outcomes])
            _enqueue(c, "stage-outcomes", message, now, stage_id)
            return True
        return await self._in_transaction(settle)

    async def stage_exported(self, stage_id: int, now: int) -> None:
        await self._in_transaction(lambda c: c.execute(
            "UPDATE event_stages SET exported_at = ? WHERE id = ? AND exported_at IS NULL", (now, stage_id)))

    async def cancel_utility_event(self, event_id: int, now: int) -> None:
        await self._in_transaction(lambda c: c.execute(
            "UPDATE utility_events SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL", (now, event_id)))

    async def archive_controls(self, control_ids: Sequence[int], now: int, event_id: int | None = None) -> None:
        """Archives the DERControls (and the utility event, whose stages' groups go: their devices no longer
        find the stages' programs); archiving again changes nothing."""
        def archive(c: Conn) -> None:
            c.executemany("INSERT INTO archived_controls (control_id, archived_at) VALUES (?, ?) "
                          "ON CONFLICT (control_id) DO NOTHING", [(cid, now) for cid in control_ids])
            if event_id is not None:
                c.execute("UPDATE utility_events SET archived_at = ? WHERE id = ? AND archived_at IS NULL",
                          (now, event_id))
                for position, group_id in c.execute(
                        "SELECT position, dispatch_group_id FROM event_stages WHERE event_id = ? "
                        "AND dispatch_group_id IS NOT NULL ORDER BY position", (event_id,)).fetchall():
                    members = [r[0] for r in c.execute("SELECT end_device_id FROM group_members WHERE group_id = ? "
                                                       "ORDER BY end_device_id", (group_id,)).fetchall()]
                    for edev in members:
                        leave_groups(c, edev, [group_id], now, "reservation",
                                     f"stage {position} of the event was archived")
                    c.execute("DELETE FROM groups WHERE id = ?", (group_id,))
                    log_changes(c, [paths.fsa_list(e) for e in members])
        await self._in_transaction(archive)

    # -- reads -----------------------------------------------------------------------------------

    async def utility_event(self, event_id: int) -> UtilityEventRecord | None:
        found = await self._read(_events, "WHERE e.id = ?", (event_id,))
        return found[0] if found else None

    async def utility_event_by_mrid(self, mrid: str) -> UtilityEventRecord | None:
        found = await self._read(_events, "WHERE e.mrid = ?", (mrid.upper(),))
        return found[0] if found else None

    async def utility_events(self, archived: bool = False) -> list[UtilityEventRecord]:
        """Every utility event, by id; those archived only if `archived`."""
        return await self._read(_events, "" if archived else "WHERE e.archived_at IS NULL", ())

    async def stage(self, stage_id: int) -> StageRecord | None:
        r = await self._one(f"SELECT {_STAGE_COLUMNS} FROM event_stages WHERE id = ?", (stage_id,))
        return _stage(r) if r else None

    async def stage_of_control(self, control_id: int) -> StageRecord | None:
        r = await self._one(f"SELECT {_STAGE_COLUMNS} FROM event_stages WHERE control_id = ?", (control_id,))
        return _stage(r) if r else None

    async def unfinished_stages(self, after: int = 0, limit: int = 500) -> list[StageRecord]:
        """Stages whose outcome files are not yet written (those the scheduler still has work for), by id from
        `after`."""
        return [_stage(r) for r in await self._rows(
            f"SELECT {_STAGE_COLUMNS} FROM event_stages WHERE exported_at IS NULL AND id > ? ORDER BY id LIMIT ?",
            (after, limit))]

    async def stage_transitions(self, stage_id: int) -> list[StageTransitionRecord]:
        return await self._read(_transitions, stage_id)

    async def participation(self, control_id: int) -> list[ParticipationRecord]:
        """The devices the DERControl's stage called, by EndDevice id; [] if it is not a stage's."""
        return [_participation(r) for r in await self._rows(
            f"SELECT {', '.join('p.' + c.strip() for c in _PARTICIPATION_COLUMNS.split(','))} "
            "FROM stage_participation p JOIN event_stages s ON s.id = p.stage_id WHERE s.control_id = ? "
            "ORDER BY p.end_device_id", (control_id,))]

    async def reservation(self, stage_id: int) -> list[ReservationRecord]:
        """The devices the stage considered, in the order it considered them."""
        return [ReservationRecord(r[0], r[1], bool(r[2]), r[3], r[4], bool(r[5]), r[6], r[7]) for r in await self._rows(
            f"SELECT {_RESERVATION_COLUMNS} FROM stage_reservations WHERE stage_id = ? ORDER BY rank",
            (stage_id,))]

    async def dispatch_programs(self) -> dict[int, int]:
        """The DERPrograms made for stages: program id -> the id of the program the stage is of."""
        return dict(await self._rows("SELECT dispatch_program_id, program_id FROM event_stages "
                                     "WHERE dispatch_program_id IS NOT NULL"))

    async def recorded_controls(self, program_id: int) -> list[int]:
        """The program's DERControls that have a participation record (a stage, or a Response), or are archived:
        those are never deleted."""
        return [r[0] for r in await self._rows(
            "SELECT id FROM controls c WHERE program_id = ? AND (EXISTS (SELECT 1 FROM responses r WHERE "
            "r.control_id = c.id) OR EXISTS (SELECT 1 FROM event_stages s WHERE s.control_id = c.id) "
            "OR EXISTS (SELECT 1 FROM archived_controls a WHERE a.control_id = c.id)) ORDER BY id",
            (program_id,))]

    async def archived_controls(self, program_id: int) -> dict[int, int]:
        """control id -> when it was archived, of the program's archived DERControls."""
        return dict(await self._rows(
            "SELECT a.control_id, a.archived_at FROM archived_controls a JOIN controls c ON c.id = a.control_id "
            "WHERE c.program_id = ?", (program_id,)))

    async def control_archived_at(self, control_id: int) -> int | None:
        r = await self._one("SELECT archived_at FROM archived_controls WHERE control_id = ?", (control_id,))
        return r[0] if r else None


def _events(c: Conn, where: str, params: tuple) -> list[UtilityEventRecord]:
    """The events `where` picks (a clause on utility_events e), each with its stages."""
    events = c.execute(f"SELECT {', '.join('e.' + x.strip() for x in _EVENT_COLUMNS.split(','))} "
                       f"FROM utility_events e {where} ORDER BY e.id", params).fetchall()
    if not events:
        return []
    stages: dict[int, list[StageRecord]] = {}
    for r in c.execute(f"SELECT {', '.join('s.' + x.strip() for x in _STAGE_COLUMNS.split(','))} "
                       f"FROM event_stages s JOIN utility_events e ON e.id = s.event_id {where} "
                       "ORDER BY s.event_id, s.position", params).fetchall():
        stages.setdefault(r[1], []).append(_stage(r))
    return [UtilityEventRecord(e[0], e[1], e[2], e[3], e[4], e[5], tuple(stages.get(e[0], ()))) for e in events]


def _transitions(c: Conn, stage_id: int) -> list[StageTransitionRecord]:
    states: dict[int, list[tuple[int, str]]] = {}
    for tid, endpoint_id, state in c.execute(
            "SELECT l.transition_id, m.endpoint_id, m.state FROM stage_sync_messages l "
            "JOIN sync_messages m ON m.id = l.message_id WHERE l.stage_id = ? AND l.transition_id IS NOT NULL "
            "ORDER BY m.endpoint_id", (stage_id,)).fetchall():
        states.setdefault(tid, []).append((endpoint_id, state))
    return [StageTransitionRecord(r[0], r[1], r[2], r[3], r[4], tuple(states.get(r[0], ()))) for r in c.execute(
        "SELECT id, stage_id, status, at, recorded FROM stage_transitions WHERE stage_id = ? ORDER BY id",
        (stage_id,)).fetchall()]
