"""Enrollment sync: the operational endpoints messages go to, the messages, and their acknowledgements.

A receiver acknowledges a message at the "acknowledgeUrl" it came with,
POST /sync/messages/{id}/ack, with {"ok": true} or {"ok": false, "reason": "..."}.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, NotRequired, TypedDict

from aiohttp import web

from ..domain.refusals import Conflict
from ..domain.endpoints import endpoint_url_problem
from ..store.base import SYNC_STATES, AckConflict, SyncEndpointRecord, SyncMessageRecord
from ..store.sync_queue import OPERATIONS, PURPOSES
from .http import conflict, error, invalid, json_response, no_content, not_found, path_id, read_json, read_query
from ..sep.json_form import Plain, check_plain
from ..services.json_view import Id, Js, doc
from .state import CLOCK, STORE
from .routing import NO_CONTENT, Answer, PlainBody, Query, Route

MAX_NAME = 64
ENDPOINT = {"name": Plain(str, required=True, max_length=MAX_NAME, pattern=r"[\s\S]*\S[\s\S]*",
                          reason="must be a non-empty string"),
            "url": Plain(str, required=True, problem=endpoint_url_problem,
                         description="http:// or https://; https is reached presenting the server's certificate"),
            "purpose": Plain(str, choices=PURPOSES, description="operations (the default): every message but "
                                                                "billing's; billing: unbilled credits only")}
ENDPOINT_PATCH = {"name": replace(ENDPOINT["name"], required=False), "url": replace(ENDPOINT["url"], required=False)}
MAX_REASON = 2000
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
ACKNOWLEDGEMENT = {"ok": Plain(bool, required=True),
                   "reason": Plain(str, nullable=True, max_length=MAX_REASON, description="required when ok is false")}
FORCE_QUERY = (Query("force", "true: delete it with the messages still queued for it", bool),)
MESSAGES_QUERY = (Query("state", "only messages in this state", choices=SYNC_STATES),
                  Query("endpoint", "only messages to this endpoint", int),
                  Query("kind", "only messages of this kind"),
                  Query("enrollment", "only messages about this enrollment", int),
                  Query("after", "only messages after this id (the last one of the previous page)", int, minimum=0),
                  Query("limit", f"at most this many (default {DEFAULT_LIMIT})", int, maximum=MAX_LIMIT))


class MessageCounts(TypedDict):
    """how many of its messages are in each state"""

    queued: int
    sent: int
    acknowledged: int
    rejected: int


class SyncEndpoint(TypedDict):
    id: Id
    name: str
    url: str
    purpose: Annotated[str, Js(enum=list(PURPOSES))]
    messages: MessageCounts


class EnrollmentSync(TypedDict):
    """after an acknowledgement: the enrollment's sync state"""

    id: Id
    syncStatus: str | None
    syncReason: str | None


class SyncMessage(TypedDict):
    id: Id
    endpointId: Id
    endpoint: str | None
    kind: str
    enrollmentId: Id | None
    state: Annotated[str, Js(enum=list(SYNC_STATES))]
    attempts: int
    nextAttempt: int
    lastError: str | None
    ackReason: str | None
    created: int
    body: Annotated[dict[str, Any], doc("what is POSTed, with messageId and acknowledgeUrl added")]
    enrollment: NotRequired[EnrollmentSync]


class SyncMessagePage(TypedDict):
    all: int
    items: list[SyncMessage]


def endpoint_view(record: SyncEndpointRecord, counts: dict[str, int] | None = None) -> SyncEndpoint:
    counts = counts or {}
    return {"id": record.id, "name": record.name, "url": record.url, "purpose": record.purpose,
            "messages": {"queued": counts.get("queued", 0), "sent": counts.get("sent", 0),
                         "acknowledged": counts.get("acknowledged", 0), "rejected": counts.get("rejected", 0)}}


