"""Each program's pricing and its loaded prices (domain/settlement/prices.py), as exact decimal text."""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from ..domain.settlement.prices import Pricing, PricePoint
from .price_records import PriceLoad
from .sqlite_plumbing import Conn, SQLitePlumbing


class PriceStore(SQLitePlumbing):
    """Mixed into SQLiteStore."""

    async def set_pricing(self, program_id: int, pricing: Pricing) -> None:
        await self._in_transaction(lambda c: c.execute(
            "INSERT INTO program_pricing (program_id, kind, currency, fixed_price) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (program_id) DO UPDATE SET kind = excluded.kind, currency = excluded.currency, "
            "fixed_price = excluded.fixed_price",
            (program_id, pricing.kind, pricing.currency,
             str(pricing.fixed_price) if pricing.fixed_price is not None else None)))

    async def pricing(self, program_id: int) -> Pricing | None:
        r = await self._one("SELECT kind, currency, fixed_price FROM program_pricing WHERE program_id = ?",
                            (program_id,))
        return Pricing(r[0], r[1], Decimal(r[2]) if r[2] is not None else None) if r else None

    async def load_prices(self, program_id: int, points: Sequence[PricePoint], now: int) -> PriceLoad:
        """Adds the prices, replacing a different one for the same start (one that overlaps otherwise is
        replaced too, so that the program's prices never overlap); loading the same again changes nothing."""
        def load(c: Conn) -> PriceLoad:
            inserted = replaced = unchanged = 0
            for p in points:
                same = c.execute("SELECT duration, price FROM program_prices WHERE program_id = ? AND start = ?",
                                 (program_id, p.start)).fetchone()
                if same is not None and same[0] == p.duration and Decimal(same[1]) == p.price:
                    unchanged += 1
                    continue
                gone = c.execute("DELETE FROM program_prices WHERE program_id = ? AND start < ? "
                                 "AND start + duration > ?", (program_id, p.end, p.start)).rowcount
                c.execute("INSERT INTO program_prices (program_id, start, duration, price, loaded_at) "
                          "VALUES (?, ?, ?, ?, ?)", (program_id, p.start, p.duration, str(p.price), now))
                if gone:
                    replaced += 1
                else:
                    inserted += 1
            return PriceLoad(inserted, replaced, unchanged)
        return await self._in_transaction(load)

    async def prices(self, program_id: int, start: int, end: int) -> list[PricePoint]:
        """The program's prices that overlap [start, end), in time order."""
        return [PricePoint(r[0], r[1], Decimal(r[2])) for r in await self._rows(
            "SELECT start, duration, price FROM program_prices WHERE program_id = ? AND start < ? "
            "AND start + duration > ? ORDER BY start", (program_id, end, start))]
