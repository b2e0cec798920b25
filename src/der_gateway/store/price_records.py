"""What the store answers about prices (store/sqlite_prices.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PriceLoad:
    """What loading prices did: new, replaced (another price for the same time) and unchanged."""

    inserted: int
    replaced: int
    unchanged: int