def message_view(record: SyncMessageRecord, endpoint_name: str | None) -> SyncMessage:
    return {"id": record.id, "endpointId": record.endpoint_id, "endpoint": endpoint_name, "kind": record.kind,
            "enrollmentId": record.enrollment_id, "state": record.state, "attempts": record.attempts,
            "nextAttempt": record.next_attempt, "lastError": record.last_error, "ackReason": record.ack_reason,
            "created": record.created, "body": record.body}


# -- endpoints ------------------------------------------------------------------------------

async def _endpoint(request: web.Request) -> SyncEndpointRecord:
    return await _stored(request, path_id(request, "endpoint_id", "sync endpoint"))


async def _stored(request: web.Request, endpoint_id: int) -> SyncEndpointRecord:
    record = await request.app[STORE].sync_endpoint(endpoint_id)
    if record is None:
        raise not_found(f"sync endpoint {endpoint_id}")
    return record


def _endpoint_fields(body: dict[str, Any], partial: bool) -> dict[str, str]:
    fields, errors = check_plain(body, ENDPOINT_PATCH if partial else ENDPOINT)
    if partial and "purpose" in body:
        errors = [e for e in errors if e.get("field") != "purpose"]
        errors.append(error("cannot be changed: make another endpoint", "purpose"))
    if errors:
        raise invalid(errors)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    return fields


async def create_endpoint(request: web.Request) -> web.Response:
    store = request.app[STORE]
    fields = _endpoint_fields(await read_json(request), partial=False)
    try:
        endpoint_id = await store.create_sync_endpoint(fields["name"], fields["url"],
                                                       fields.get("purpose", OPERATIONS))
    except Conflict:
        raise conflict("another sync endpoint has this name", "name") from None
    return json_response(endpoint_view(await _stored(request, endpoint_id)), 201, f"/sync/endpoints/{endpoint_id}")


async def list_endpoints(request: web.Request) -> web.Response:
    store = request.app[STORE]
    counts = await store.sync_counts()
    return json_response({"items": [endpoint_view(e, counts.get(e.id)) for e in await store.sync_endpoints()]})


async def get_endpoint(request: web.Request) -> web.Response:
    record = await _endpoint(request)
    return json_response(endpoint_view(record, (await request.app[STORE].sync_counts()).get(record.id)))


async def patch_endpoint(request: web.Request) -> web.Response:
    store = request.app[STORE]
    record = await _endpoint(request)
    fields = _endpoint_fields(await read_json(request), partial=True)
    try:
        await store.update_sync_endpoint(record.id, fields.get("name", record.name), fields.get("url", record.url))
    except Conflict:
        raise conflict("another sync endpoint has this name", "name") from None
    counts = (await store.sync_counts()).get(record.id)
    return json_response(endpoint_view(await _stored(request, record.id), counts))


async def delete_endpoint(request: web.Request) -> web.Response:
    """Refused while messages wait for it, unless ?force=true (they are deleted with it)."""
    store = request.app[STORE]
    record = await _endpoint(request)
    force = read_query(request, FORCE_QUERY).get("force", False)
    waiting = (await store.sync_counts()).get(record.id, {}).get("queued", 0)
    if waiting and not force:
        raise conflict(f"{waiting} messages are still queued for this endpoint; change its url, or delete it "
                       "with ?force=true to drop them")
    await store.delete_sync_endpoint(record.id)
    return no_content()


# -- messages ---------------------------------------------------------------------------------

async def list_messages(request: web.Request) -> web.Response:
    """?state=queued|sent|acknowledged|rejected &endpoint=ID &kind=... &enrollment=ID &after=ID &limit=N"""
    store = request.app[STORE]
    query = read_query(request, MESSAGES_QUERY)
    total, records = await store.sync_messages(state=query.get("state"), endpoint_id=query.get("endpoint"),
                                               kind=query.get("kind"), enrollment_id=query.get("enrollment"),
                                               after=query.get("after", 0), limit=query.get("limit", DEFAULT_LIMIT))
    names = {e.id: e.name for e in await store.sync_endpoints()}
    page: SyncMessagePage = {"all": total, "items": [message_view(m, names.get(m.endpoint_id)) for m in records]}
    return json_response(page)


