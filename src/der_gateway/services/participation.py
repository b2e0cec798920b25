"""Device scores and load-reduction forecasts for event participation (the formulas: domain/participation/).

Scores are computed for every device an active program (one assigned to a group) reaches, periodically by
the leader's ScoreDuty and on demand (score_program); each run replaces the program's stored scores, writes
data_dir/exports/scores/program-{id}.json and .csv, and queues a "device-scores" message to every sync
endpoint, in the transaction that stores the scores.  `standings` and `forecast_kw` are for reservation:
the ranked devices of a program at an instant, and the kW a set of devices would shed for a window and a
DERControlBase.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..config import Config
from ..domain.participation.device_facts import DeviceFacts, device_facts
from ..domain.participation.forecast import (DeviceForecast, PowerSeries, forecast, like_day_windows,
                                             recent_window, series_from_reading_type)
from ..domain.participation.score import History, Score, ScoreInputs, ScorePolicy, Weights, ranked, score
from ..domain.refusals import Conflict
from ..store.interface import Store
from ..store.participation_records import DeviceScoreRecord, ParticipantRecord
from . import participation_json
from .score_exports import write_score_exports


def score_policy(config: Config) -> ScorePolicy:
    """The score settings of the deployment; ValueError naming what is wrong."""
    return ScorePolicy(Weights(config.score_weight_capacity, config.score_weight_availability,
                               config.score_weight_participation, config.score_weight_opt_outs,
                               config.score_weight_communication),
                       config.score_capacity_reference_w, config.score_contact_fresh, config.score_contact_lost,
                       config.score_min_state_of_charge)


def check_settings(config: Config) -> None:
    """Every participation setting is usable (ValueError otherwise): called when the server starts."""
    score_policy(config)
    ZoneInfo(config.timezone)
    if not config.score_interval >= 0:
        raise ValueError("score_interval must be a number of seconds (0: on demand only)")
    if config.score_history < 0:
        raise ValueError("score_history must be at least 0 seconds")
    if config.forecast_days < 1 or config.forecast_lookback_days < 1:
        raise ValueError("forecast_days and forecast_lookback_days must be at least 1")


def _facts(documents: Mapping[str, Mapping[str, Any]]) -> DeviceFacts:
    return device_facts(documents.get("dercap"), documents.get("derg"), documents.get("ders"), documents.get("dera"))


def _record(program_id: int, p: ParticipantRecord, s: Score, now: int) -> DeviceScoreRecord:
    return DeviceScoreRecord(program_id, p.end_device_id, p.lfdi, p.service_point, s.score, s.available, s.reasons,
                             s.components, s.events, now)


async def scores_at(store: Store, config: Config, program_id: int, now: int) -> list[DeviceScoreRecord]:
    """The program's devices scored as of now, best first (computed, not stored)."""
    policy = score_policy(config)
    history = await store.program_history(program_id, now - config.score_history, now)
    starts = dict(history.ended_events)
    by_id = {p.end_device_id: p for p in history.devices}
    scored = []
    for p in history.devices:
        events = tuple(statuses for control_id, statuses in p.statuses.items()
                       if starts[control_id] >= p.registered_at)  # events from before it joined do not count
        inputs = ScoreInputs(now, p.enabled, _facts(p.documents), p.last_contact, History(events))
        scored.append((p.end_device_id, score(inputs, policy)))
    return [_record(program_id, by_id[i], s, now) for i, s in ranked(scored)]


@dataclass(frozen=True)
class ScoreRun:
    program_id: int
    computed: int
    scores: list[DeviceScoreRecord]
    queued: int  # sync messages queued


async def score_program(store: Store, config: Config, clock: Clock, program_id: int) -> ScoreRun:
    """Scores the program's devices now, stores the scores, writes the export files and queues the message.
    Conflict if the program went meanwhile."""
    program = await store.program(program_id)
    if program is None:
        raise Conflict(f"no program {program_id}")
    now = clock.now()
    scores = await scores_at(store, config, program_id, now)
    message = participation_json.score_message(program, now, scores)
    queued = await store.save_device_scores(program_id, now, scores, message)
    await asyncio.to_thread(write_score_exports, config.data_dir, program, now, scores)
    return ScoreRun(program_id, now, scores, queued)


