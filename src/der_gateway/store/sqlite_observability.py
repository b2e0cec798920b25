"""The observability reads (admin/routes_observability.py): the outboxes' depth, age and failing receivers, and
events by state.  Each is one or two aggregate queries; the heads come from the queues' indexes."""

from __future__ import annotations

from .observability_records import EVENT_STATES, FailingDestination, OutboxState
from .sqlite_plumbing import SQLitePlumbing

FAILING_SHOWN = 50  # failing receivers listed per outbox

_CONTROL_STATE = """CASE WHEN cancelled_at IS NOT NULL OR status IN (2, 3) THEN 'cancelled'
    WHEN start > ? THEN 'scheduled' WHEN start + duration > ? AND status <> 4 THEN 'active' ELSE 'completed' END"""


class ObservabilityStore(SQLitePlumbing):
    async def notification_outbox_state(self) -> OutboxState:
        depth = (await self._aggregate("SELECT count(*) FROM outbox"))[0]
        head = await self._one("SELECT queued_at FROM outbox ORDER BY id LIMIT 1")
        failing = [FailingDestination(*r) for r in await self._rows(
            "SELECT o.uri, o.last_error, o.attempts, o.queued_at FROM outbox o "
            "JOIN (SELECT min(id) AS id FROM outbox GROUP BY uri) h ON h.id = o.id "
            "WHERE o.last_error IS NOT NULL ORDER BY o.attempts DESC, o.id LIMIT ?", (FAILING_SHOWN,))]
        return OutboxState(depth, head[0] if head else None, failing)

    async def sync_outbox_state(self) -> OutboxState:
        depth = (await self._aggregate("SELECT count(*) FROM sync_messages WHERE state = 'queued'"))[0]
        head = await self._one("SELECT created FROM sync_messages WHERE state = 'queued' ORDER BY id LIMIT 1")
        failing = [FailingDestination(*r) for r in await self._rows(
            "SELECT e.url, m.last_error, m.attempts, m.created FROM sync_messages m "
            "JOIN (SELECT endpoint_id, min(id) AS id FROM sync_messages WHERE state = 'queued' "
            "GROUP BY endpoint_id) h ON h.id = m.id JOIN sync_endpoints e ON e.id = m.endpoint_id "
            "WHERE m.last_error IS NOT NULL ORDER BY m.attempts DESC, m.id LIMIT ?", (FAILING_SHOWN,))]
        return OutboxState(depth, head[0] if head else None, failing)

    async def events_by_state(self, now: int) -> dict[str, dict[str, int]]:
        """kind ("control": DERControls, "utility_event") -> state -> how many, every state present.  A control
        superseded counts as completed; a utility event's span is its stages' controls'."""
        controls: dict[str, int] = dict(await self._rows(
            f"SELECT state, count(*) FROM (SELECT {_CONTROL_STATE} AS state FROM controls) t GROUP BY state",
            (now, now)))
        events: dict[str, int] = dict(await self._rows(
            "SELECT state, count(*) FROM (SELECT CASE WHEN e.cancelled_at IS NOT NULL THEN 'cancelled' "
            "WHEN min(c.start) > ? THEN 'scheduled' WHEN max(c.start + c.duration) > ? THEN 'active' "
            "ELSE 'completed' END AS state FROM utility_events e JOIN event_stages s ON s.event_id = e.id "
            "JOIN controls c ON c.id = s.control_id WHERE e.archived_at IS NULL GROUP BY e.id, e.cancelled_at) t "
            "GROUP BY state", (now, now)))
        return {kind: {state: int(found.get(state, 0)) for state in EVENT_STATES}
                for kind, found in (("control", controls), ("utility_event", events))}
