"""The notifications the server still owes its subscribers."""

from __future__ import annotations

from aiohttp import web

from .http import json_response
from .state import CLOCK, STORE


async def backlog(request: web.Request) -> web.Response:
    changes, queued, due = await request.app[STORE].notification_backlog(request.app[CLOCK].now())
    return json_response({"pendingChanges": changes, "queued": queued, "due": due})


ROUTES = [
    ("GET", "/notifications/backlog", backlog),
]