async def _message_view(store, record: SyncMessageRecord) -> SyncMessage:
    endpoint = await store.sync_endpoint(record.endpoint_id)
    return message_view(record, endpoint.name if endpoint else None)


async def get_message(request: web.Request) -> web.Response:
    store = request.app[STORE]
    message_id = path_id(request, "message_id", "sync message")
    record = await store.sync_message(message_id)
    if record is None:
        raise not_found(f"sync message {message_id}")
    return json_response(await _message_view(store, record))


async def acknowledge(request: web.Request) -> web.Response:
    """{"ok": true} or {"ok": false, "reason": "..."}.  Repeating the same acknowledgement is harmless;
    the opposite one is refused (409)."""
    store = request.app[STORE]
    message_id = path_id(request, "message_id", "sync message")
    values, errors = check_plain(await read_json(request), ACKNOWLEDGEMENT)
    ok, reason = values.get("ok"), values.get("reason")
    if ok is False and not (reason or "").strip():
        errors.append(error("required when ok is false: why the receiver refused the message", "reason"))
    if errors:
        raise invalid(errors)
    try:
        result = await store.acknowledge_sync_message(message_id, bool(ok), reason.strip() if reason else None,
                                                      request.app[CLOCK].now())
    except AckConflict as exc:
        raise conflict(str(exc), "ok") from None
    if result is None:
        raise not_found(f"sync message {message_id}")
    view = await _message_view(store, result.message)
    if result.enrollment is not None:
        enrollment_id, sync_status, sync_reason = result.enrollment
        view["enrollment"] = {"id": enrollment_id, "syncStatus": sync_status, "syncReason": sync_reason}
    return json_response(view)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/sync/endpoints", create_endpoint,
          "Add an operational endpoint sync messages are POSTed to",
          {201: Answer("created (Location: /sync/endpoints/{id})", "SyncEndpoint")},
          body=PlainBody(ENDPOINT),
          errors={409: "the name is taken"}),
    Route("GET", "/sync/endpoints", list_endpoints,
          "List operational endpoints",
          {200: Answer("all, by id", "SyncEndpointList")}),
    Route("GET", "/sync/endpoints/{endpoint_id:[0-9]+}", get_endpoint,
          "Get an operational endpoint",
          {200: Answer("it", "SyncEndpoint")}),
    Route("PATCH", "/sync/endpoints/{endpoint_id:[0-9]+}", patch_endpoint,
          "Rename an endpoint or change its URL (queued messages go to the new one)",
          {200: Answer("it", "SyncEndpoint")},
          body=PlainBody(ENDPOINT_PATCH),
          errors={409: "the name is taken"}),
    Route("DELETE", "/sync/endpoints/{endpoint_id:[0-9]+}", delete_endpoint,
          "Delete an endpoint with its messages",
          NO_CONTENT,
          errors={400: "force is neither true nor false",
                  409: "messages are still queued for it (without force=true)"},
          query=FORCE_QUERY),
    Route("GET", "/sync/messages", list_messages,
          "List sync messages",
          {200: Answer("by id", "SyncMessagePage")},
          errors={400: "an unknown or invalid query parameter"},
          query=MESSAGES_QUERY, description="all counts every match."),
    Route("GET", "/sync/messages/{message_id:[0-9]+}", get_message,
          "Get a sync message",
          {200: Answer("it", "SyncMessage")}),
    Route("POST", "/sync/messages/{message_id:[0-9]+}/ack", acknowledge,
          "Acknowledge a sync message (the receiver's acknowledgeUrl)",
          {200: Answer("the message, and its enrollment's sync state", "SyncMessage")},
          body=PlainBody(ACKNOWLEDGEMENT),
          errors={409: "it was acknowledged the other way already"},
          description="ok true: 'acknowledged'; the enrollment becomes Synchronized once every endpoint's latest "
                      "message about it is acknowledged. ok false: 'rejected'; the enrollment becomes Error with "
                      "the reason. Repeating an acknowledgement changes nothing."),
)
