"""The notifications the server still owes its subscribers."""

from __future__ import annotations

from aiohttp import web

from .http import json_response
from .state import CLOCK, STORE
from .routing import Answer, Route

FAILING_SHOWN = 100


async def backlog(request: web.Request) -> web.Response:
    store = request.app[STORE]
    changes, queued, due = await store.notification_backlog(request.app[CLOCK].now())
    failing = [{"notificationURI": f.uri, "attempts": f.attempts, "lastError": f.last_error,
                "nextAttempt": f.next_attempt} for f in await store.outbox_failures(FAILING_SHOWN)]
    return json_response({"pendingChanges": changes, "queued": queued, "due": due, "failing": failing})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/notifications/backlog", backlog,
          "What the server still owes its subscribers",
          {200: Answer("the counts", "NotificationBacklog")},
          description="All zero once every change so far has been told to every subscriber that can be reached: an "
                      "operator (or a test harness) waits for that before it looks. A notificationURI whose "
                      "addresses are all refused (notification_allow_addresses) is listed in failing with the "
                      "reason."),
)
