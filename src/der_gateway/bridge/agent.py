"""One device's agent: its Modbus side, its EndDevice on the server, and the control in force.

A ``DeviceAgent`` runs one loop.  Each turn does what is due and then sleeps
until the next thing is due or something wakes it (a Notification, the server
coming back):

- Modbus: scan the device (again after a loss, with doubling waits); sample
  701 (and 713) every ``sample_interval``; read every model after a write and
  every ``full_read_interval``.
- Server: register the EndDevice; PUT DERCapability and DERSettings, and
  DERStatus and DERAvailability when they change; create the
  MirrorUsagePoint and POST the period's averaged readings every postRate;
  refetch the FunctionSetAssignmentsList (notified, else every pollRate) and
  follow it to the programs, which the shared ``ProgramCache`` holds; POST
  LogEvents and responses.
- Control: ``ResponseTracker`` decides which control is in force and which
  responses are due; a new decision is written to the device as a
  ``sunspec_map`` plan (an event with its remaining time as the reversion
  timer, so the device undoes it by itself if the bridge is gone; the
  DefaultDERControl open ended), and the agent wakes at the decision's next
  change to write the next one.

Losing the device or the server never ends the loop: Modbus errors mark the
device lost (DERStatus operationalModeStatus 0 with manufacturerStatus
"COMLOS", and LogEvents when it is lost and when it is back), server errors
leave the work pending until the client sees the server again (a LogEvent then
tells of the outage).  A "started" response is sent only once the control has
been written.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from der_gateway.sep import codec, model

from . import sunspec_map as sm
from .client import ClientError, HttpError, ProtocolError, ServerUnavailable
from .decision import Decision, ProgramView, ResponseDue, ResponseStatus, ResponseTracker
from .identity import DeviceIdentity, DeviceSpec
from .modbus import ModbusError, ModbusRefused, SunSpecDevice
from ..wakeups import woken

if TYPE_CHECKING:
    from .runtime import Bridge

log = logging.getLogger(__name__)

DEFAULT_POST_RATE = 300
DEFAULT_POLL_RATE = 900

# LogEvent codes (profileID 1, vendor defined, under the bridge's PEN; functionSet 11, DER)
LOG_MODBUS_LOST = 1
LOG_MODBUS_RESTORED = 2
LOG_SERVER_UNREACHABLE = 3
LOG_CONTROL_REFUSED = 4
LOG_PROFILE_VENDOR = 1
LOG_FUNCTION_SET_DER = 11

LOG_DETAILS_MAX = 32  # LogEvent.details is String32

COMMS_LOST = "COMLOS"  # DERStatus.manufacturerStatus while the device cannot be reached (6 characters at most)
OPERATIONAL_MODE_UNKNOWN = 0

_TIMES = frozenset({"dateTime", "readingTime", "updatedTime"})


def _without_times(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_times(v) for k, v in data.items() if k not in _TIMES}
    if isinstance(data, list):
        return [_without_times(v) for v in data]
    return data


def _amount(v: Any) -> float | None:
    return None if v is None else v.value * 10.0 ** v.multiplier


@dataclass
class ResponseSent:
    mrid: str
    status: int
    time: float


@dataclass
class DeviceState:
    """What a device's agent has done and holds, for the demo, the tests and the CLI."""

    name: str
    lfdi: str
    sfdi: int
    edev: str | None = None  # the EndDevice's href on the server
    mup: str | None = None  # its MirrorUsagePoint
    registered: bool = False
    modbus_ok: bool = False
    modbus_lost_at: float | None = None
    modbus_losses: int = 0
    server_outages: int = 0
    post_rate: int = DEFAULT_POST_RATE
    poll_rate: int = DEFAULT_POLL_RATE
    program_lists: tuple[str, ...] = ()
    fsa_subscription: str | None = None
    decision: Decision | None = None
    applied: tuple | None = None  # the Decision.key last written
    applied_base: model.DERControlBase | None = None
    applied_at: float | None = None
    plans: int = 0  # plans written
    last_plan: list[sm.Step] = field(default_factory=list)
    responses: list[ResponseSent] = field(default_factory=list)
    last_w: float | None = None
    w_max: float | None = None
    last_sample_at: float | None = None
    readings_posted: int = 0
    puts: collections.Counter = field(default_factory=collections.Counter)  # by document kind
    log_events: list[tuple[int, str]] = field(default_factory=list)  # (logEventCode, details) queued
    logs_posted: int = 0
    errors: int = 0
    last_error: str | None = None

    def statuses(self, mrid: str) -> list[int]:
        """The response statuses sent for an event, in order."""
        return [r.status for r in self.responses if r.mrid.upper() == mrid.upper()]


