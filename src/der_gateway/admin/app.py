"""The operator's admin API: a JSON application on its own listener, apart from the 2030.5 one.

It listens on config.admin_host:admin_port (loopback, 8444 by default; port 0
picks a free one) over plain HTTP, so keep it on loopback or behind a TLS proxy.  Its
connections have the caps and read deadlines of Config's connection settings (listeners/site.py).
Every request needs "Authorization: Bearer <token>", the token being
config.admin_token; when that is None a random token is made at start, written
to data_dir/admin-token (readable by the owner only), and can be read from
the application as app[TOKEN].  GET /openapi.json describes every endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Callable

from aiohttp import web

from ..clock import Clock, SystemClock
from ..config import Config
from ..listeners.limits import ConnectionLimits
from ..listeners.site import BodyTimedOut, serve
from ..xsd import SchemaSet
from . import openapi, routes_end_devices, routes_events, routes_groups, routes_programs, routes_rates
from . import routes_network, routes_notifications, routes_sync
from . import routes_utility, routes_utility_catalog, routes_utility_events, routes_utility_ops
from . import routes_billing, routes_intervals, routes_participation, routes_prices, routes_settlement
from . import routes_console_devices, routes_console_events, routes_console_ops
from . import console_files
from .console_files import add_console
from . import routes_observability
from ..observability.requests import flush_requests, observe_requests
from ..observability.tracking import Tracking
from .auth import Handler, check_token, new_token, require_token
from ..domain.refusals import Rejected
from ..refusal_status import status_of
from ..sep.json_form import Invalid
from .http import ApiError, error_response, json_response
from .routing import Answer, Route
from .state import CLOCK, CONFIG, DEVICE_VIEW, PUBLIC, SCHEMAS, STORE, TOKEN, TRACKING, WRITE_LOCK, DeviceView

log = logging.getLogger(__name__)

TOKEN_FILE = "admin-token"
ROUTES: tuple[Route, ...] = (routes_programs.ROUTES + routes_events.ROUTES + routes_groups.ROUTES
                             + routes_end_devices.ROUTES + routes_rates.ROUTES + routes_notifications.ROUTES)
ROUTES = ROUTES + routes_sync.ROUTES + routes_network.ROUTES  # enrollment sync, network locations
ROUTES = ROUTES + routes_utility.ROUTES + routes_utility_catalog.ROUTES + routes_utility_ops.ROUTES  # enrollment
ROUTES = ROUTES + routes_participation.ROUTES  # device scores, load-reduction forecasts
ROUTES = ROUTES + routes_utility_events.ROUTES  # utility events with stages, participation records
ROUTES = ROUTES + routes_prices.ROUTES + routes_billing.ROUTES  # settlement: prices, credits and billing
ROUTES = ROUTES + routes_intervals.ROUTES  # interval data for settlement
ROUTES = ROUTES + routes_settlement.ROUTES  # settlement: baselines, a stage's credits
ROUTES = ROUTES + routes_console_devices.ROUTES + routes_console_events.ROUTES + routes_console_ops.ROUTES  # console
ROUTES = ROUTES + routes_observability.ROUTES  # metrics, health, outboxes, connections, refusals
ROUTES = ROUTES + console_files.ROUTES  # the console's static files
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def answer_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer other than success is JSON: {"errors": [{"field"?: ..., "reason": ...}]}."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except Invalid as exc:
        return error_response(ApiError(400, exc.errors))
    except Rejected as exc:
        return error_response(ApiError(status_of(exc), exc.errors))
    except web.HTTPMethodNotAllowed as exc:
        return error_response(ApiError(405, f"{request.method} is not allowed on {request.path}",
                                       headers={"Allow": ", ".join(sorted(exc.allowed_methods))}))
    except web.HTTPNotFound:
        return error_response(ApiError(404, f"nothing at {request.path}"))
    except web.HTTPRequestEntityTooLarge:
        return error_response(ApiError(413, "the request body is too large"))
    except web.HTTPException as exc:
        return error_response(ApiError(exc.status, exc.reason))
    except BodyTimedOut:
        raise  # the listener answers 408 and closes the connection
    except Exception:
        log.exception("admin API: %s %s failed", request.method, request.path)
        return error_response(ApiError(500, "internal error; see the server log"))


def one_writer_at_a_time(on_change: Callable[[], None] | None,
                         across_processes: AbstractAsyncContextManager[None] | None = None) -> Callable:
    """Writes run one at a time, so a check and the write it allows see the same state; across_processes,
    if given, is held too, for one at a time among the workers of one server."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in WRITES:
            return await handler(request)
        async with request.app[WRITE_LOCK], across_processes or contextlib.nullcontext():
            response = await handler(request)
        if on_change is not None and response.status < 300:
            on_change()
        return response

    return middleware


