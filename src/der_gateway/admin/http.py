"""JSON in and out: error answers, reading request bodies, path parameters."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from aiohttp import web

from ..domain.numerals import decimal, identifier
from ..sep.json_form import error
from .routing import Query
from .state import CONFIG

JSON = "application/json"
T = TypeVar("T")


class ApiError(Exception):
    """An answer other than success: a status and what was wrong, field by field where it can say."""

    def __init__(self, status: int, errors: list[dict[str, str]] | str, headers: dict[str, str] | None = None):
        self.errors = [error(errors)] if isinstance(errors, str) else errors
        super().__init__("; ".join(e["reason"] for e in self.errors))
        self.status = status
        self.headers = headers


def invalid(errors: list[dict[str, str]]) -> ApiError:
    return ApiError(400, errors)


def not_found(what: str) -> ApiError:
    return ApiError(404, f"no {what}")


async def found(value: T | None, what: str) -> T:
    """The record, or 404 naming what is missing."""
    if value is None:
        raise not_found(what)
    return value


def conflict(reason: str, field: str | None = None) -> ApiError:
    return ApiError(409, [error(reason, field)])


def json_response(data: Any, status: int = 200, location: str | None = None) -> web.Response:
    headers = {"Location": location} if location else None
    return web.json_response(data, status=status, headers=headers)


def error_response(exc: ApiError) -> web.Response:
    return web.json_response({"errors": exc.errors}, status=exc.status, headers=exc.headers)


def no_content() -> web.Response:
    return web.Response(status=204)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object: 415 unless it is JSON, 413 over the size limit, 400 if malformed."""
    if request.content_type != JSON:
        raise ApiError(415, f"Content-Type must be {JSON}, not {request.content_type or 'absent'}")
    limit = request.app[CONFIG].admin_max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the body of {request.content_length} bytes exceeds the {limit}-byte limit")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the body exceeds the {limit}-byte limit") from None
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def path_id(request: web.Request, name: str, what: str) -> int:
    """An integer id from the path (the routes admit digits only); 404 when it cannot name anything."""
    raw = request.match_info[name]
    value = identifier(raw)
    if value is None:
        raise not_found(f"{what} {raw[:40]}")
    return value


_LFDI = re.compile(r"[0-9A-Fa-f]{40}")


def strict_lfdi(value: object) -> str | None:
    """The LFDI in canonical (upper-case) form, or None unless it is exactly 40 hex digits."""
    return value.upper() if isinstance(value, str) and _LFDI.fullmatch(value) else None


def path_lfdi(request: web.Request, name: str) -> str:
    lfdi = strict_lfdi(request.match_info[name])
    if lfdi is None:
        raise invalid([error("an LFDI is exactly 40 hex digits", name)])
    return lfdi


UPLOAD_TYPES = {"text/csv": "csv", "application/json": "json"}


async def read_upload(request: web.Request, limit: int) -> tuple[bytes, str]:
    """A file sent as the body (text/csv or application/json; 415 otherwise, 413 past the limit): its bytes and
    format."""
    fmt = UPLOAD_TYPES.get(request.content_type)
    if fmt is None:
        raise ApiError(415, "Content-Type must be text/csv or application/json, not "
                            f"{request.content_type or 'absent'}")
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the body of {request.content_length} bytes exceeds the {limit}-byte limit")
    try:
        return await request.read(), fmt
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"the body exceeds the {limit}-byte limit") from None


def read_query(request: web.Request, params: tuple[Query, ...]) -> dict[str, Any]:
    """The query parameters as declared (absent ones left out): 400 naming each unknown or wrong one."""
    values, errors = query_values(request, params)
    if errors:
        raise invalid(errors)
    return values


def query_values(request: web.Request, params: tuple[Query, ...]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The query parameters as declared (absent ones left out), and what is wrong with the rest."""
    known = {p.name: p for p in params}
    errors = [error("unknown query parameter", k) for k in request.query if k not in known]
    values: dict[str, Any] = {}
    for p in params:
        raw = request.query.get(p.name)
        if raw is None:
            if p.required:
                errors.append(error("required", p.name))
        elif p.kind is bool:
            if raw not in ("true", "false"):
                errors.append(error("must be true or false", p.name))
            values[p.name] = raw == "true"
        elif p.kind is int:
            values[p.name] = decimal(raw, p.maximum, p.minimum)
            if values[p.name] is None:
                errors.append(error(f"must be decimal digits naming an integer from {p.minimum} to {p.maximum}",
                                    p.name))
        elif p.choices is not None and raw not in p.choices:
            errors.append(error(f"must be one of {', '.join(p.choices)}", p.name))
        else:
            values[p.name] = raw
    return values, errors


WINDOW = (Query("from", "the start, Unix seconds", int, minimum=0, required=True),
          Query("to", "the end, Unix seconds", int, minimum=0, required=True))


def query_window(request: web.Request, longest: int) -> tuple[int, int]:
    """?from=&to= (WINDOW, at most `longest` apart, nothing else): 400 naming each problem."""
    query = read_query(request, WINDOW)
    start, end = query["from"], query["to"]
    if not 0 < end - start <= longest:
        raise invalid([error(f"must be after from, by at most {longest} s", "to")])
    return start, end
