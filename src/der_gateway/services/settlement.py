"""Settling a stage: for each device it called, the baseline, measured energy and kWh avoided over the stage's
window (domain/settlement/baselines.py), priced over the window (prices.py) and credited under the program's
tariff (credits.py); stored once per device (store/sqlite_billing.py) and exported to analytics.

Measurement: a program's "measurement" is "cis" (the service point's interval files), "telemetry" (the
device's own 2030.5 telemetry) or "auto" (the default: the service point's files where they cover the window,
else the device's telemetry).  A service point's files measure every device on it: each device called there
is given an equal share of its kWh.  The window is the stage's DERControl's, cut short where it was cancelled
while active; a stage cancelled before it began credits nothing but its penalties (none).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from ..clock import Clock
from ..config import Config
from ..domain.refusals import Conflict
from ..domain.settlement.baseline_parameters import BaselineParameters, method_document, parse_method
from ..domain.settlement.baselines import AvoidedEnergy, kwh_avoided
from ..domain.settlement.credits import IncentiveTerms, Slice, device_credit, parse_terms
from ..domain.settlement.like_days import Calendar
from ..domain.settlement.prices import Segment, price_segments
from ..domain.settlement.series import IntervalReading
from ..domain.settlement.telemetry import DeviceMeter, telemetry_intervals
from ..store.billing_records import CreditRecord
from ..store.interface import Store
from ..store.stage_records import StageRecord
from . import settlement_json

log = logging.getLogger(__name__)

MEASUREMENTS = ("auto", "cis", "telemetry")
DEFAULT_METHOD: dict[str, Any] = {"name": "high-x-of-y"}
DAY = 86_400


@dataclass(frozen=True)
class Settled:
    stage_id: int
    credits: list[CreditRecord]
    new: int  # stored by this run (a device already settled keeps its credit)


async def program_method(store: Store, program_id: int) -> tuple[BaselineParameters, str]:
    found = await store.baseline_method(program_id)
    document, measurement = found if found is not None else (DEFAULT_METHOD, "auto")
    return parse_method(document), measurement


async def program_terms(store: Store, program_id: int, currency: str) -> IncentiveTerms:
    """The incentive terms of the tariff the program's eligibility names (none: energy only, in currency)."""
    rules = await store.program_rules(program_id)
    tariff_id = (rules.eligibility if rules else {}).get("tariffId")
    tariff = await store.tariff(tariff_id) if tariff_id is not None else None
    if tariff is None:
        return IncentiveTerms(currency=currency)
    return parse_terms(tariff.terms)


def _window(control_start: int, duration: int, cancelled_at: int | None) -> tuple[int, int] | None:
    end = control_start + duration
    if cancelled_at is not None:
        if cancelled_at <= control_start:
            return None
        end = min(end, cancelled_at)
    return control_start, end


def slices(avoided: AvoidedEnergy, segments: Sequence[Segment], share: Fraction) -> list[Slice]:
    """The kWh avoided in each interval, split across the price segments it overlaps in proportion to time."""
    result = []
    for interval in avoided.intervals:
        known = interval.baseline_kwh is not None and interval.measured_kwh is not None
        span = interval.end - interval.start
        for seg in segments:
            overlap = min(interval.end, seg.end) - max(interval.start, seg.start)
            if overlap <= 0:
                continue
            kwh = None
            if known:
                assert interval.baseline_kwh is not None and interval.measured_kwh is not None
                part = (Fraction(interval.baseline_kwh) - Fraction(interval.measured_kwh)) * overlap / span * share
                kwh = Decimal(part.numerator) / Decimal(part.denominator)
            result.append(Slice(max(interval.start, seg.start), min(interval.end, seg.end), kwh, seg.price))
    return result


async def _readings(store: Store, measurement: str, edev: int, sp: int, lo: int, hi: int, window: tuple[int, int]
                    ) -> tuple[list[IntervalReading], bool]:
    """The readings to settle the device on, and whether they are its service point's files (shared)."""
    if measurement in ("auto", "cis"):
        cis = await store.interval_readings(sp, "cis", lo, hi)
        covered = sum(min(r.end, window[1]) - max(r.start, window[0]) for r in cis
                      if r.end > window[0] and r.start < window[1])
        if measurement == "cis" or covered >= window[1] - window[0]:
            return list(cis), True
    meters = [m for m in await store.service_point_telemetry(sp, lo, hi) if m.end_device_id == edev]
    return telemetry_intervals([DeviceMeter(m.end_device_id, m.reading_type, m.readings) for m in meters]), False


