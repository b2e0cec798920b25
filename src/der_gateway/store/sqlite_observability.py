"""The observability reads (admin/routes_observability.py): the outboxes' depth, age and failing receivers, and
events by state.  Each is one or two aggregate queries; the heads come from the queues' indexes, a depth is
counted on an index that holds only what waits (/metrics asks without the failing receivers)."""

from __future__ import annotations

from . import kept_counts
from .kept_counts import kept
from .observability_records import EVENT_STATES, FailingDestination, OutboxState
from .sqlite_plumbing import Conn, Row, SQLitePlumbing

FAILING_SHOWN = 50  # failing receivers listed per outbox

_EVENT_STATE = ("SELECT CASE WHEN e.cancelled_at IS NOT NULL THEN 'cancelled' WHEN min(c.start) > ? THEN 'scheduled' "
                "WHEN max(c.start + c.duration) > ? THEN 'active' ELSE 'completed' END AS state FROM utility_events e "
                "JOIN event_stages s ON s.event_id = e.id JOIN controls c ON c.id = s.control_id "
                "WHERE e.archived_at IS NULL")
_CONTROL_STATE = """CASE WHEN cancelled_at IS NOT NULL OR status IN (2, 3) THEN 'cancelled'
    WHEN start > ? THEN 'scheduled' WHEN start + duration > ? AND status <> 4 THEN 'active' ELSE 'completed' END"""


class ObservabilityStore(SQLitePlumbing):
    async def notification_outbox_state(self, failing: bool = True) -> OutboxState:
        depth = (await self._aggregate("SELECT count(*) FROM outbox"))[0]
        head = await self._one("SELECT queued_at FROM outbox ORDER BY id LIMIT 1")
        if not failing:
            return OutboxState(depth, head[0] if head else None, [])
        failing_heads = [FailingDestination(*r) for r in await self._rows(
            "SELECT o.uri, o.last_error, o.attempts, o.queued_at FROM outbox o "
            "JOIN (SELECT min(id) AS id FROM outbox GROUP BY uri) h ON h.id = o.id "
            "WHERE o.last_error IS NOT NULL ORDER BY o.attempts DESC, o.id LIMIT ?", (FAILING_SHOWN,))]
        return OutboxState(depth, head[0] if head else None, failing_heads)

    async def sync_outbox_state(self, failing: bool = True) -> OutboxState:
        depth = (await self._aggregate("SELECT count(*) FROM sync_messages WHERE state = 'queued'"))[0]
        head = await self._one("SELECT created FROM sync_messages WHERE state = 'queued' ORDER BY id LIMIT 1")
        if not failing:
            return OutboxState(depth, head[0] if head else None, [])
        failing_heads = [FailingDestination(*r) for r in await self._rows(
            "SELECT e.url, m.last_error, m.attempts, m.created FROM sync_messages m "
            "JOIN (SELECT endpoint_id, min(id) AS id FROM sync_messages WHERE state = 'queued' "
            "GROUP BY endpoint_id) h ON h.id = m.id JOIN sync_endpoints e ON e.id = m.endpoint_id "
            "WHERE m.last_error IS NOT NULL ORDER BY m.attempts DESC, m.id LIMIT ?", (FAILING_SHOWN,))]
        return OutboxState(depth, head[0] if head else None, failing_heads)

    async def events_by_state(self, now: int) -> dict[str, dict[str, int]]:
        """kind ("control": DERControls, "utility_event") -> state -> how many, every state present.  A control
        superseded counts as completed; a utility event's span is its stages' controls'.

        Only the events that have not ended are read (by the index on their ends); every other one is cancelled
        or completed, and those are counted from the kept totals (kept_counts.py)."""
        def read(c: Conn) -> dict[str, dict[str, int]]:
            controls = _tally(c.execute(
                f"SELECT state, count(*) FROM (SELECT {_CONTROL_STATE} AS state FROM controls "
                "WHERE start + duration > ?) t GROUP BY state", (now, now, now)).fetchall())
            events = _tally(c.execute(
                f"SELECT state, count(*) FROM ({_EVENT_STATE} AND e.id IN (SELECT s.event_id FROM controls c "
                "JOIN event_stages s ON s.control_id = c.id WHERE c.start + c.duration > ?) "
                "GROUP BY e.id, e.cancelled_at) t GROUP BY state", (now, now, now)).fetchall())
            _add_ended(controls, kept(c, kept_counts.CONTROLS), kept(c, kept_counts.CONTROLS_CANCELLED))
            _add_ended(events, kept(c, kept_counts.UTILITY_EVENTS), kept(c, kept_counts.UTILITY_EVENTS_CANCELLED))
            return {"control": controls, "utility_event": events}
        return await self._read(read)


def _tally(rows: list[Row]) -> dict[str, int]:
    found = {state: int(n) for state, n in rows}
    return {state: found.get(state, 0) for state in EVENT_STATES}


def _add_ended(states: dict[str, int], total: int, cancelled: int) -> None:
    """Adds the events that have ended, of total (cancelled of them cancelled), to the states of those that have
    not: an event that has ended is cancelled or completed."""
    ended_cancelled = cancelled - states["cancelled"]
    states["cancelled"] += ended_cancelled
    states["completed"] += total - sum(states.values())
