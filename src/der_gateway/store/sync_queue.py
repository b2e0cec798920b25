"""Queueing an outbound sync message (JSON) to every configured operational endpoint (billing endpoints get
billing's messages only: store/sqlite_billing.py).

Called inside the transaction that makes the change the message reports, so a
change and its sync message are committed together or not at all.
"""

from __future__ import annotations

import json
from typing import Any

from .sqlite_plumbing import Conn


OPERATIONS, BILLING = "operations", "billing"  # what an endpoint is for (sync_endpoints.purpose)
PURPOSES = (OPERATIONS, BILLING)


def endpoint_ids(c: Conn, purpose: str = OPERATIONS) -> list[int]:
    return [r[0] for r in c.execute("SELECT id FROM sync_endpoints WHERE purpose = ? ORDER BY id", (purpose,))]


def enqueue_sync(c: Conn, kind: str, body: dict[str, Any], now: int,
                 enrollment_id: int | None = None) -> int:
    """One sync_messages row per operational endpoint; kind is e.g. 'enrollment', 'unenrollment',
    'replacement', 'aggregator' or 'program-rules'.  Returns how many were queued."""
    endpoints = endpoint_ids(c)
    c.executemany(
        "INSERT INTO sync_messages (endpoint_id, kind, enrollment_id, body, state, created) "
        "VALUES (?, ?, ?, ?, 'queued', ?)",
        [(e, kind, enrollment_id, json.dumps({"kind": kind, **body}), now) for e in endpoints])
    return len(endpoints)
