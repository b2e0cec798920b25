"""When each EndDevice's client last made an authenticated 2030.5 request: written in batches, counted by age."""

from __future__ import annotations

from typing import Mapping, Sequence

from . import kept_counts
from .sqlite_plumbing import Conn, SQLitePlumbing


_LATER = "ON CONFLICT (end_device_id) DO UPDATE SET at = excluded.at WHERE excluded.at > end_device_contacts.at"


class ContactStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    async def record_contacts(self, contacts: Mapping[str, int], end_devices: Mapping[int, int] = {}) -> None:
        """Each LFDI's EndDevice (if it has one), and each EndDevice of end_devices (by id, if it exists), last made
        contact at the time given, unless it is known later."""
        if not contacts and not end_devices:
            return

        def record(c: Conn) -> None:
            if contacts:
                c.executemany(f"INSERT INTO end_device_contacts (end_device_id, at) SELECT id, ? FROM end_devices "
                              f"WHERE lfdi = ? {_LATER}", [(at, lfdi.upper()) for lfdi, at in contacts.items()])
            if end_devices:
                c.executemany(f"INSERT INTO end_device_contacts (end_device_id, at) SELECT id, ? FROM end_devices "
                              f"WHERE id = ? {_LATER}", [(at, i) for i, at in end_devices.items()])

        await self._in_transaction(record)

    async def devices_by_contact_age(self, now: int, bounds: Sequence[int]) -> list[int]:
        """len(bounds) + 1 counts of EndDevices: those whose last contact is within bounds[0] seconds of now, within
        bounds[1] but not bounds[0], ..., and the rest (older, or never); bounds ascending."""
        def count(c: Conn) -> list[int]:
            # each recent contact is read once, by index (disjoint ranges); the rest is the kept total less them
            edges = [None, *(now - bound for bound in bounds)]
            within = [c.execute("SELECT count(*) FROM end_device_contacts WHERE at >= ?" if newer is None else
                                "SELECT count(*) FROM end_device_contacts WHERE at >= ? AND at < ?",
                                (older,) if newer is None else (older, newer)).fetchone()[0]
                      for newer, older in zip(edges, edges[1:])]
            return [*within, kept_counts.kept(c, kept_counts.END_DEVICES) - sum(within)]
        if any(b > a for a, b in zip(bounds[1:], bounds)):
            raise ValueError("bounds must be ascending")
        return await self._read(count)