class DeviceAgent:
    def __init__(self, bridge: Bridge, spec: DeviceSpec, identity: DeviceIdentity, start_delay: float = 0.0) -> None:
        self.bridge = bridge
        self.spec = spec
        self.name = spec.name
        self.identity = identity
        self.options = bridge.options
        self.client = bridge.client
        self.start_delay = start_delay
        self.modbus = SunSpecDevice(spec.host, spec.port, spec.unit_id, pool=bridge.pool,
                                    timeout=self.options.modbus_timeout)
        self.state = DeviceState(spec.name, identity.lfdi, identity.sfdi)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

        # the device
        self.models: dict[int, dict[str, Any]] | None = None
        self.baseline: dict[int, dict[str, Any]] | None = None  # as found before the bridge controlled it
        self.capability: model.DERCapability | None = None
        self.settings: model.DERSettings | None = None
        self.modbus_backoff = self.options.modbus_backoff
        self.modbus_retry_at = 0.0
        self.next_sample = 0.0
        self.next_full_read = 0.0
        self.samples: list[list[sm.Telemetry]] = []

        # the server
        self.end_device: model.EndDevice | None = None
        self.der_links: dict[str, str] = {}
        self.sent: dict[str, Any] = {}  # kind -> the document last PUT (times left out)
        self.pending: dict[str, Any] = {}  # kind -> the document to PUT
        self.last_availability: model.DERAvailability | None = None
        self._period_end: int | None = None  # server time the last telemetry period closed at
        self.telemetry_out: collections.deque[tuple[list[sm.Telemetry], tuple[int, int]]] = collections.deque(
            maxlen=self.options.telemetry_backlog)
        self.next_post = 0.0
        self.responses_out: list[ResponseDue] = []
        self.logs_out: list[model.LogEvent] = []
        self.log_id = 0
        self.fsa_dirty = True
        self.next_fsa_poll = 0.0
        self.register_retry_at = 0.0
        self.server_retry_at: float | None = None  # set after a failed exchange: wait until then
        self.server_backoff = self.options.server_backoff

        # control
        tracker_state = None
        self.applied_mrids: set[str] = set()
        self.unapplied: set[str] = set()
        self.es_written: str | None = None
        self.reapply = False
        self.next_change: int | None = None
        self._persisted = self._load()
        if self._persisted:
            tracker_state = self._persisted.get("tracker")
        self.tracker = ResponseTracker(identity.lfdi, accept=self._accept, device_category=identity.device_category,
                                       state=tracker_state)
        self._dirty = False

    # -- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"bridge-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._save()
        await self.modbus.close()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        self._wake.set()

    @property
    def ready(self) -> bool:
        """Registered, following its programs (all read), and scanned with its documents PUT (or found lost)."""
        if not (self.state.registered and not self.fsa_dirty and self.bridge.cache.loaded(self.name)):
            return False
        if self.models is None:
            return self.state.modbus_lost_at is not None
        return not any(kind in self.pending for kind in ("dercap", "derg", "ders", "dera"))

    async def _run(self) -> None:
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        while True:
            self._wake.clear()
            now = time.time()
            pause = self.options.min_sleep  # at least a moment: the other devices' loops get their turn too
            try:
                await self._turn(now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the device's loop: note it and carry on
                self._error(f"{type(exc).__name__}: {exc}")
                log.exception("%s: turn failed", self.name)
                pause = self.options.server_backoff
            if self._dirty:
                self._save()
            delay = max(pause, self._next_deadline() - time.time())
            await woken(self._wake, delay)

    def _next_deadline(self) -> float:
        now = time.time()
        times = [now + self.options.max_sleep]
        if self.state.modbus_ok:
            times += [self.next_sample, self.next_full_read]
        else:
            times.append(self.modbus_retry_at)
        if self.client.available:  # (when it is not, the bridge wakes us when the server is back)
            if not self.state.registered:
                times.append(self.register_retry_at)
            elif self.server_retry_at is not None:
                times.append(self.server_retry_at)  # after a failure: back off
            else:
                times += [self.next_fsa_poll, self.next_post]
                if self._server_work_pending():
                    times.append(now)
        if self.next_change is not None:
            times.append(self.next_change - self.bridge.clock_offset + 0.02)
        return min(times)

    def _server_work_pending(self) -> bool:
        """Whether something waits to be sent that can be sent now."""
        if self.fsa_dirty or self.telemetry_out or self.logs_out:
            return True
        if any(kind in self.der_links for kind in self.pending):
            return True
        return bool(self.responses_out) and not self._held(self.responses_out[0])

    def _held(self, due: ResponseDue) -> bool:
        """A "started" for the event in force that has not been written to the device yet."""
        decision = self.state.decision
        return (due.status == ResponseStatus.STARTED and due.mrid.upper() not in self.applied_mrids
                and decision is not None and decision.source == "event" and decision.mrid is not None
                and decision.mrid.upper() == due.mrid.upper())

    async def _turn(self, now: float) -> None:
        await self._modbus_turn(now)
        if self.server_retry_at is not None and now >= self.server_retry_at:
            self.server_retry_at = None
        if self.client.available and self.server_retry_at is None:
            try:
                await self._server_turn(now)
            except ServerUnavailable:
                pass  # the client probes; the bridge wakes us when the server is back
        await self._control_turn(time.time())

    def _t(self, now: float) -> int:
        """A local time as the server's time (2030.5 times: whole seconds; the server's clock rules)."""
        return int(now + self.bridge.clock_offset)

    def _error(self, text: str) -> None:
        self.state.errors += 1
        self.state.last_error = text

    # -- Modbus ------------------------------------------------------------------------------------

    async def _modbus_turn(self, now: float) -> None:
        if self.models is None or not self.state.modbus_ok:
            if now >= self.modbus_retry_at:
                await self._connect(now)
            return
        try:
            if now >= self.next_full_read:
                await self._full_read(now)
            elif now >= self.next_sample:
                await self._sample(now)
        except ModbusError as exc:
            self._modbus_failed(now, exc)

    async def _connect(self, now: float) -> None:
        try:
            snapshot = await self.modbus.scan()
        except ModbusError as exc:
            self._modbus_failed(now, exc)
            return
        self.models = snapshot
        if self.baseline is None:
            self.baseline = snapshot
            self._dirty = True
        lost_at = self.state.modbus_lost_at
        self.state.modbus_ok = True
        self.state.modbus_lost_at = None
        self.modbus_backoff = self.options.modbus_backoff
        if lost_at is not None:
            seconds = now - lost_at
            self._log_event(LOG_MODBUS_RESTORED, f"Modbus back after {seconds:.0f} s")
            log.warning("%s: Modbus back after %.1f s", self.name, seconds)
            self.reapply = True  # the device may have reverted, or restarted: write the control again
        self._take_snapshot(now, full=True)
        self._sample_from_models(now)
        self.next_sample = now + self._sample_interval()
        self.next_full_read = now + self.options.full_read_interval

    def _modbus_failed(self, now: float, exc: Exception) -> None:
        self._error(str(exc))
        if self.state.modbus_ok or self.state.modbus_lost_at is None:
            self.state.modbus_ok = False
            self.state.modbus_lost_at = now
            self.state.modbus_losses += 1
            log.warning("%s: Modbus lost: %s", self.name, exc)
            self._log_event(LOG_MODBUS_LOST, f"Modbus lost: {type(exc.__cause__ or exc).__name__}")
            self.pending["ders"] = model.DERStatus(
                readingTime=self._t(now),
                operationalModeStatus=model.OperationalModeStatusType(dateTime=self._t(now),
                                                                      value=OPERATIONAL_MODE_UNKNOWN),
                manufacturerStatus=model.ManufacturerStatusType(dateTime=self._t(now), value=COMMS_LOST))
            self.modbus_backoff = self.options.modbus_backoff
        self.modbus_retry_at = now + self.modbus_backoff
        self.modbus_backoff = min(self.modbus_backoff * 2, self.options.modbus_max_backoff)

    def _sample_interval(self) -> float:
        rate = self.state.post_rate or DEFAULT_POST_RATE
        if self.options.sample_interval is not None:
            return self.options.sample_interval
        return max(self.options.min_sample_interval, min(60.0, rate / self.options.samples_per_post))

    @property
    def loaded_models(self) -> dict[int, dict[str, Any]]:
        """The SunSpec models as last read; there are some once Modbus has been reached."""
        if self.models is None:
            raise RuntimeError(f"{self.name}: the device has not been read yet")
        return self.models

    async def _sample(self, now: float) -> None:
        wanted = [701] + ([713] if 713 in self.loaded_models else [])
        fresh = await self.modbus.read(wanted)
        self.loaded_models.update(fresh)
        self._sample_from_models(now)
        self._take_snapshot(now, full=False)
        self.next_sample = now + self._sample_interval()

    async def _full_read(self, now: float) -> None:
        self.models = await self.modbus.read()
        self._sample_from_models(now)
        self._take_snapshot(now, full=True)
        self.next_sample = now + self._sample_interval()
        self.next_full_read = now + self.options.full_read_interval

    def _sample_from_models(self, now: float) -> None:
        models = self.loaded_models
        if 701 not in models:
            return
        self.samples.append(sm.telemetry_readings(models[701], self._t(now), interval=self.state.post_rate))
        if len(self.samples) > self.options.max_samples:
            del self.samples[: len(self.samples) - self.options.max_samples]
        w = sm.scaled(models, 701, "W")
        self.state.last_w = None if w is None else float(w)
        self.state.last_sample_at = now

    def _take_snapshot(self, now: float, *, full: bool) -> None:
        """Work out the DER documents from the snapshot; those that changed are queued to PUT."""
        t = self._t(now)
        models = self.loaded_models
        try:
            if full:
                self.capability = sm.der_capability(models)
                self.settings = sm.der_settings(models, t)
                self.state.w_max = _amount(self.settings.setMaxW)
                self._queue("dercap", self.capability)
                self._queue("derg", self.settings)
            self._queue("ders", sm.der_status(models, t))
            availability = sm.der_availability(models, t)
            if self._availability_changed(availability):
                self.last_availability = availability
                self.pending["dera"] = availability
        except sm.MappingError as exc:
            self._error(f"mapping: {exc}")

    def _queue(self, kind: str, document: Any) -> None:
        if self.sent.get(kind) != _without_times(codec.to_data(document)):
            self.pending[kind] = document
        else:
            self.pending.pop(kind, None)

    def _availability_changed(self, new: model.DERAvailability) -> bool:
        """A change beyond the noise: 5 % of the rating in watts or vars, 10 % in durations, any in reserves."""
        old = self.last_availability
        if old is None:
            return True
        scale = self.state.w_max or 1.0
        for name in ("statWAvail", "statVarAvail"):
            a, b = _amount(getattr(old, name)), _amount(getattr(new, name))
            if (a is None) != (b is None) or (a is not None and b is not None and abs(a - b) > 0.05 * scale):
                return True
        for name in ("reservePercent", "reserveChargePercent"):
            if getattr(old, name) != getattr(new, name):
                return True
        for name in ("availabilityDuration", "maxChargeDuration"):
            a, b = getattr(old, name), getattr(new, name)
            if (a is None) != (b is None) or (a is not None and abs(a - b) > 0.1 * max(a, b, 1)):
                return True
        return False

    # -- the server ----------------------------------------------------------------------------------

    async def _server_turn(self, now: float) -> None:
        if not self.state.registered:
            if now < self.register_retry_at:
                return
            if not await self._register(now):
                return
        try:
            if self.fsa_dirty or now >= self.next_fsa_poll:
                await self._refresh_fsa(now)
            await self._put_documents()
            if now >= self.next_post:
                self._close_period(now)
            await self._post_telemetry()
            await self._post_logs()
            await self._flush_responses()
        except HttpError as exc:
            self._error(str(exc))
            log.warning("%s: %s", self.name, exc)
            edev = self.state.edev
            if exc.status == 404 and edev and (exc.href == edev or exc.href.startswith(edev + "/")):
                self._forget_registration()
            self._server_failed(now)
            return
        except ProtocolError as exc:
            self._error(str(exc))
            self._server_failed(now)
            return
        self.server_backoff = self.options.server_backoff

    def _server_failed(self, now: float) -> None:
        self.server_retry_at = now + self.server_backoff
        self.server_backoff = min(self.server_backoff * 2, self.options.server_max_backoff)

    def _forget_registration(self) -> None:
        """The server no longer has our EndDevice: register again."""
        log.warning("%s: EndDevice %s is gone; registering again", self.name, self.state.edev)
        self.bridge.forget_fsa(self)
        self.state.registered = False
        self.state.edev = None
        self.state.mup = None
        self.state.fsa_subscription = None
        self.sent.clear()
        self._dirty = True

    async def _register(self, now: float) -> bool:
        edev_list = await self.bridge.end_device_list()
        if edev_list is None:
            self.register_retry_at = now + self.server_backoff
            self.server_backoff = min(self.server_backoff * 2, self.options.server_max_backoff)
            return False
        body = model.EndDevice(lFDI=self.identity.lfdi, sFDI=self.identity.sfdi, changedTime=self._t(now),
                               deviceCategory=self.identity.category_hex)
        try:
            location = await self.client.post(edev_list, body)
            if location is None:
                raise ProtocolError(f"POST {edev_list} gave no Location")
            self.state.edev = location
            await self._load_end_device(location)
        except (HttpError, ProtocolError) as exc:
            self._error(f"registration: {exc}")
            log.warning("%s: registration failed: %s", self.name, exc)
            self.register_retry_at = now + self.options.server_max_backoff
            return False
        self.state.registered = True
        self.fsa_dirty = True
        self.next_post = now + self.state.post_rate
        # whatever was PUT before belongs to what the server had then: send it all again
        self.sent.clear()
        if self.models is not None:
            self._take_snapshot(now, full=True)
        self._dirty = True
        log.info("%s: registered as %s (LFDI %s)", self.name, location, self.identity.lfdi)
        return True

    async def _load_end_device(self, href: str) -> None:
        edev = await self.client.get(href, model.EndDevice)
        self.end_device = edev
        rate = edev.postRate or DEFAULT_POST_RATE
        if rate != self.state.post_rate:
            now = time.time()
            self.state.post_rate = rate
            self.next_post = min(self.next_post, now + rate) if self.next_post else now + rate
            self.next_sample = min(self.next_sample, now + self._sample_interval())
        if edev.DERListLink is not None and not self.der_links:
            ders = await self.client.get_list(edev.DERListLink.href, model.DERList, "DER")
            if ders.DER:
                der = ders.DER[0]
                for kind, link in (("dercap", der.DERCapabilityLink), ("derg", der.DERSettingsLink),
                                   ("ders", der.DERStatusLink), ("dera", der.DERAvailabilityLink)):
                    if link is not None:
                        self.der_links[kind] = link.href

    async def _refresh_fsa(self, now: float) -> None:
        edev = self.end_device
        if edev is None or edev.FunctionSetAssignmentsListLink is None:
            self.fsa_dirty = False
            self.next_fsa_poll = now + DEFAULT_POLL_RATE
            return
        if not self.fsa_dirty and self.state.edev is not None:  # a poll: the EndDevice may have changed too (postRate)
            await self._load_end_device(self.state.edev)
        href = edev.FunctionSetAssignmentsListLink.href
        if self.state.fsa_subscription is None:
            self.state.fsa_subscription = await self.bridge.subscribe(self, href)
            if self.state.fsa_subscription:
                self.bridge.watch_fsa(self, href)
        self.fsa_dirty = False
        try:
            fsas = await self.client.get_list(href, model.FunctionSetAssignmentsList, "FunctionSetAssignments")
        except BaseException:
            self.fsa_dirty = True
            raise
        lists = tuple(f.DERProgramListLink.href for f in fsas.FunctionSetAssignments if f.DERProgramListLink)
        self.state.poll_rate = fsas.pollRate or DEFAULT_POLL_RATE
        self.next_fsa_poll = now + max(self.options.min_poll, self.state.poll_rate)
        cache = self.bridge.cache
        cache.attach(self.name, lists)
        self.state.program_lists = lists
        try:
            await cache.ensure(lists)
        except BaseException:
            self.fsa_dirty = True
            raise

    def fsa_notified(self, status: int, subscription: str | None) -> None:
        if status != 0 and (subscription is None or subscription == self.state.fsa_subscription):
            self.state.fsa_subscription = None
        self.fsa_dirty = True
        self.wake()

    async def _put_documents(self) -> None:
        for kind in ("dercap", "derg", "ders", "dera"):
            document = self.pending.get(kind)
            href = self.der_links.get(kind)
            if document is None or href is None:
                continue
            await self.client.put(href, document)
            self.state.puts[kind] += 1
            if self.pending.get(kind) is document:
                del self.pending[kind]
            self.sent[kind] = _without_times(codec.to_data(document))

    def _close_period(self, now: float) -> None:
        period = self.state.post_rate
        self.next_post = max(self.next_post + period, now + 1) if self.next_post else now + period
        # each reading covers the time since the last one closed, so that a device's readings abut: a settlement
        # baseline or a forecast finds no gap between them (nor an overlap)
        end = self._t(now)
        last = self._period_end
        start = last if last is not None and end - period * 3 <= last < end else end - period
        self._period_end = end
        if self.samples:
            self.telemetry_out.append((sm.average_telemetry(self.samples), (start, end - start)))
            self.samples = []

    async def _post_telemetry(self) -> None:
        if not self.telemetry_out:
            return
        pen = self.options.pen
        if self.state.mup is None:
            first = self.telemetry_out[0][0]
            mup = sm.mirror_usage_point(self.identity.lfdi, first, pen=pen, description=self.name)
            mup_list = await self.bridge.mirror_usage_point_list()
            if mup_list is None:
                raise ProtocolError("DeviceCapability has no MirrorUsagePointListLink")
            location = await self.client.post(mup_list, mup)
            if location is None:
                raise ProtocolError(f"POST {mup_list} gave no Location")
            self.state.mup = location
            self._dirty = True
        while self.telemetry_out:
            readings, (start, period) = self.telemetry_out[0]
            body = sm.mirror_meter_reading_list(readings, lfdi=self.identity.lfdi, pen=pen, period=period,
                                                start=start)
            try:
                await self.client.post(self.state.mup, body)
            except HttpError as exc:
                if exc.status == 404:  # the server dropped it: create it again next time
                    self.state.mup = None
                raise
            self.telemetry_out.popleft()
            self.state.readings_posted += 1

    def _log_event(self, code: int, details: str) -> None:
        self.log_id = (self.log_id + 1) % 0x10000
        self.logs_out.append(model.LogEvent(
            createdDateTime=self._t(time.time()), details=details[:LOG_DETAILS_MAX], functionSet=LOG_FUNCTION_SET_DER,
            logEventCode=code, logEventID=self.log_id, logEventPEN=self.options.pen, profileID=LOG_PROFILE_VENDOR))
        if len(self.logs_out) > 100:
            del self.logs_out[0]
        self.state.log_events.append((code, details))
        self._dirty = True

    async def _post_logs(self) -> None:
        if not self.logs_out or self.end_device is None:
            return
        if self.end_device.LogEventListLink is None:  # nowhere to send them
            self.logs_out.clear()
            return
        href = self.end_device.LogEventListLink.href
        while self.logs_out:
            try:
                await self.client.post(href, self.logs_out[0])
            except HttpError as exc:
                if exc.status in (400, 403):  # refused for good: drop it
                    self.logs_out.pop(0)
                    self._error(str(exc))
                    continue
                raise
            self.logs_out.pop(0)
            self.state.logs_posted += 1

    def server_outage_over(self, since: float) -> None:
        """The client reached the server again after an outage that began at ``since``."""
        if self.state.registered:
            self._log_event(LOG_SERVER_UNREACHABLE, f"server unreachable {time.time() - since:.0f} s")
        self.state.server_outages += 1
        self.fsa_dirty = True
        self.server_retry_at = None
        self.server_backoff = self.options.server_backoff
        self.wake()

    # -- control --------------------------------------------------------------------------------------

    def _accept(self, control: model.DERControl) -> bool:
        return not self._unsupported(control.DERControlBase)

    def _unsupported(self, base: model.DERControlBase) -> set[str]:
        models = self.models or self.baseline
        if models is None or self.capability is None:
            return set()
        return sm.unsupported_modes(base, self.capability.modesSupported, curves=self.bridge.cache.curves,
                                    models=models)

    def _usable(self, base: model.DERControlBase | None) -> model.DERControlBase | None:
        """A default's base without the modes this device cannot carry out (an event with any is rejected)."""
        if base is None:
            return None
        unsupported = self._unsupported(base)
        return dataclasses.replace(base, **{m: None for m in unsupported}) if unsupported else base

    def programs(self) -> list[ProgramView] | None:
        return self.bridge.cache.views(self.name)

    async def _control_turn(self, now: float) -> None:
        programs = self.programs()
        if programs is None or self.capability is None:
            return  # not following its programs yet, or the device never seen: nothing to decide
        t = self._t(now)
        decision = self.tracker.decide(programs, t)
        due = self.tracker.update(programs, t, decision)
        if due:
            self.responses_out.extend(due)
            self._dirty = True
        self.state.decision = decision
        self.next_change = decision.next_change
        models = self.models
        if self.state.modbus_ok and models is not None and (decision.key != self.state.applied or self.reapply):
            await self._apply(decision, programs, models, now)
        if (self.responses_out and not self._held(self.responses_out[0]) and self.client.available
                and self.state.registered and self.server_retry_at is None):
            try:
                await self._flush_responses()
            except ServerUnavailable:
                pass
            except ClientError as exc:
                self._error(str(exc))

    async def _apply(self, decision: Decision, programs: list[ProgramView], models: dict[int, dict[str, Any]],
                     now: float) -> None:
        new = self._usable(decision.base)
        old = self.state.applied_base
        defaults = sorted(((p, p.default) for p in programs if p.default is not None),
                          key=lambda pd: (pd[0].primacy, pd[0].key))
        fallback = self._usable(defaults[0][1].DERControlBase) if defaults else None
        curves = self.bridge.cache.curves
        steps: list[sm.Step] = []
        try:
            if (decision.source == "default" and isinstance(decision.control, model.DefaultDERControl)
                    and decision.mrid != self.es_written):
                steps += sm.enter_service_writes(decision.control, models)
            steps += sm.transition_writes(old, new, self.settings, models, curves=curves,
                                          remaining=decision.remaining(self._t(now)), fallback=fallback,
                                          before=self.baseline)
        except sm.MappingError as exc:
            self._error(f"cannot write {decision.key}: {exc}")
            self._log_event(LOG_CONTROL_REFUSED, "control cannot be mapped")
            self._applied(decision, old)  # nothing more to try for this control
            return
        try:
            if steps:
                await self.modbus.execute(steps)
                self.state.plans += 1
                self.state.last_plan = steps
                self.models = await self.modbus.read()
                self._sample_from_models(now)
                self._take_snapshot(now, full=True)
        except ModbusRefused as exc:
            self._error(f"device refused {decision.key}: {exc}")
            self._log_event(LOG_CONTROL_REFUSED, "device refused the control")
            self._applied(decision, new)
            return
        except ModbusError as exc:
            self._modbus_failed(now, exc)
            return
        if decision.source == "default":
            self.es_written = decision.mrid
        self._applied(decision, new)
        if decision.source == "event" and decision.mrid is not None:
            self.applied_mrids.add(decision.mrid.upper())
        log.info("%s: %s %s in force (%d steps)", self.name, decision.source, decision.mrid or "", len(steps))

    def _applied(self, decision: Decision, base: model.DERControlBase | None) -> None:
        self.state.applied = decision.key
        self.state.applied_base = base
        self.state.applied_at = time.time()
        self.reapply = False
        self._dirty = True

    async def _flush_responses(self) -> None:
        while self.responses_out:
            due = self.responses_out[0]
            mrid = due.mrid.upper()
            if self._held(due):
                return  # not written yet: "started" waits for the device
            if due.status == ResponseStatus.STARTED and mrid not in self.applied_mrids:
                self.unapplied.add(mrid)  # it ended before it could be written: it never started here
                self.responses_out.pop(0)
                continue
            if due.status == ResponseStatus.COMPLETED and mrid in self.unapplied:
                self.responses_out.pop(0)
                continue
            try:
                await self.client.post(due.reply_to, due.resource(self.identity.lfdi, self._t(time.time())))
            except HttpError as exc:
                if exc.status >= 500:
                    raise
                self._error(f"response {int(due.status)} to {due.mrid}: {exc}")  # refused for good: drop it
            else:
                self.state.responses.append(ResponseSent(due.mrid, int(due.status), time.time()))
            self.responses_out.pop(0)

    # -- persistence ----------------------------------------------------------------------------------

    def _path(self) -> Path | None:
        directory = self.bridge.data_dir
        if directory is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)
        return directory / "devices" / f"{safe}.json"

    def _load(self) -> dict[str, Any] | None:
        path = self._path()
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            log.warning("%s: cannot read %s; starting afresh", self.name, path)
            return None
        if data.get("lfdi") != self.identity.lfdi:
            return None
        if data.get("baseline"):
            self.baseline = {int(k): v for k, v in data["baseline"].items()}
        self.state.mup = data.get("mup")
        self.log_id = int(data.get("log_id", 0))
        self.applied_mrids = set(data.get("applied_mrids", ()))
        if data.get("applied_base") is not None:
            # what the bridge last wrote: undo it when the decision moves on, and write the current one again
            self.state.applied_base = codec.from_data(model.DERControlBase, data["applied_base"])
            self.reapply = True
        self.es_written = data.get("es_written")
        return data

    def _save(self) -> None:
        self._dirty = False
        path = self._path()
        if path is None:
            return
        data = {
            "name": self.name, "lfdi": self.identity.lfdi, "mup": self.state.mup, "log_id": self.log_id,
            "baseline": {str(k): v for k, v in (self.baseline or {}).items()},
            "tracker": self.tracker.state(),
            "applied_base": (None if self.state.applied_base is None
                             else codec.to_data(self.state.applied_base)),
            "applied_mrids": sorted(self.applied_mrids)[-100:],
            "es_written": self.es_written,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, path)
        except OSError as exc:
            self._error(f"cannot save state: {exc}")