async def settle_stage(store: Store, config: Config, clock: Clock, stage: StageRecord) -> Settled:
    """Computes and stores the credits of every device the stage called; Conflict until its outcomes are
    settled (the stage has ended)."""
    if stage.settled_at is None:
        raise Conflict(f"stage {stage.position} has not ended: its outcomes are not settled yet")
    control = await store.control(stage.control_id)
    if control is None:
        raise Conflict(f"stage {stage.position} has no DERControl")
    method, measurement = await program_method(store, stage.program_id)
    pricing = await store.pricing(stage.program_id)
    terms = await program_terms(store, stage.program_id, pricing.currency if pricing else "USD")
    record = await store.participation(control.id)
    places = await store.device_places([p.end_device_id for p in record])
    reserved = {r.end_device_id: r for r in await store.reservation(stage.id)}
    window = _window(control.start, control.duration, control.cancelled_at)
    segments: list[Segment] = []
    if window is not None:
        segments = (price_segments(pricing, await store.prices(stage.program_id, *window), *window) if pricing
                    else [Segment(window[0], window[1], None)])
    calendar = Calendar(ZoneInfo(config.timezone))
    lookback = getattr(method, "lookback_days", 1) + 2
    sharing: dict[int, int] = {}
    for p in record:
        if p.end_device_id in places:
            point = places[p.end_device_id][2]
            sharing[point] = sharing.get(point, 0) + 1
    now = clock.now()
    credits = []
    for p in record:
        place: tuple[int | None, int | None, int | None] = places.get(p.end_device_id, (None, None, None))
        customer, account, sp = place
        avoided: AvoidedEnergy | None = None
        share = Fraction(1)
        if window is not None and sp is not None:
            readings, shared = await _readings(store, measurement, p.end_device_id, sp,
                                               window[0] - lookback * DAY, window[1], window)
            if shared:
                share = Fraction(1, sharing.get(sp, 1))
            try:
                avoided = kwh_avoided(readings, window[0], window[1], method, calendar)
            except ValueError:  # overlapping readings: nothing can be said of the energy
                avoided = None
        device_slices = slices(avoided, segments, share) if avoided is not None else \
            [Slice(s.start, s.end, None, s.price) for s in segments]
        reservation = reserved.get(p.end_device_id)
        reserved_kw = (Decimal(str(reservation.forecast_w)) / 1000 if reservation is not None and reservation.reserved
                       and stage.target_w is not None else None)
        credit = device_credit(device_slices, p.outcome, reserved_kw, terms)
        credits.append(CreditRecord(
            stage.id, p.end_device_id, p.lfdi, customer, account, sp, terms.currency,
            _scaled(avoided.baseline_kwh if avoided else None, share),
            _scaled(avoided.measured_kwh if avoided else None, share),
            _scaled(avoided.kwh_avoided if avoided else None, share), credit.paid_kwh, credit.energy,
            credit.per_event, credit.reservation, credit.penalty, credit.total,
            avoided.quality if avoided is not None and credit.complete else "incomplete", now,
            method=method_document(method),
            profile=tuple((i.start, i.end, _scaled(i.baseline_kwh, share), _scaled(i.measured_kwh, share))
                          for i in (avoided.intervals if avoided else ()))))
    new = await store.record_credits(credits)
    await store.stage_credited(stage.id, now)
    stored = await store.credits(stage_id=stage.id)
    return Settled(stage.id, stored, new)


def _scaled(kwh: Decimal | None, share: Fraction) -> Decimal | None:
    if kwh is None or share == 1:
        return kwh
    part = Fraction(kwh) * share
    return (Decimal(part.numerator) / Decimal(part.denominator)).quantize(Decimal("0.001"))


def settlement_dir(config: Config) -> Path:
    return config.data_dir / "exports" / "settlement"


def write_exports(config: Config, event_mrid: str, stage: StageRecord, credits: Sequence[CreditRecord]) -> Path:
    """data_dir/exports/settlement/stage-{id}.json and .csv (kWh avoided and credits per device, for analytics),
    each written whole or not at all."""
    directory = settlement_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    devices = [settlement_json.credit(c) for c in credits]
    document = {"eventMRID": event_mrid, "stageId": stage.id, "stagePosition": stage.position,
                "programId": stage.program_id, "devices": devices}
    out = io.StringIO()
    writer = csv.writer(out)
    columns = ("endDeviceLFDI", "servicePointId", "baselineKWh", "measuredKWh", "avoidedKWh", "quality",
               "currency", "total")
    writer.writerow(columns)
    for c in devices:
        row = dict(c)
        writer.writerow([row[k] if row[k] is not None else "" for k in columns])
    for name, text in ((f"stage-{stage.id}.json", json.dumps(document, indent=1)),
                       (f"stage-{stage.id}.csv", out.getvalue())):
        temporary = directory / f".{name}.tmp"
        temporary.write_text(text)
        os.replace(temporary, directory / name)
    return directory / f"stage-{stage.id}.json"


async def settle_and_export(store: Store, config: Config, clock: Clock, event_mrid: str,
                            stage: StageRecord) -> Settled:
    settled = await settle_stage(store, config, clock, stage)
    await asyncio.to_thread(write_exports, config, event_mrid, stage, settled.credits)
    return settled


class SettlementDuty:
    """Settles each stage settlement_delay seconds after it ended (time for billing's interval files to come;
    a stage can be settled again on demand while its credits are unbilled), looking every CHECK seconds."""

    CHECK = 60.0

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        if not config.settlement_delay >= 0:
            raise ValueError("settlement_delay must be a number of seconds, at least 0")
        self.store, self.config, self.clock = store, config, clock
        self._last = 0.0

    async def run_once(self) -> int:
        """How many stages were settled."""
        done = 0
        for stage_id in await self.store.stages_to_credit(int(self.clock.now() - self.config.settlement_delay)):
            stage = await self.store.stage(stage_id)
            event = await self.store.utility_event(stage.event_id) if stage is not None else None
            if stage is None or event is None:
                continue
            try:
                await settle_and_export(self.store, self.config, self.clock, event.mrid, stage)
            except Exception:  # one stage's trouble (its program's baseline document, say) holds no other back
                log.exception("settling stage %s failed; it is tried again in %s s", stage_id, self.CHECK)
                continue
            done += 1
        return done

    async def maybe_run(self) -> int:
        now = time.monotonic()
        if now - self._last < self.CHECK:
            return 0
        self._last = now
        return await self.run_once()
