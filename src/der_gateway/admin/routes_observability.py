"""The server watched: GET /metrics (Prometheus text), /health (public: no token), /outboxes, /connections, /refusals.

/metrics reports the whole server whichever worker answers (observability/metrics.py); its store gauges are read
here, before the text is generated, each by index or from a kept count, and once for the scrapes that arrive
together.  /connections and /refusals merge every worker's part (observability/tracking.py)."""

from __future__ import annotations

import asyncio
from typing import Literal, TypedDict

from aiohttp import web

from ..observability import metrics
from ..store.observability_records import OutboxState
from ..store.coalesced import Coalesced
from .http import json_response, read_query
from .state import CLOCK, STORE, TRACKING
from .routing import Answer, Query, Route

DEFAULT_REFUSALS, MAX_REFUSALS = 50, 200
REFUSALS_QUERY = (Query("limit", f"how many of the latest to list (default {DEFAULT_REFUSALS})", int, minimum=0,
                        maximum=MAX_REFUSALS),)


READINGS = web.AppKey("store_readings", Coalesced)


def add_observability(app: web.Application) -> None:
    """/metrics' store readings: one read shared by the scrapes that ask while it waits to start (each still gets
    a read begun after it asked)."""
    app[READINGS] = Coalesced(lambda: store_readings(app))


async def store_readings(app: web.Application) -> metrics.Readings:
    store, now = app[STORE], app[CLOCK].now()
    notifications, sync, events = await asyncio.gather(
        store.notification_outbox_state(failing=False), store.sync_outbox_state(failing=False),
        store.events_by_state(now))
    outboxes = (("notifications", notifications), ("sync", sync))
    readings: dict[metrics.StoreGauge, list[tuple[tuple[str, ...], float]]] = {
        metrics.OUTBOX_DEPTH: [((name, ), state.depth) for name, state in outboxes],
        metrics.OUTBOX_OLDEST_SECONDS: [((name, ), max(0, now - state.oldest_at) if state.oldest_at else 0)
                                        for name, state in outboxes],
        metrics.EVENTS: [((kind, state), n) for kind, states in events.items() for state, n in states.items()],
    }
    ages = await store.devices_by_contact_age(now, [seconds for _, seconds in metrics.CONTACT_AGES])
    names = [name for name, _ in metrics.CONTACT_AGES] + ["older"]
    readings[metrics.END_DEVICES_BY_CONTACT_AGE] = [((name, ), n) for name, n in zip(names, ages)]
    return readings


async def get_metrics(request: web.Request) -> web.Response:
    text = metrics.exposition(await request.app[READINGS]())
    return web.Response(body=text, headers={"Content-Type": metrics.CONTENT_TYPE})


class Health(TypedDict):
    status: Literal["ok"]


class Failing(TypedDict):
    uri: str
    last_error: str | None
    attempts: int
    since: int | None


class Outbox(TypedDict):
    depth: int
    oldest_at: int | None
    failing: list[Failing]


class Outboxes(TypedDict):
    notifications: Outbox
    sync: Outbox


async def get_health(request: web.Request) -> web.Response:
    health: Health = {"status": "ok"}
    return json_response(health)


def outbox_view(state: OutboxState) -> Outbox:
    return {"depth": state.depth, "oldest_at": state.oldest_at, "failing": [
        {"uri": f.uri, "last_error": f.last_error, "attempts": f.attempts, "since": f.since} for f in state.failing]}


async def get_outboxes(request: web.Request) -> web.Response:
    store = request.app[STORE]
    notifications, sync = await asyncio.gather(store.notification_outbox_state(), store.sync_outbox_state())
    outboxes: Outboxes = {"notifications": outbox_view(notifications), "sync": outbox_view(sync)}
    return json_response(outboxes)


async def get_connections(request: web.Request) -> web.Response:
    return json_response(request.app[TRACKING].connections_view())


async def get_refusals(request: web.Request) -> web.Response:
    limit = read_query(request, REFUSALS_QUERY).get("limit", DEFAULT_REFUSALS)
    return json_response(request.app[TRACKING].refusals_view(limit))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/metrics", get_metrics,
          "The server's metrics",
          {200: Answer("Prometheus text format 0.0.4", {"type": "string"}, media="text/plain")},
          description="Every worker's, summed; each metric is listed in docs/metrics.md."),
    Route("GET", "/health", get_health,
          "Whether the admin listener answers",
          {200: Answer("ok", "Health")},
          description="No token needed: a load balancer's liveness probe.", public=True),
    Route("GET", "/outboxes", get_outboxes,
          "The notification and enrollment-sync outboxes: depth, oldest item, failing receivers",
          {200: Answer("both", "Outboxes")}),
    Route("GET", "/connections", get_connections,
          "The 2030.5 listener's open connections, every worker's",
          {200: Answer("them", "Connections")}),
    Route("GET", "/refusals", get_refusals,
          "Refused 2030.5 clients: counts by reason, and the latest",
          {200: Answer("them", "Refusals")},
          query=REFUSALS_QUERY, description="kind tls: the TLS handshake failed; http: a 4xx answer."),
)
