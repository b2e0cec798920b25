"""Event participation in the store: what a program's devices look like for their score and forecast, their
telemetry history, and the scores kept per program and device.

A device's last contact is the newest of: a Response it sent (received), a LogEvent it posted, a reading of
its MirrorUsagePoints received, and the times its own DERStatus, DERAvailability and DERSettings carry.
Its MirrorUsagePoints are those whose deviceLFDI is its LFDI; for telemetry history, those that are not a
premises aggregation point alone (roleFlags bit 1 without bit 3, isDER).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from .participation_records import (DeviceScoreRecord, ParticipantRecord, PowerSeriesRecord,
                                    ProgramHistoryRecord)
from .sqlite_plumbing import Conn, Row, SQLitePlumbing
from .sync_queue import enqueue_sync

PREMISES, IS_DER = 1, 3  # MirrorUsagePoint roleFlags bits
LONGEST_READING = 86_400  # seconds: telemetry history reads no reading that began longer before a window
SCORE_MESSAGE = "device-scores"
_SCORE_COLUMNS = ("program_id, end_device_id, lfdi, service_point, score, available, reasons, components, events, "
                  "computed")


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))


def _score(r: Row) -> DeviceScoreRecord:
    return DeviceScoreRecord(r[0], r[1], r[2], r[3], float(r[4]), bool(r[5]), tuple(json.loads(r[6])),
                             json.loads(r[7]), json.loads(r[8]), r[9])


def _role_flags(body: dict[str, Any]) -> int:
    try:
        return int(body.get("roleFlags") or "0", 16)
    except ValueError:
        return 0


def _mirrors_by_device(c: Conn, lfdis: Iterable[str], telemetry_only: bool = False) -> dict[str, list[int]]:
    """deviceLFDI (upper case) -> the ids of its MirrorUsagePoints, for the devices given."""
    found: dict[str, list[int]] = {}
    for chunk in _chunks(sorted({lfdi.upper() for lfdi in lfdis})):
        for mup_id, lfdi, body in c.execute(
                f"SELECT id, device_lfdi, body FROM mirror_usage_points WHERE device_lfdi IN ({_marks(chunk)}) "
                "ORDER BY id", tuple(chunk)):
            flags = _role_flags(json.loads(body))
            if telemetry_only and flags >> PREMISES & 1 and not flags >> IS_DER & 1:
                continue
            found.setdefault(lfdi, []).append(mup_id)
    return found


def _first_der(by_der: dict[int, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The documents of the first DER with a DERCapability, else of the first DER."""
    with_capability = [docs for _, docs in sorted(by_der.items()) if "dercap" in docs]
    if with_capability:
        return with_capability[0]
    return by_der[min(by_der)] if by_der else {}


def _newest(times: Iterable[Any]) -> int | None:
    known = [int(t) for t in times if isinstance(t, int)]
    return max(known) if known else None


def _participants_of(c: Conn, devices: Sequence[Row], mirrors: dict[str, list[int]]) -> list[ParticipantRecord]:
    """Up to a chunk of devices (id, lfdi, enabled, registered_at), a few queries for all of them."""
    if not devices:
        return []
    ids, lfdis = [d[0] for d in devices], [d[1] for d in devices]
    service_points: dict[int, tuple[int, str]] = {}
    for end_device_id, sp_id, external_id in c.execute(
            f"SELECT a.end_device_id, s.id, s.external_id FROM der_assets a JOIN service_points s "
            f"ON s.id = a.service_point_id WHERE a.end_device_id IN ({_marks(ids)}) AND a.status = 'active' "
            "ORDER BY a.id", tuple(ids)):
        service_points.setdefault(end_device_id, (sp_id, external_id))
    documents: dict[int, dict[int, dict[str, dict[str, Any]]]] = {}
    for end_device_id, n, kind, body in c.execute(
            f"SELECT end_device_id, n, kind, body FROM der_documents WHERE end_device_id IN ({_marks(ids)})",
            tuple(ids)):
        documents.setdefault(end_device_id, {}).setdefault(n, {})[kind] = json.loads(body)
    responded = dict(c.execute(f"SELECT end_device_lfdi, max(received) FROM responses WHERE end_device_lfdi IN "
                               f"({_marks(lfdis)}) GROUP BY end_device_lfdi", tuple(lfdis)).fetchall())
    logged = dict(c.execute(f"SELECT end_device_id, max(created) FROM log_events WHERE end_device_id IN "
                            f"({_marks(ids)}) GROUP BY end_device_id", tuple(ids)).fetchall())
    mups = [m for lfdi in lfdis for m in mirrors.get(lfdi.upper(), [])]
    mirrored: dict[int, Any] = {}
    for chunk in _chunks(mups):
        mirrored.update(c.execute(f"SELECT m.mup_id, max(r.received) FROM readings r JOIN mirror_meter_readings m "
                                  f"ON m.id = r.mmr_id WHERE m.mup_id IN ({_marks(chunk)}) GROUP BY m.mup_id",
                                  tuple(chunk)).fetchall())
    result = []
    for end_device_id, lfdi, enabled, registered_at in devices:
        docs = _first_der(documents.get(end_device_id, {}))
        sp = service_points.get(end_device_id)
        contact = _newest([responded.get(lfdi), logged.get(end_device_id),
                           *(mirrored.get(m) for m in mirrors.get(lfdi.upper(), [])),
                           docs.get("ders", {}).get("readingTime"), docs.get("dera", {}).get("readingTime"),
                           docs.get("derg", {}).get("updatedTime")])
        result.append(ParticipantRecord(end_device_id, lfdi, bool(enabled), registered_at,
                                        sp[0] if sp else None, sp[1] if sp else None, docs, contact))
    return result


