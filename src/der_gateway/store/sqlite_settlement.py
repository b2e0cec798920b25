"""Settlement's measurement intake in the store: interval readings loaded from files (per service point,
source and start, kWh kept as the exact decimal text), the batches that loaded them, and the raw telemetry
of a service point's devices that its telemetry series is derived from when read.

A service point's devices are the EndDevices of the DER assets registered at it (active or retired: a
replaced device's telemetry still measured the point while it was there); their MirrorUsagePoints are those
whose deviceLFDI is theirs, but for a premises aggregation point alone (as the participation forecast reads
them, store/sqlite_participation.py).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Sequence

from ..domain.refusals import InvalidRequest, problem
from ..domain.settlement.interval_files import IntervalRow
from ..domain.settlement.series import IntervalReading, Quality, Source
from .settlement_records import IntervalBatchRecord, IntervalLoadRecord, TelemetryMeterRecord
from .sqlite_participation import LONGEST_READING, _chunks, _marks, _mirrors_by_device
from .sqlite_plumbing import Conn, SQLitePlumbing, inserted_id

_BATCH_COLUMNS = "id, source, name, row_count, inserted, replaced, loaded_at, sha256"
_METERED = (38, 72)  # ReadingType uom: W, Wh


def _point_ids(c: Conn, external_ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(external_ids))):
        found.update((r[0], r[1]) for r in c.execute(
            f"SELECT external_id, id FROM service_points WHERE external_id IN ({_marks(chunk)})", tuple(chunk)))
    return found


def _reading(r: tuple[Any, ...]) -> IntervalReading:
    quality: Quality = "estimated" if r[3] == "estimated" else "actual"
    source: Source = "telemetry" if r[4] == "telemetry" else "cis"
    return IntervalReading(r[0], r[1], Decimal(r[2]), quality, source)


def _load(c: Conn, source: str, name: str | None, sha256: str, rows: Sequence[IntervalRow],
          now: int) -> IntervalLoadRecord:
    ids = _point_ids(c, [r.service_point for r in rows])
    missing = [problem(f"no service point {r.service_point}", r.field("servicePoint"))
               for r in rows if r.service_point not in ids]
    if missing:  # gone since the file was checked
        raise InvalidRequest(missing)
    by_point: dict[int, list[IntervalRow]] = {}
    for row in rows:
        by_point.setdefault(ids[row.service_point], []).append(row)
    inserts: list[tuple[int, IntervalReading]] = []
    updates: list[tuple[int, IntervalReading]] = []
    for sp_id, mine in by_point.items():
        starts = [r.reading.start for r in mine]
        stored = {r[0]: (r[1], Decimal(r[2]), r[3]) for r in c.execute(
            "SELECT start, duration, kwh, quality FROM interval_readings WHERE service_point_id = ? AND source = ? "
            "AND start >= ? AND start <= ?", (sp_id, source, min(starts), max(starts)))}
        for row in mine:
            r = row.reading
            before = stored.get(r.start)
            if before is None:
                inserts.append((sp_id, r))
            elif before != (r.duration, r.kwh, r.quality):
                updates.append((sp_id, r))
    unchanged = len(rows) - len(inserts) - len(updates)
    if not inserts and not updates:
        earlier = c.execute("SELECT id FROM interval_batches WHERE sha256 = ? AND source = ? ORDER BY id LIMIT 1",
                            (sha256, source)).fetchone()
        return IntervalLoadRecord(earlier[0] if earlier else None, False, len(rows), 0, 0, unchanged)
    batch_id = inserted_id(c.execute(
        "INSERT INTO interval_batches (source, name, row_count, inserted, replaced, loaded_at, sha256) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", (source, name, len(rows), len(inserts), len(updates), now, sha256)))
    c.executemany(
        "INSERT INTO interval_readings (service_point_id, source, start, duration, kwh, quality, loaded_at, "
        "batch_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(sp_id, source, r.start, r.duration, format(r.kwh, "f"), r.quality, now, batch_id)
         for sp_id, r in inserts])
    c.executemany(
        "UPDATE interval_readings SET duration = ?, kwh = ?, quality = ?, loaded_at = ?, batch_id = ? "
        "WHERE service_point_id = ? AND source = ? AND start = ?",
        [(r.duration, format(r.kwh, "f"), r.quality, now, batch_id, sp_id, source, r.start)
         for sp_id, r in updates])
    return IntervalLoadRecord(batch_id, True, len(rows), len(inserts), len(updates), unchanged)


def _telemetry(c: Conn, service_point_id: int, start: int, end: int) -> list[TelemetryMeterRecord]:
    devices = c.execute(
        "SELECT DISTINCT e.id, e.lfdi FROM der_assets a JOIN end_devices e ON e.id = a.end_device_id "
        "WHERE a.service_point_id = ? ORDER BY e.id", (service_point_id,)).fetchall()
    if not devices:
        return []
    mirrors = _mirrors_by_device(c, [lfdi for _, lfdi in devices], telemetry_only=True)
    result = []
    for end_device_id, lfdi in devices:
        mups = mirrors.get(lfdi.upper(), [])
        if not mups:
            continue
        for mmr_id, body in c.execute(f"SELECT id, body FROM mirror_meter_readings WHERE mup_id IN ({_marks(mups)}) "
                                      "ORDER BY id", tuple(mups)).fetchall():
            reading_type = json.loads(body).get("ReadingType") or {}
            if reading_type.get("uom") not in _METERED:
                continue
            readings = [(r[0], r[1], r[2], json.loads(r[3]).get("qualityFlags")) for r in c.execute(
                "SELECT start, duration, value, body FROM readings WHERE mmr_id = ? AND start > ? AND start < ? "
                "AND start + coalesce(duration, 0) > ? AND (reading_set_id IS NULL OR current = 1) "
                "ORDER BY start, id", (mmr_id, start - LONGEST_READING, end, start))]
            result.append(TelemetryMeterRecord(end_device_id, mmr_id, reading_type, readings))
    return result


class SettlementStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    async def load_intervals(self, source: str, name: str | None, sha256: str, rows: Sequence[IntervalRow],
                             now: int) -> IntervalLoadRecord:
        """Stores the rows (checked, each service point's start once) in one transaction: a reading new to its
        (service point, source, start) is inserted, one that differs from the stored one in duration, kWh or
        quality replaces it, an equal one is left.  A batch is recorded only if something changed.
        InvalidRequest (every such row named) if a service point is unknown."""
        return await self._in_transaction(lambda c: _load(c, source, name, sha256, list(rows), now))

    async def interval_readings(self, service_point_id: int, source: str, start: int,
                                end: int) -> list[IntervalReading]:
        """The service point's stored readings from the source that overlap [start, end), by start."""
        def read(c: Conn) -> list[IntervalReading]:
            return [_reading(r) for r in c.execute(
                "SELECT start, duration, kwh, quality, source FROM interval_readings WHERE service_point_id = ? "
                "AND source = ? AND start > ? AND start < ? AND start + duration > ? ORDER BY start",
                (service_point_id, source, start - 86_400, end, start))]
        return await self._read(read)

    async def interval_batch(self, batch_id: int) -> IntervalBatchRecord | None:
        r = await self._one(f"SELECT {_BATCH_COLUMNS} FROM interval_batches WHERE id = ?", (batch_id,))
        return IntervalBatchRecord(*r) if r else None

    async def service_point_telemetry(self, service_point_id: int, start: int,
                                      end: int) -> list[TelemetryMeterRecord]:
        """Each power (uom 38) or energy (uom 72) MirrorMeterReading of the service point's devices, with its
        current readings that overlap [start, end) (one that began more than a day before does not count)."""
        return await self._read(_telemetry, service_point_id, start, end)
