"""What the operator console reads: device search and summaries, a device's responses, enrollments and telemetry,
counts by state, and a sync message queued again.  Every query is bounded and reads by index; the substring searches
(customer, service point, feeder) read their small tables in order until `limit` rows match."""

from __future__ import annotations

import json
from typing import Sequence

from .console_records import (DeviceEnrollmentRecord, DeviceResponseRecord, DeviceSummaryRecord,
                              TelemetrySeriesRecord)
from .sqlite_plumbing import Conn, Row, SQLitePlumbing

SEARCH_FIELDS = ("lfdi", "sfdi", "customer", "service-point", "feeder")
SFDI_DIGITS = 13  # an SFDI is 36 bits in decimal and a check digit: at most 12 digits
HEX = frozenset("0123456789ABCDEF")


def _marks(items: Sequence[object]) -> str:
    return ",".join("?" * len(items))


def _like(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') that matches text anywhere, lower case."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _by_lfdi(c: Conn, q: str, limit: int) -> list[int]:
    prefix = q.upper()
    if not prefix or not set(prefix) <= HEX:
        return []
    return [r[0] for r in c.execute("SELECT id FROM end_devices WHERE lfdi >= ? AND lfdi < ? ORDER BY lfdi LIMIT ?",
                                    (prefix, prefix + "G", limit))]


def _by_sfdi(c: Conn, q: str, limit: int) -> list[int]:
    if not q.isdigit() or len(q) > SFDI_DIGITS or (q.startswith("0") and q != "0"):
        return []
    found: list[int] = []
    value = int(q)
    for extra in range(SFDI_DIGITS - len(q) + 1):  # the SFDIs of each length that start with these digits
        if len(found) >= limit:
            break
        low, high = value * 10 ** extra, (value + 1) * 10 ** extra
        found += [r[0] for r in c.execute("SELECT id FROM end_devices WHERE sfdi >= ? AND sfdi < ? ORDER BY sfdi "
                                          "LIMIT ?", (low, high, limit - len(found)))]
        if value == 0:
            break
    return found


def _devices_of(c: Conn, column: str, ids: list[int], limit: int) -> list[int]:
    if not ids:
        return []
    return [r[0] for r in c.execute(
        f"SELECT DISTINCT end_device_id FROM der_assets WHERE {column} IN ({_marks(ids)}) "
        "AND end_device_id IS NOT NULL ORDER BY end_device_id LIMIT ?", (*ids, limit))]


def _number(q: str) -> int:
    return int(q) if q.isdigit() and len(q) < 19 else -1


def _by_customer(c: Conn, q: str, limit: int) -> list[int]:
    customers = [r[0] for r in c.execute(
        "SELECT id FROM customers WHERE id = ? OR lower(name) LIKE ? ESCAPE '\\' "
        "OR lower(external_id) LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?", (_number(q), _like(q), _like(q), limit))]
    return _devices_of(c, "customer_id", customers, limit)


def _by_service_point(c: Conn, q: str, limit: int) -> list[int]:
    points = [r[0] for r in c.execute(
        "SELECT id FROM service_points WHERE id = ? OR lower(external_id) LIKE ? ESCAPE '\\' "
        "OR lower(coalesce(address, '')) LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?",
        (_number(q), _like(q), _like(q), limit))]
    return _devices_of(c, "service_point_id", points, limit)


def _by_feeder(c: Conn, q: str, limit: int) -> list[int]:
    points = [r[0] for r in c.execute(
        "SELECT id FROM service_points WHERE lower(feeder) LIKE ? ESCAPE '\\' ORDER BY id LIMIT ?", (_like(q), limit))]
    return _devices_of(c, "service_point_id", points, limit)


_SEARCHES = {"lfdi": _by_lfdi, "sfdi": _by_sfdi, "customer": _by_customer, "service-point": _by_service_point,
             "feeder": _by_feeder}


def _search(c: Conn, q: str, by: str | None, limit: int) -> list[DeviceSummaryRecord]:
    found: list[int] = []
    for field in (by,) if by else SEARCH_FIELDS:
        for end_device_id in _SEARCHES[field](c, q, limit):
            if end_device_id not in found:
                found.append(end_device_id)
    return _summaries(c, found[:limit])


def _summaries(c: Conn, end_device_ids: Sequence[int]) -> list[DeviceSummaryRecord]:
    """The summaries of the EndDevices given that exist, in the order given."""
    if not end_device_ids:
        return []
    ids = list(end_device_ids)
    devices = {r[0]: r for r in c.execute(
        f"SELECT e.id, e.lfdi, e.sfdi, e.enabled, e.owner_lfdi, t.at FROM end_devices e "
        f"LEFT JOIN end_device_contacts t ON t.end_device_id = e.id WHERE e.id IN ({_marks(ids)})", tuple(ids))}
    places: dict[int, Row] = {}
    for r in c.execute(
            "SELECT a.end_device_id, u.id, u.name, s.id, s.external_id, s.feeder FROM der_assets a "
            "JOIN customers u ON u.id = a.customer_id JOIN service_points s ON s.id = a.service_point_id "
            f"WHERE a.end_device_id IN ({_marks(ids)}) AND a.status = 'active' ORDER BY a.id DESC", tuple(ids)):
        places.setdefault(r[0], r)
    result = []
    for end_device_id in ids:
        d = devices.get(end_device_id)
        if d is None:
            continue
        p = places.get(end_device_id)
        result.append(DeviceSummaryRecord(
            d[0], d[1], d[2], bool(d[3]), d[4] if d[4].upper() != d[1].upper() else None,
            (p[1], p[2]) if p else None, (p[3], p[4]) if p else None, p[5] if p else None, d[5]))
    return result


def _telemetry(c: Conn, lfdi: str, since: int, limit: int) -> list[TelemetrySeriesRecord]:
    series = []
    mups = [r[0] for r in c.execute("SELECT id FROM mirror_usage_points WHERE device_lfdi = ? ORDER BY id",
                                    (lfdi.upper(),))]
    for mup_id in mups:
        for mmr_id, body in c.execute("SELECT id, body FROM mirror_meter_readings WHERE mup_id = ? ORDER BY id",
                                      (mup_id,)).fetchall():
            data = json.loads(body)
            readings = [(r[0], r[1]) for r in c.execute(
                "SELECT start, value FROM readings WHERE mmr_id = ? AND start >= ? AND value IS NOT NULL "
                "AND (reading_set_id IS NULL OR current = 1) ORDER BY start, id LIMIT ?", (mmr_id, since, limit))]
            series.append(TelemetrySeriesRecord(mup_id, mmr_id, data.get("description"),
                                                data.get("ReadingType") or {}, readings))
    return series


class ConsoleStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    async def search_end_devices(self, q: str, by: str | None, limit: int) -> list[DeviceSummaryRecord]:
        """EndDevices matching q: an LFDI (hex, any case) or SFDI (digits) that starts with it, or a customer, a
        service point or a feeder whose name or id holds it (any case); by one field (SEARCH_FIELDS) or, None,
        any of them; at most limit."""
        return await self._read(_search, q, by, limit)

    async def device_summaries(self, end_device_ids: Sequence[int]) -> list[DeviceSummaryRecord]:
        return await self._read(_summaries, list(end_device_ids))

    async def device_responses(self, lfdi: str, limit: int) -> list[DeviceResponseRecord]:
        """The Responses the device (or an aggregator for it) sent, newest first; the LFDI as sent, in upper or
        lower case, each read newest first by index."""
        def read(c: Conn) -> list[Row]:
            return [r for variant in {lfdi.upper(), lfdi.lower()} for r in c.execute(
                "SELECT body, status, created, control_id, id FROM responses WHERE end_device_lfdi = ? "
                "ORDER BY created DESC LIMIT ?", (variant, limit))]
        rows = sorted(await self._read(read), key=lambda r: (r[2], r[4]), reverse=True)[:limit]
        return [DeviceResponseRecord(json.loads(r[0]).get("subject") or "", r[1], r[2], r[3]) for r in rows]

    async def device_enrollments(self, end_device_id: int) -> list[DeviceEnrollmentRecord]:
        rows = await self._read_rows(
            "SELECT n.id, n.program_id, coalesce(p.description, p.mrid), n.status, n.sync_status, n.sync_reason "
            "FROM der_assets a JOIN enrollments n ON n.der_asset_id = a.id LEFT JOIN programs p ON p.id = n.program_id "
            "WHERE a.end_device_id = ? ORDER BY n.id DESC LIMIT 1000", (end_device_id,))
        return [DeviceEnrollmentRecord(*r) for r in rows]

    async def device_telemetry(self, lfdi: str, since: int, limit: int = 10_000) -> list[TelemetrySeriesRecord]:
        """Each MirrorMeterReading of the MirrorUsagePoints that mirror the device, with its current readings
        (at most limit each) that start at since or later."""
        return await self._read(_telemetry, lfdi, since, limit)

    async def timeline_controls(self, start: int, end: int, limit: int) -> list[tuple[int, int | None]]:
        """The events (DERControls) that overlap [start, end), by end, at most limit: (control id, the utility event
        whose stage it is, or None)."""
        return [(r[0], r[1]) for r in await self._read_rows(
            "SELECT c.id, s.event_id FROM controls c LEFT JOIN event_stages s ON s.control_id = c.id "
            "WHERE (c.start + c.duration) > ? AND c.start < ? ORDER BY (c.start + c.duration), c.id LIMIT ?",
            (start, end, limit))]

    async def service_task_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in await self._read_rows("SELECT state, count(*) FROM service_tasks GROUP BY state")}

    async def enrollment_sync_counts(self) -> dict[str, int]:
        rows = await self._read_rows("SELECT coalesce(sync_status, 'none'), count(*) FROM enrollments "
                                     "GROUP BY coalesce(sync_status, 'none')")
        return {r[0]: r[1] for r in rows}

    async def recent_enrollments(self, limit: int) -> list[int]:
        return [r[0] for r in await self._read_rows("SELECT id FROM enrollments ORDER BY id DESC LIMIT ?", (limit,))]

    async def requeue_sync_message(self, message_id: int, now: int) -> bool:
        """Sends a failing message (queued, its last attempt failed) now rather than after its back-off, with the
        rest of its endpoint's queue; or queues a rejected one again, to be sent now.  False if it is neither."""
        def requeue(c: Conn) -> bool:
            row = c.execute("SELECT endpoint_id, state, last_error FROM sync_messages WHERE id = ?",
                            (message_id,)).fetchone()
            if row is None:
                return False
            endpoint_id, state, last_error = row
            if state == "queued" and last_error is not None:
                c.execute("UPDATE sync_messages SET next_attempt = ? WHERE endpoint_id = ? AND state = 'queued'",
                          (now, endpoint_id))
                return True
            if state == "rejected":
                c.execute("UPDATE sync_messages SET state = 'queued', next_attempt = ?, ack_reason = NULL "
                          "WHERE id = ?", (now, message_id))
                return True
            return False
        return await self._in_transaction(requeue)