def _participants(c: Conn, end_device_ids: Sequence[int]) -> list[ParticipantRecord]:
    result = []
    for chunk in _chunks(sorted(set(end_device_ids))):
        devices = c.execute(f"SELECT id, lfdi, enabled, registered_at FROM end_devices WHERE id IN ({_marks(chunk)}) "
                            "ORDER BY id", tuple(chunk)).fetchall()
        result += _participants_of(c, devices, _mirrors_by_device(c, [d[1] for d in devices]))
    return result


def _program_history(c: Conn, program_id: int, since: int, now: int) -> ProgramHistoryRecord:
    targeted = [r[0] for r in c.execute(
        "SELECT DISTINCT e.id FROM group_programs gp JOIN group_members m ON m.group_id = gp.group_id "
        "JOIN end_devices e ON e.id = m.end_device_id WHERE gp.program_id = ? AND e.enabled = 1 ORDER BY e.id",
        (program_id,))]
    # the program's events, and those of its stages that reserved their devices (each in a DERProgram of its own)
    events = [(r[0], r[1]) for r in c.execute(
        "SELECT id, start FROM controls WHERE (program_id = ? OR program_id IN (SELECT dispatch_program_id FROM "
        "event_stages WHERE program_id = ?)) AND start + duration > ? AND start + duration <= ? "
        "AND (cancelled_at IS NULL OR cancelled_at > start) ORDER BY start, id", (program_id, program_id, since, now))]
    # a stage's event counts only for the devices it called
    called: dict[int, set[int]] = {}
    for chunk in _chunks([e for e, _ in events]):
        for control_id, end_device_id in c.execute(
                "SELECT s.control_id, p.end_device_id FROM event_stages s JOIN stage_participation p "
                f"ON p.stage_id = s.id WHERE s.control_id IN ({_marks(chunk)})", tuple(chunk)):
            called.setdefault(control_id, set()).add(end_device_id)
    staged = {r[0] for chunk in _chunks([e for e, _ in events]) for r in c.execute(
        f"SELECT control_id FROM event_stages WHERE control_id IN ({_marks(chunk)})", tuple(chunk))}
    statuses: dict[tuple[int, str], list[int]] = {}
    ids = [e for e, _ in events]
    for chunk in _chunks(ids):
        for control_id, lfdi, status in c.execute(
                f"SELECT control_id, end_device_lfdi, status FROM responses WHERE control_id IN ({_marks(chunk)}) "
                "ORDER BY id", tuple(chunk)):
            statuses.setdefault((control_id, lfdi.upper()), []).append(status)
    devices = []
    for p in _participants(c, targeted):
        mine = {e: tuple(statuses.get((e, p.lfdi.upper()), ())) for e in ids
                if e not in staged or p.end_device_id in called.get(e, ())}
        devices.append(ParticipantRecord(p.end_device_id, p.lfdi, p.enabled, p.registered_at, p.service_point_id,
                                         p.service_point, p.documents, p.last_contact, mine))
    return ProgramHistoryRecord(devices, events)


