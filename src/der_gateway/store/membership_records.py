"""The record of a group membership change (store/sqlite_utility/membership.py writes them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MembershipChangeRecord:
    id: int
    group_id: int
    end_device_id: int
    kind: str  # 'joined' or 'left'
    changed_at: int
    actor: str  # domain.utility.membership.ACTORS
    reason: str
