"""What the operator's observability views read from the store: the outboxes' state and events by state."""

from __future__ import annotations

from dataclasses import dataclass, field

EVENT_STATES = ("scheduled", "active", "completed", "cancelled")


@dataclass(frozen=True)
class FailingDestination:
    """A receiver whose queue's head has failed: `attempts` times, the last with last_error; since: when that
    head was queued (None for items queued before the time was recorded)."""

    uri: str
    last_error: str | None
    attempts: int
    since: int | None


@dataclass(frozen=True)
class OutboxState:
    depth: int
    oldest_at: int | None
    failing: list[FailingDestination] = field(default_factory=list)
