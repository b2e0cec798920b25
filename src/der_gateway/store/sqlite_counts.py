"""Counts that several resources show at once, read in one query rather than one per item."""

from __future__ import annotations

import sqlite3
from typing import Sequence

from .base import EndDeviceCounts


class CountStore:
    _reader: sqlite3.Connection

    async def end_device_counts(self, end_device_ids: Sequence[int]) -> dict[int, EndDeviceCounts]:
        """For each EndDevice: its DERs, LogEvents, groups and subscriptions, as der_numbers, log_events,
        groups_of and subscriptions count them."""
        if not end_device_ids:
            return {}
        ids = list(dict.fromkeys(end_device_ids))
        rows = self._reader.execute(
            "SELECT e.id, "
            "(SELECT count(*) FROM ders WHERE end_device_id = e.id), "
            "(SELECT count(*) FROM log_events WHERE end_device_id = e.id), "
            "(SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.end_device_id = e.id), "
            "(SELECT count(*) FROM subscriptions WHERE end_device_id = e.id) "
            f"FROM end_devices e WHERE e.id IN ({','.join('?' * len(ids))})", ids).fetchall()
        return {r[0]: EndDeviceCounts(r[1], r[2], r[3], r[4]) for r in rows}
