"""The devices an event calls, as the operator console shows them: how many got how far (one grouped query), a page
of them by EndDevice id, and their real power summed per reading start, all computed in the database.

How far a device got (domain/progress.py) is computed in SQL from the Response statuses it sent for the event
(matched by LFDI, in upper or lower case, through the responses' index on control and LFDI) and from whether its
stage reserved it while the stage has not ended; over a utility event's stages a device counts as its furthest.
"""

from __future__ import annotations

from typing import Any

from ..domain import progress
from .console_records import CalledDeviceRecord, EventScope
from .sqlite_plumbing import Conn, SQLitePlumbing
from .sqlite_utility.membership import TARGETED_END_DEVICES

WATTS = 38  # ReadingType uom
PREMISES_ONLY = ("2", "3", "6", "7")  # a roleFlags' last hex digit with isPremisesAggregationPoint and not isDER


def _rank(step: str) -> int:
    return progress.FURTHEST.index(step)


def _statuses(codes: Any) -> str:
    return ", ".join(str(code) for code in sorted(codes))


_STEPS = {step: [code for code, s in progress.STEP.items() if s == step] for step in set(progress.STEP.values())}
_STEP = ("CASE " + " ".join(f"WHEN r.status IN ({_statuses(codes)}) THEN {_rank(step)}"
                            for step, codes in sorted(_STEPS.items(), key=lambda i: _rank(i[0])))
         + f" ELSE {_rank(progress.NO_RESPONSE)} END")
# the furthest step of a device in one event, over its responses (r) and whether it is reserved (c.reserved)
_FURTHEST = (f"CASE WHEN max(CASE WHEN r.status IN ({_statuses(progress.DECLINED)}) THEN 1 ELSE 0 END) = 1 "
             f"THEN {_rank(progress.OPTED_OUT)} "
             f"WHEN max({_STEP}) > {_rank(progress.RESERVED)} THEN max({_STEP}) "
             f"WHEN max(c.reserved) = 1 THEN {_rank(progress.RESERVED)} "
             f"WHEN count(r.id) > 0 THEN {_rank(progress.RECEIVED)} ELSE {_rank(progress.NO_RESPONSE)} END")

_STAGE_CALLED = (
    "SELECT s.control_id, p.end_device_id, p.lfdi, CASE WHEN k.start + k.duration > ? AND EXISTS (SELECT 1 FROM "
    "stage_reservations v WHERE v.stage_id = s.id AND v.end_device_id = p.end_device_id AND v.reserved = 1) "
    "THEN 1 ELSE 0 END FROM event_stages s JOIN controls k ON k.id = s.control_id "
    "JOIN stage_participation p ON p.stage_id = s.id WHERE s.{column} = ?")
_NONE_CALLED = "SELECT 0, 0, '', 0 WHERE 1 = 0"


def _called(c: Conn, scope: EventScope, now: int) -> tuple[str, tuple[Any, ...]]:
    """The SQL (and its parameters) of the devices the event calls: (control_id, end_device_id, lfdi, reserved),
    one row per stage that called the device."""
    if scope.kind == "utility_event":
        return _STAGE_CALLED.format(column="event_id"), (now, scope.id)
    if c.execute("SELECT 1 FROM event_stages WHERE control_id = ?", (scope.id,)).fetchone():
        return _STAGE_CALLED.format(column="control_id"), (now, scope.id)
    program = c.execute("SELECT program_id FROM controls WHERE id = ?", (scope.id,)).fetchone()
    if program is None:
        return _NONE_CALLED, ()
    return f"SELECT {int(scope.id)}, t.id, t.lfdi, 0 FROM ({TARGETED_END_DEVICES}) t", (program[0],)


def _ranked(where: str = "") -> str:
    """CTEs after `called`: each device's furthest step (devices: end_device_id, lfdi, furthest)."""
    return (f"ranked AS (SELECT c.end_device_id, c.lfdi, {_FURTHEST} AS furthest FROM called c "
            "LEFT JOIN responses r ON r.control_id = c.control_id AND r.end_device_lfdi IN (upper(c.lfdi), "
            f"lower(c.lfdi)) {where} GROUP BY c.control_id, c.end_device_id, c.lfdi), "
            "devices AS (SELECT end_device_id, max(lfdi) AS lfdi, max(furthest) AS furthest FROM ranked "
            "GROUP BY end_device_id)")


class EventDevicesStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    def _json_value(self, column: str, *keys: str) -> str:
        """SQL for the value at keys in the JSON text of column (NULL if absent)."""
        return f"json_extract({column}, '$.{'.'.join(keys)}')"

    def _json_integer(self, column: str, *keys: str) -> str:
        return f"CAST({self._json_value(column, *keys)} AS INTEGER)"

    async def event_device_counts(self, scope: EventScope, now: int) -> dict[str, int]:
        """How many of the devices the event calls got how far, every step of domain/progress.PROGRESS present."""
        def read(c: Conn) -> dict[str, int]:
            called, params = _called(c, scope, now)
            rows = c.execute(f"WITH called (control_id, end_device_id, lfdi, reserved) AS ({called}), {_ranked()} "
                             "SELECT furthest, count(*) FROM devices GROUP BY furthest", params).fetchall()
            counts = dict.fromkeys(progress.PROGRESS, 0)
            for furthest, n in rows:
                counts[progress.FURTHEST[furthest]] += int(n)
            return counts
        return await self._read(read)

    async def event_device_page(self, scope: EventScope, now: int, start: int,
                                limit: int) -> list[CalledDeviceRecord]:
        """The devices the event calls from index start (by EndDevice id), at most limit, with how far each got;
        only these are judged."""
        def read(c: Conn) -> list[CalledDeviceRecord]:
            called, params = _called(c, scope, now)
            rows = c.execute(
                f"WITH called (control_id, end_device_id, lfdi, reserved) AS ({called}), "
                "page AS (SELECT end_device_id FROM called GROUP BY end_device_id ORDER BY end_device_id "
                f"LIMIT ? OFFSET ?), {_ranked('WHERE c.end_device_id IN (SELECT end_device_id FROM page)')} "
                "SELECT end_device_id, lfdi, furthest FROM devices ORDER BY end_device_id",
                (*params, limit, start)).fetchall()
            return [CalledDeviceRecord(r[0], r[1], progress.FURTHEST[r[2]]) for r in rows]
        return await self._read(read)

    async def fleet_power(self, scope: EventScope, now: int, start: int, end: int) -> list[tuple[int, float]]:
        """The real power (W) of the devices the event calls, summed per reading start in [start, end): the current
        readings of the active-power (uom 38) MirrorMeterReadings of their MirrorUsagePoints that are not a
        premises aggregation point alone (roleFlags bit 1 without bit 3); of a device's total (no phase) when it
        has one, else of its phases, as settlement counts a device's energy (domain/settlement/telemetry.py)."""
        def telemetry(mup: str) -> str:
            flags = f"coalesce({self._json_value(f'{mup}.body', 'roleFlags')}, '')"
            return (f"NOT coalesce(substr({flags}, length({flags}), 1) IN "
                    f"({', '.join(repr(d) for d in PREMISES_ONLY)}), FALSE)")

        def total_watts(mmr: str) -> str:
            return (f"{self._json_integer(f'{mmr}.body', 'ReadingType', 'uom')} = {WATTS} "
                    f"AND coalesce({self._json_integer(f'{mmr}.body', 'ReadingType', 'phase')}, 0) = 0")

        power_of_ten = f"coalesce({self._json_integer('m.body', 'ReadingType', 'powerOfTenMultiplier')}, 0)"

        def read(c: Conn) -> list[tuple[int, float]]:
            called, params = _called(c, scope, now)
            rows = c.execute(
                f"WITH called (control_id, end_device_id, lfdi, reserved) AS ({called}), "
                "lfdis AS (SELECT DISTINCT upper(lfdi) AS lfdi FROM called) "
                f"SELECT r.start, {power_of_ten}, sum(r.value) FROM lfdis d "
                "JOIN mirror_usage_points u ON u.device_lfdi = d.lfdi JOIN mirror_meter_readings m ON m.mup_id = u.id "
                "JOIN readings r ON r.mmr_id = m.id "
                f"WHERE {self._json_integer('m.body', 'ReadingType', 'uom')} = {WATTS} AND {telemetry('u')} "
                f"AND ({total_watts('m')} OR NOT EXISTS (SELECT 1 FROM mirror_usage_points tu "
                "JOIN mirror_meter_readings t ON t.mup_id = tu.id WHERE tu.device_lfdi = u.device_lfdi "
                f"AND {telemetry('tu')} AND {total_watts('t')})) "
                "AND r.start >= ? AND r.start < ? AND r.value IS NOT NULL "
                f"AND (r.reading_set_id IS NULL OR r.current = 1) GROUP BY r.start, {power_of_ten}",
                (*params, start, end)).fetchall()
            sums: dict[int, float] = {}
            for at, power, total in rows:
                sums[at] = sums.get(at, 0) + int(total) * 10 ** int(power)
            return sorted(sums.items())
        return await self._read(read)