def _power_history(c: Conn, end_device_ids: Sequence[int],
                   windows: Sequence[tuple[int, int]]) -> list[PowerSeriesRecord]:
    result = []
    for chunk in _chunks(sorted(set(end_device_ids))):
        devices = c.execute(f"SELECT id, lfdi FROM end_devices WHERE id IN ({_marks(chunk)}) ORDER BY id",
                            tuple(chunk)).fetchall()
        mirrors = _mirrors_by_device(c, [lfdi for _, lfdi in devices], telemetry_only=True)
        for end_device_id, lfdi in devices:
            mups = mirrors.get(lfdi.upper(), [])
            if not mups:
                continue
            for mmr_id, body in c.execute(f"SELECT id, body FROM mirror_meter_readings WHERE mup_id IN "
                                          f"({_marks(mups)}) ORDER BY id", tuple(mups)).fetchall():
                reading_type = json.loads(body).get("ReadingType") or {}
                if reading_type.get("uom") != 38:  # W: the forecast reads active power only
                    continue
                readings: dict[int, tuple[int, int | None, int | None]] = {}  # by id: windows may overlap
                for lo, hi in sorted(windows):
                    for r in c.execute(
                            "SELECT id, start, duration, value FROM readings WHERE mmr_id = ? AND start > ? "
                            "AND start < ? AND (start >= ? OR start + coalesce(duration, 0) > ?) "
                            "AND (reading_set_id IS NULL OR current = 1)", (mmr_id, lo - LONGEST_READING, hi, lo, lo)):
                        readings[r[0]] = (r[1], r[2], r[3])
                in_order = sorted(readings, key=lambda i: (readings[i][0], i))
                result.append(PowerSeriesRecord(end_device_id, mmr_id, reading_type, [readings[i] for i in in_order]))
    return result


class ParticipationStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    async def program_history(self, program_id: int, since: int, now: int) -> ProgramHistoryRecord:
        """The enabled devices the program reaches through its groups, each with the statuses it sent for the
        program's events that ended in (since, now] and were not cancelled before they began."""
        return await self._read(_program_history, program_id, since, now)

    async def participants(self, end_device_ids: Sequence[int]) -> list[ParticipantRecord]:
        """The devices given that exist, by id (without event statuses)."""
        return await self._read(_participants, list(end_device_ids))

    async def power_history(self, end_device_ids: Sequence[int],
                            windows: Sequence[tuple[int, int]]) -> list[PowerSeriesRecord]:
        """Each active-power (uom 38) MirrorMeterReading of the devices' MirrorUsagePoints, with its readings
        that overlap one of the windows [start, end) (one that began more than a day before a window does not
        count for it)."""
        return await self._read(_power_history, list(end_device_ids), list(windows))

    async def save_device_scores(self, program_id: int, computed: int, scores: Sequence[DeviceScoreRecord],
                                 message: dict[str, Any] | None = None) -> int:
        """Replaces the program's scores with these (skipping a device deleted meanwhile) and queues the message,
        if any, to every sync endpoint, in one transaction; returns how many messages were queued."""
        def save(c: Conn) -> int:
            c.execute("INSERT INTO device_score_runs (program_id, computed) VALUES (?, ?) "
                      "ON CONFLICT (program_id) DO UPDATE SET computed = excluded.computed", (program_id, computed))
            c.execute("DELETE FROM device_scores WHERE program_id = ?", (program_id,))
            c.executemany(
                f"INSERT INTO device_scores ({_SCORE_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM end_devices WHERE id = ?)",
                [(program_id, s.end_device_id, s.lfdi, s.service_point, s.score, int(s.available),
                  json.dumps(list(s.reasons)), json.dumps(s.components), json.dumps(s.events), computed,
                  s.end_device_id) for s in scores])
            return enqueue_sync(c, SCORE_MESSAGE, message, computed) if message is not None else 0
        return await self._in_transaction(save)

    async def device_scores(self, program_id: int) -> tuple[int | None, list[DeviceScoreRecord]]:
        """(when the program's devices were last scored, None if never; their scores, best first)."""
        def read(c: Conn) -> tuple[int | None, list[DeviceScoreRecord]]:
            run = c.execute("SELECT computed FROM device_score_runs WHERE program_id = ?", (program_id,)).fetchone()
            rows = c.execute(f"SELECT {_SCORE_COLUMNS} FROM device_scores WHERE program_id = ? "
                             "ORDER BY available DESC, score DESC, end_device_id", (program_id,)).fetchall()
            return (run[0] if run else None), [_score(r) for r in rows]
        return await self._read(read)

    async def device_score(self, program_id: int, end_device_id: int) -> DeviceScoreRecord | None:
        r = await self._one(f"SELECT {_SCORE_COLUMNS} FROM device_scores WHERE program_id = ? AND end_device_id = ?",
                            (program_id, end_device_id))
        return _score(r) if r else None
