"""The notifications the server still owes its subscribers."""

from __future__ import annotations

from typing import Annotated, TypedDict

from aiohttp import web

from ..services.json_view import doc
from .http import json_response
from .state import CLOCK, STORE
from .routing import Answer, Route

FAILING_SHOWN = 100


class FailingURI(TypedDict):
    notificationURI: str
    attempts: int
    lastError: str
    nextAttempt: Annotated[int, doc("when it is tried again, Unix time")]


class NotificationBacklog(TypedDict):
    pendingChanges: Annotated[int, doc("changes to resources not yet turned into notifications")]
    queued: Annotated[int, doc("notifications waiting to be POSTed to their notificationURI")]
    due: Annotated[int, doc("of those, the ones due now rather than held back after a failure")]
    failing: Annotated[list[FailingURI], doc(f"the notificationURIs held back after a failure (at most "
                                             f"{FAILING_SHOWN}, the most attempted first), with the error of the "
                                             "last attempt")]


async def backlog(request: web.Request) -> web.Response:
    store = request.app[STORE]
    changes, queued, due = await store.notification_backlog(request.app[CLOCK].now())
    failing: list[FailingURI] = [{"notificationURI": f.uri, "attempts": f.attempts, "lastError": f.last_error,
                "nextAttempt": f.next_attempt} for f in await store.outbox_failures(FAILING_SHOWN)]
    view: NotificationBacklog = {"pendingChanges": changes, "queued": queued, "due": due, "failing": failing}
    return json_response(view)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/notifications/backlog", backlog,
          "What the server still owes its subscribers",
          {200: Answer("the counts", "NotificationBacklog")},
          description="All zero once every change so far has been told to every subscriber that can be reached: an "
                      "operator (or a test harness) waits for that before it looks. A notificationURI whose "
                      "addresses are all refused (notification_allow_addresses) is listed in failing with the "
                      "reason."),
)