async def get_openapi(request: web.Request) -> web.Response:
    return json_response(SPEC)


ROUTES = ROUTES + (Route("GET", "/openapi.json", get_openapi, "This description",
                         {200: Answer("OpenAPI 3.1", {})}),)
SPEC = openapi.document(ROUTES)


def create_admin_app(config: Config, store, schemas: SchemaSet, clock: Clock | None = None, *,
                     on_change: Callable[[], None] | None = None,
                     across_processes: AbstractAsyncContextManager[None] | None = None,
                     device_view: DeviceView | None = None, tracking: Tracking | None = None) -> web.Application:
    """on_change, if given, is called after every successful write (e.g. to wake the notifier); device_view, if
    given, is the 2030.5 application asked as a client (a device's tree is answered 503 without it); tracking: the
    2030.5 listener's connections and refusals, for /connections and /refusals."""
    token = check_token(config.admin_token) if config.admin_token is not None else new_token()
    app = web.Application(middlewares=[observe_requests("admin"), answer_errors, require_token,
                                       one_writer_at_a_time(on_change, across_processes)],
                          client_max_size=config.admin_max_body_bytes)
    app.on_cleanup.append(flush_requests)
    app[CONFIG] = config
    app[STORE] = store
    app[SCHEMAS] = schemas
    app[CLOCK] = clock or SystemClock()
    app[TOKEN] = token
    app[WRITE_LOCK] = asyncio.Lock()
    if device_view is not None:
        app[DEVICE_VIEW] = device_view
    app[TRACKING] = tracking or Tracking(config.data_dir / "observability")
    for route in ROUTES:
        if not isinstance(route, Route):
            raise TypeError(f"not a Route: {route!r}")
        app.router.add_route(route.method, route.path, route.handler)
    app[PUBLIC] = frozenset(route.handler for route in ROUTES if route.public)
    add_console(app)  # the operator console's static files, at / and /console/
    routes_observability.add_observability(app)
    return app


def write_token_file(path: Path, token: str) -> None:
    """The generated token, readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # before the secret goes in, should the file have existed with wider rights
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")


async def start_admin(config: Config, store, schemas: SchemaSet, clock: Clock | None = None, *,
                      on_change: Callable[[], None] | None = None, sock: socket.socket | None = None,
                      across_processes: AbstractAsyncContextManager[None] | None = None,
                      device_view: DeviceView | None = None, tracking: Tracking | None = None
                      ) -> tuple[web.AppRunner, int]:
    """Starts the admin listener (on sock if bound already; across_processes: held by each write, beside the
    app's own lock, when several workers serve); returns its runner (runner.app[TOKEN] is the token) and its
    port."""
    app = create_admin_app(config, store, schemas, clock, on_change=on_change,
                           across_processes=across_processes, device_view=device_view, tracking=tracking)
    if config.admin_token is None:
        token_path = config.data_dir / TOKEN_FILE
        write_token_file(token_path, app[TOKEN])
        log.warning("admin API: no admin_token configured; generated one in %s", token_path)
    runner, port = await serve(app, ConnectionLimits.from_config(config), host=config.admin_host,
                               port=config.admin_port, sock=sock, listener="admin")
    log.info("admin API on http://%s:%d", config.admin_host, port)
    return runner, port
