"""2030.5 over HTTP: media type, request bodies, list paging and error answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from aiohttp import web

from ..config import Config
from ..domain.numerals import decimal
from ..sep import codec, model
from ..services.documents import encode
from .state import CONFIG, SCHEMAS

T = TypeVar("T")

SEP_XML = "application/sep+xml"

# Error.reasonCode values (2030.5 Error resource)
INVALID_FORMAT = 0
INVALID_VALUES = 1
RESOURCE_LIMIT = 2


class Problem(Exception):
    """An answer other than success, with a reason a person can act on."""

    def __init__(self, status: int, reason: str, reason_code: int = INVALID_VALUES) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.reason_code = reason_code


def error_response(config: Config, status: int, reason: str, reason_code: int = INVALID_VALUES) -> web.Response:
    """The reason goes in the status line, the X-Reason header and, for a device that logs only the
    body, an XML comment inside the 2030.5 Error (whose schema has no element for it)."""
    text = " ".join(reason.split())[:300]
    line = printable(text)
    body = encode(config, model.Error(reasonCode=reason_code), comment=_CONTROL.sub(_escape, text)) \
        if status < 500 else None
    return web.Response(status=status, reason=line, body=body, content_type=SEP_XML if body else None,
                        headers={"X-Reason": line})


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """text with every character but printable ASCII written as a Python escape (\\x00, \\xe9), so that
    it can stand in a status line or header: a reason quoting a control character is escaped, not dropped."""
    return _UNPRINTABLE.sub(_escape, text)


class SepResponse(web.Response):
    """A 2030.5 resource to answer with; the application's middleware writes its body (services.documents.encode).

    An answer built from the clock says so (timed): built_at is the latest time it was built from, changes_at
    the instant it next reads differently without a write (None: never); the response cache keeps it
    for that span only."""

    def __init__(self, resource: Any, status: int = 200, location: str | None = None) -> None:
        super().__init__(status=status, content_type=SEP_XML,
                         headers={"Location": location} if location else None)
        self.resource = resource
        self.timed = False
        self.built_at: int | None = None
        self.changes_at: int | None = None


def sep_response(resource: Any, status: int = 200, location: str | None = None) -> SepResponse:
    return SepResponse(resource, status, location)


def timed_response(resource: Any, horizon: Any) -> SepResponse:
    """A resource built from the clock, with the span it holds for (a resources.Horizon: since, until)."""
    response = SepResponse(resource)
    response.timed, response.built_at, response.changes_at = True, horizon.since, horizon.until
    return response


def created(location: str) -> web.Response:
    return web.Response(status=201, headers={"Location": location})


def created_or_updated(location: str, new: bool) -> web.Response:
    """A POST that made a resource (201) or wrote into one that exists (204), naming it in Location either way
    (the Metering Mirror's answers)."""
    return web.Response(status=201 if new else 204, headers={"Location": location})


def no_content() -> web.Response:
    return web.Response(status=204)


def replaced(location: str | None = None) -> web.Response:
    """The answer to a PUT at a URI this server publishes (a DER document, ConnectionPoint), first or not.

    IEEE 2030.5-2018 5.5.2.4: 201 Created "is sent to indicate a new resource has been created, at
    the client's request with a PUT or POST", with Location.  These links exist before the first PUT,
    so a PUT replaces the representation of an existing resource: 204 No Content (5.5.2.3 discourages
    200 with a body for PUT; 5.5.2 makes RFC 7231 4.3.4's "200 (OK) or 204 (No Content)" binding).
    """
    return web.Response(status=204, headers={"Location": location} if location else None)


async def read_resource(request: web.Request, expected: type[T] | tuple[type[T], ...]) -> T:
    """The request body as a schema-valid resource of an expected type, or a Problem."""
    if request.content_type != SEP_XML:
        raise Problem(415, f"Content-Type must be {SEP_XML}, not {request.content_type or 'absent'}",
                      INVALID_FORMAT)
    limit = request.app[CONFIG].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise Problem(413, f"body of {request.content_length} bytes exceeds the {limit}-byte limit", RESOURCE_LIMIT)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Problem(413, f"body exceeds the {limit}-byte limit", RESOURCE_LIMIT) from None
    try:
        parsed = codec.parse_request(body, limit)
    except codec.DecodeError as exc:
        raise Problem(400, str(exc), INVALID_FORMAT) from None
    codec.complete_sent_list(parsed.element)
    config = request.app[CONFIG]
    if config.profile == "csip-aus" and not config.doe_modes_required:
        codec.complete_doe_modes(parsed.element)
    errors = request.app[SCHEMAS].errors(parsed.element)
    if errors:
        mapped = f"written to {parsed.edition} and mapped onto 2030.5-2018, the body is " if parsed.edition else ""
        raise Problem(400, f"{mapped}schema-invalid: {'; '.join(errors[:3])}", INVALID_VALUES)
    try:
        return codec.decode(parsed.element, expected)
    except codec.DecodeError as exc:
        raise Problem(400, str(exc), INVALID_VALUES) from None


@dataclass(frozen=True)
class Paging:
    start: int
    after: int | None
    limit: int


@overload
def _query_int(request: web.Request, name: str, default: int, maximum: int) -> int: ...
@overload
def _query_int(request: web.Request, name: str, default: None, maximum: int) -> int | None: ...
def _query_int(request: web.Request, name: str, default: int | None, maximum: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    value = decimal(raw, maximum)
    if value is None:
        raise Problem(400, f"query parameter {name} must be decimal digits naming an integer from 0 to {maximum}, "
                      f"not {raw[:20]!r}")
    return value


def paging(request: web.Request) -> Paging:
    """The list query parameters s (start), a (after, a time) and l (limit; the standard's default is 1)."""
    config = request.app[CONFIG]
    start = _query_int(request, "s", 0, 2**32 - 1)
    after = _query_int(request, "a", None, 2**63 - 1)
    limit = _query_int(request, "l", 1, 2**32 - 1)
    return Paging(start, after, min(limit, config.max_list_limit))
