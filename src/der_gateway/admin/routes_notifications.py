"""The notifications the server still owes its subscribers."""

from __future__ import annotations

from aiohttp import web

from .http import json_response
from .state import CLOCK, STORE

FAILING_SHOWN = 100


async def backlog(request: web.Request) -> web.Response:
    store = request.app[STORE]
    changes, queued, due = await store.notification_backlog(request.app[CLOCK].now())
    failing = [{"notificationURI": f.uri, "attempts": f.attempts, "lastError": f.last_error,
                "nextAttempt": f.next_attempt} for f in await store.outbox_failures(FAILING_SHOWN)]
    return json_response({"pendingChanges": changes, "queued": queued, "due": due, "failing": failing})


ROUTES = [
    ("GET", "/notifications/backlog", backlog),
]
