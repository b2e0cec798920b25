"""The console's operations views: service tasks and enrollments by state, and a failing sync message sent again."""

from __future__ import annotations

from typing import TypedDict

from aiohttp import web

from ..services import utility_json as render
from .http import conflict, found, json_response, not_found, path_id
from .routes_sync import message_view
from .state import CLOCK, STORE
from .routing import Answer, Route

RECENT_ENROLLMENTS = 100


class ServiceTaskSummary(TypedDict):
    by_state: dict[str, int]
    awaiting_approval: list[render.ServiceTask]


class EnrollmentSummary(TypedDict):
    by_sync_state: dict[str, int]
    items: list[render.Enrollment]


async def service_task_summary(request: web.Request) -> web.Response:
    store = request.app[STORE]
    waiting = [t for t in await store.service_tasks("Pending", "interconnect") if t.approval is None]
    view: ServiceTaskSummary = {"by_state": await store.service_task_counts(),
                                "awaiting_approval": [render.service_task(t) for t in waiting]}
    return json_response(view)


async def enrollment_summary(request: web.Request) -> web.Response:
    store = request.app[STORE]
    items = []
    for enrollment_id in await store.recent_enrollments(RECENT_ENROLLMENTS):
        record = await store.enrollment(enrollment_id)
        if record is not None:
            items.append(render.enrollment(record))
    view: EnrollmentSummary = {"by_sync_state": await store.enrollment_sync_counts(), "items": items}
    return json_response(view)


async def retry_sync_message(request: web.Request) -> web.Response:
    """A failing message (queued after a failed attempt) is sent now; a rejected one is queued again, now."""
    store = request.app[STORE]
    message_id = path_id(request, "message_id", "sync message")
    if await store.sync_message(message_id) is None:
        raise not_found(f"sync message {message_id}")
    if not await store.requeue_sync_message(message_id, request.app[CLOCK].now()):
        raise conflict(f"sync message {message_id} is neither failing nor rejected: nothing to retry")
    record = await found(await store.sync_message(message_id), f"sync message {message_id}")
    endpoint = await store.sync_endpoint(record.endpoint_id)
    return json_response(message_view(record, endpoint.name if endpoint else None))


ROUTES: tuple[Route, ...] = (
    Route("GET", "/service-tasks/summary", service_task_summary,
          "Service tasks by state, and those awaiting approval",
          {200: Answer("it", "ServiceTaskSummary")}),
    Route("GET", "/enrollments/summary", enrollment_summary,
          "Enrollments by sync state, and the newest",
          {200: Answer("it", "EnrollmentSummary")}),
    Route("POST", "/sync/messages/{message_id:[0-9]+}/retry", retry_sync_message,
          "Send a failing sync message now, or a rejected one again",
          {200: Answer("the message view, as GET /sync/messages/{id}")},
          errors={409: "the message is neither failing nor rejected"}),
)