async def standings(store: Store, config: Config, program_id: int, at: int) -> list[DeviceScoreRecord]:
    """The ranked standings of a program's devices at an instant: available first, best score first."""
    return await scores_at(store, config, program_id, at)


@dataclass(frozen=True)
class DeviceForecastRow:
    end_device_id: int
    lfdi: str
    service_point_id: int | None
    service_point: str | None
    forecast: DeviceForecast


@dataclass(frozen=True)
class Forecast:
    start: int
    duration: int
    devices: list[DeviceForecastRow]

    @property
    def total_w(self) -> float:
        return sum(d.forecast.reduction_w for d in self.devices)

    def by_service_point(self) -> list[tuple[int | None, str | None, list[DeviceForecastRow]]]:
        groups: dict[tuple[int | None, str | None], list[DeviceForecastRow]] = defaultdict(list)
        for d in self.devices:
            groups[(d.service_point_id, d.service_point)].append(d)
        return [(sp_id, sp, rows) for (sp_id, sp), rows in
                sorted(groups.items(), key=lambda item: (item[0][0] is None, item[0][0] or 0))]


async def forecast_devices(store: Store, config: Config, end_device_ids: Sequence[int], start: int, duration: int,
                           base: Mapping[str, Any], now: int | None = None) -> Forecast:
    """The load reduction of each device given (those that exist) for the window and DERControlBase (its JSON
    form, codec.to_data), as forecast at now (None: from like days only)."""
    windows = like_day_windows(start, duration, ZoneInfo(config.timezone), config.forecast_lookback_days)
    recent = recent_window(start, now)
    participants = await store.participants(end_device_ids)
    series: dict[int, list[PowerSeries]] = defaultdict(list)
    read = windows + ([recent] if recent is not None else [])
    if read and participants:
        for r in await store.power_history([p.end_device_id for p in participants], read):
            one = series_from_reading_type(r.reading_type, r.readings)
            if one is not None:
                series[r.end_device_id].append(one)
    rows = [DeviceForecastRow(p.end_device_id, p.lfdi, p.service_point_id, p.service_point,
                              forecast(base, _facts(p.documents), series[p.end_device_id], windows,
                                       config.forecast_days, duration, recent))
            for p in participants]
    return Forecast(start, duration, rows)


async def forecast_kw(store: Store, config: Config, end_device_ids: Sequence[int], start: int, duration: int,
                      base: Mapping[str, Any], now: int | None = None) -> float:
    """The forecast load reduction of a set of devices, in kW, for the window and DERControlBase."""
    return (await forecast_devices(store, config, end_device_ids, start, duration, base, now)).total_w / 1000


class ScoreDuty:
    """Scores every active program's devices every score_interval seconds (0: never by itself)."""

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        check_settings(config)
        self.store, self.config, self.clock = store, config, clock
        self.interval = config.score_interval
        self._last = time.monotonic()  # the first run is one interval after start

    async def run_once(self) -> int:
        """Scores the active programs; returns how many sync messages were queued."""
        queued = 0
        stage_programs = await self.store.dispatch_programs()  # scored as the programs their stages are of
        for program in await self.store.programs():
            if program.id in stage_programs or not await self.store.groups_with_program(program.id):
                continue
            if not await self.store.targeted_end_devices(program.id) \
                    and not (await self.store.device_scores(program.id))[1]:
                continue  # nothing to score, and nothing stale to clear
            try:
                queued += (await score_program(self.store, self.config, self.clock, program.id)).queued
            except Conflict:  # deleted meanwhile
                continue
        return queued

    async def maybe_run(self) -> int:
        if not self.interval:
            return 0
        now = time.monotonic()
        if now - self._last < self.interval:
            return 0
        self._last = now
        return await self.run_once()
