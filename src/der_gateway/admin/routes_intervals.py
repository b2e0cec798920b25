"""Interval data for settlement: files from the customer-billing system loaded, and a service point's interval
energy in a window (from the files, or derived from its devices' telemetry), with its gaps and estimates."""

from __future__ import annotations

from aiohttp import web

from ..domain.settlement import interval_files
from ..services import interval_intake, interval_json
from .http import ApiError, error, invalid, json_response, not_found, path_id, query_values, read_query
from .state import CLOCK, CONFIG, STORE
from .routing import Answer, PlainBody, Query, Route, Upload

CONTENT_TYPES = {"text/csv": "csv", "application/json": "json"}
MAX_NAME = 255
OPTIONAL_COLUMNS = [key for key in interval_files.KEYS if key not in interval_files.REQUIRED]
LOAD_QUERY = (Query("name", f"the file's name, kept with its batch (1 to {MAX_NAME} characters)"),)
_MOMENT = "Unix seconds, or ISO 8601 with a UTC offset"
WINDOW_QUERY = (Query("from", "the start: " + _MOMENT, required=True),
                Query("to", "the end: " + _MOMENT, required=True),
                Query("source", "cis: the loaded files (the default); telemetry: derived from its devices' "
                      "MirrorUsagePoints when read", choices=interval_intake.SOURCES))


async def _read_limited(request: web.Request, limit: int) -> bytes:
    """The body, up to limit bytes (413 beyond); a file may exceed the admin API's usual body limit."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the file of {request.content_length} bytes exceeds the {limit}-byte limit "
                            "(interval_file_max_bytes)")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the file exceeds the {limit}-byte limit (interval_file_max_bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


async def load_intervals(request: web.Request) -> web.Response:
    """A CIS interval file (text/csv or application/json); ?name= the file's name, kept with its batch."""
    store, config, clock = request.app[STORE], request.app[CONFIG], request.app[CLOCK]
    errors: list[dict[str, str]] = []
    name = read_query(request, LOAD_QUERY).get("name")
    if name is not None and not 1 <= len(name) <= MAX_NAME:
        errors.append(error(f"1 to {MAX_NAME} characters", "name"))
    elif name is not None and not name.isprintable():
        errors.append(error("contains a control character", "name"))
    if errors:
        raise invalid(errors)
    fmt = CONTENT_TYPES.get(request.content_type)
    if fmt is None:
        raise ApiError(415, "Content-Type must be text/csv or application/json, not "
                            f"{request.content_type or 'absent'}")
    raw = await _read_limited(request, config.interval_file_max_bytes)
    result = await interval_intake.load_file(store, raw, fmt, name, config.interval_file_max_rows, clock.now())
    return json_response(interval_json.load(result), 201 if result.created else 200)


def _moment(value: str | None, name: str, errors: list[dict[str, str]]) -> int | None:
    if value is None:  # reported by query_values
        return None
    moment = interval_files.parse_start(value.strip())
    if moment is None:
        errors.append(error("must be Unix seconds or ISO 8601 with a UTC offset", name))
    return moment


async def get_intervals(request: web.Request) -> web.Response:
    """?from=&to= (required) &source=cis|telemetry (default cis)."""
    store, config = request.app[STORE], request.app[CONFIG]
    sp_id = path_id(request, "service_point_id", "service point")
    query, errors = query_values(request, WINDOW_QUERY)
    start = _moment(query.get("from"), "from", errors)
    end = _moment(query.get("to"), "to", errors)
    source = query.get("source", "cis")
    if start is not None and end is not None:
        if end <= start:
            errors.append(error("must be after from", "to"))
        elif end - start > config.interval_window_max:
            errors.append(error(f"the window is at most {config.interval_window_max} seconds "
                                "(interval_window_max)", "to"))
    if errors:
        raise invalid(errors)
    assert start is not None and end is not None
    sp = await store.service_point(sp_id)
    if sp is None:
        raise not_found(f"service point {sp_id}")
    found = await interval_intake.window(store, sp_id, "telemetry" if source == "telemetry" else "cis", start, end)
    return json_response(interval_json.window(sp, found))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/interval-data", load_intervals,
          "Load an interval file from the customer-billing system",
          {200: Answer("nothing changed: every reading was stored already", "IntervalLoad"),
           201: Answer("stored: something was inserted or replaced (a new batch)", "IntervalLoad")},
          body=Upload(PlainBody(interval_files.FILE, nested={"readings": PlainBody(interval_files.READING)}),
                      f"a header line {','.join(interval_files.KEYS)} ({' and '.join(OPTIONAL_COLUMNS)} optional; "
                      "any order), then one reading a line"),
          errors={413: "over interval_file_max_bytes (16 MiB by default)",
                  415: "Content-Type is neither text/csv nor application/json"},
          query=LOAD_QUERY,
          description="Every row is checked (fields, a known service point, no interval twice or overlapping); a "
                      "file with any wrong row is refused whole (400, each problem with its line or index). A "
                      "reading is stored per service point and start: loading the same file again changes nothing, "
                      "a changed value replaces the stored one. See docs/settlement.md."),
    Route("GET", "/service-points/{service_point_id:[0-9]+}/intervals", get_intervals,
          "A service point's interval energy in a window, with its gaps",
          {200: Answer("the readings, gaps and estimates", "IntervalWindow")},
          errors={400: "from, to or source missing or wrong"},
          query=WINDOW_QUERY,
          description="from and to at most interval_window_max seconds apart; telemetry: docs/settlement.md"),
)
