"""The middleware every listener's application runs outermost: requests counted and timed by route template, and
on the 2030.5 listener each connection's requests and every 4xx noted (tracking.py)."""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from aiohttp import web

from .metrics import REQUEST_TALLY
from .tracking import LFDI_KEY, Tracking, http_reason

IN_PROCESS = "in-process"  # the listener label of the 2030.5 application asked by the admin API (server/in_process.py)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observe_requests(listener: str, tracking: Tracking | None = None) -> Callable:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except TimeoutError as exc:  # a late body (listeners.site.BodyTimedOut) is answered 408
            status = getattr(exc, "status", 500)
            raise
        finally:
            route = route_of(request)
            lfdi = request.get(LFDI_KEY)
            # a request on no connection of the listener's: the admin API asking the application in-process
            outside = tracking is not None and not tracking.request(id(request.protocol), lfdi)
            name = IN_PROCESS if outside else listener
            REQUEST_TALLY.add(name, route, request.method, status, time.perf_counter() - started)
            if tracking is not None and not outside and 400 <= status < 500:
                tracking.refused("http", http_reason(status), status=status, lfdi=lfdi, path=request.path)

    return middleware


async def flush_requests(app: web.Application) -> None:
    """An application's on_cleanup: what its last requests counted is handed over before the process ends."""
    REQUEST_TALLY.flush()
