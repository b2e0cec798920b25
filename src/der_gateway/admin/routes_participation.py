"""Event participation: device scores (stored, recomputed on demand) and load-reduction forecasts."""

from __future__ import annotations

from aiohttp import web

from ..domain.identifiers import new_mrid
from ..sep import codec, model
from ..sep.json_form import Plain, build, check_plain, error
from ..services.json_view import Id
from ..services import participation, participation_json
from .http import invalid, json_response, not_found, path_id, read_json
from .routes_programs import program_of
from .state import CLOCK, CONFIG, SCHEMAS, STORE
from .routing import Answer, Route, SepBody

FORECAST_FIELDS = ("interval", "DERControlBase")
FORECAST_EXTRA = {"endDevices": Plain(list, items=Plain(int, minimum=1, maximum=2**63 - 1), unique=True,
                                      description="the devices to forecast; absent: every device the program "
                                                  "reaches")}
MAX_WINDOW = 86_400


class Forecast(participation_json.ForecastParts):
    programId: Id


async def get_scores(request: web.Request) -> web.Response:
    program = await program_of(request)
    computed, records = await request.app[STORE].device_scores(program.id)
    return json_response(participation_json.scores(program.id, computed, records))


async def recompute_scores(request: web.Request) -> web.Response:
    program = await program_of(request)
    run = await participation.score_program(request.app[STORE], request.app[CONFIG], request.app[CLOCK], program.id)
    view: participation_json.DeviceScores = {**participation_json.scores(program.id, run.computed, run.scores),
                                             "syncMessagesQueued": run.queued}
    return json_response(view)


async def get_device_score(request: web.Request) -> web.Response:
    program = await program_of(request)
    end_device_id = path_id(request, "end_device_id", "EndDevice")
    record = await request.app[STORE].device_score(program.id, end_device_id)
    if record is None:
        raise not_found(f"score of EndDevice {end_device_id} in program {program.id}")
    return json_response(participation_json.score(record))


async def forecast(request: web.Request) -> web.Response:
    """The load reduction a DERControlBase would bring in a window: per device, per service point and in all."""
    store, config, clock = request.app[STORE], request.app[CONFIG], request.app[CLOCK]
    program = await program_of(request)
    body = await read_json(request)
    extra, errors = check_plain({k: v for k, v in body.items() if k not in FORECAST_FIELDS}, FORECAST_EXTRA)
    ids: list[int] | None = extra.get("endDevices")
    interval, base = body.get("interval"), body.get("DERControlBase")
    if isinstance(interval, dict) and type(interval.get("duration")) is int \
            and not 1 <= interval["duration"] <= MAX_WINDOW:
        errors.append(error(f"must be 1 to {MAX_WINDOW} seconds (a window within a day, compared with like days)",
                            "interval.duration"))
    if base == {}:
        errors.append(error("must set at least one control", "DERControlBase"))
    now = clock.now()
    # the schema judges the window and the control as it would an event's
    control = build(model.DERControl, {
        "mRID": new_mrid(config.mrid_pen), "creationTime": now,
        "EventStatus": {"currentStatus": 0, "dateTime": now, "potentiallySuperseded": False},
        **{k: body[k] for k in ("interval", "DERControlBase") if k in body}}, request.app[SCHEMAS], prior=errors)
    if ids is None:
        ids = [end_device_id for end_device_id, _ in await store.targeted_end_devices(program.id)]
    else:
        missing = [error(f"no EndDevice {i}", f"endDevices[{n}]") for n, i in enumerate(ids)
                   if await store.end_device(i) is None]
        if missing:
            raise invalid(missing)
    result = await participation.forecast_devices(store, config, ids, control.interval.start,
                                                  control.interval.duration, codec.to_data(control.DERControlBase),
                                                  now)
    view: Forecast = {"programId": program.id, **participation_json.forecast(result)}
    return json_response(view)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/programs/{program_id:[0-9]+}/scores", get_scores,
          "The program's device scores, as last computed",
          {200: Answer("best first (available ones first); computed null if never scored", "DeviceScores")},
          description="Scores are computed every score_interval seconds by the server, and on demand (POST). See "
                      "docs/participation.md for the formula."),
    Route("POST", "/programs/{program_id:[0-9]+}/scores", recompute_scores,
          "Score the program's devices now",
          {200: Answer("the new scores", "DeviceScores")},
          description="Stores them in place of the last ones, writes data_dir/exports/scores/program-{id}.json and "
                      ".csv, and sends a \"device-scores\" message to every sync endpoint."),
    Route("GET", "/programs/{program_id:[0-9]+}/scores/{end_device_id:[0-9]+}", get_device_score,
          "One device's score in the program",
          {200: Answer("it", "DeviceScore")}),
    Route("POST", "/programs/{program_id:[0-9]+}/forecast", forecast,
          "Forecast the load reduction of a control",
          {200: Answer("kW per device, per service point and in all", "Forecast")},
          body=SepBody(model.DERControl, FORECAST_FIELDS, extra=FORECAST_EXTRA),
          description="From each device's telemetry on like days in the same window, its capability and the "
                      "control's modes and levels (docs/participation.md). The window lasts at most a day. Nothing "
                      "is stored."),
)
