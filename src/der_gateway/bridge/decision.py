"""Which DER control is in force for one device, decided as a 2030.5 client must; and the responses it owes.

Pure: the caller passes the device's programs as the server last showed them,
the time, and a per-device seed for randomization.

The rules (IEEE 2030.5-2018 §10.10 and the event rules of §12.1.3):

- Only events whose EventStatus is Scheduled (0) or Active (1) run.  Cancelled
  (2) and Superseded (4) events do not.  A Cancelled-with-randomization (3)
  event that was already running stops at the cancellation time (its
  EventStatus.dateTime) plus a random delay within max(|randomizeStart|,
  |randomizeDuration|); one not yet running does not run.
- randomizeStart and randomizeDuration are applied per device: a value drawn
  uniformly from [0, r] (or [r, 0] when r < 0), deterministic in (seed, event
  mRID), shifts the start, and another lengthens or shortens the duration.
- Of the events whose effective interval [start, end) holds ``now``, the one
  of the lowest primacy value wins; within a program, the newest creationTime.
- With no event in force, the DefaultDERControl of the lowest-primacy program
  that has one applies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from der_gateway.domain.events import Status
from der_gateway.sep import model

Accept = Callable[[model.DERControl], bool]


class ResponseStatus(IntEnum):
    """DERControlResponse status codes (IEEE 2030.5-2018 Table 27) this client sends."""

    RECEIVED = 1
    STARTED = 2
    COMPLETED = 3
    CANCELLED = 6
    SUPERSEDED = 7
    ABORTED_OTHER_PROGRAM = 14
    REJECTED = 252  # control parameter not applicable


TERMINAL = frozenset({ResponseStatus.COMPLETED, ResponseStatus.CANCELLED, ResponseStatus.SUPERSEDED,
                      ResponseStatus.ABORTED_OTHER_PROGRAM, ResponseStatus.REJECTED})

_RUNNABLE = (Status.SCHEDULED, Status.ACTIVE)


@dataclass(frozen=True)
class ProgramView:
    """One DERProgram as the device sees it: its primacy, default control and events (DERControlList)."""

    key: str  # identifies the program, e.g. its href
    primacy: int
    default: model.DefaultDERControl | None = None
    controls: Sequence[model.DERControl] = ()

    @classmethod
    def of(cls, program: model.DERProgram, controls: Iterable[model.DERControl] = (),
           default: model.DefaultDERControl | None = None) -> ProgramView:
        return cls(program.href or program.mRID, program.primacy, default, tuple(controls))


def random_offset(seed: int | str | bytes, mrid: str, kind: str, bound: int | None) -> int:
    """A whole number of seconds, uniform in [0, bound] (or [bound, 0]), fixed by (seed, mRID, kind)."""
    if not bound:
        return 0
    seed_text = seed.hex() if isinstance(seed, bytes) else str(seed)
    digest = hashlib.sha256(f"{seed_text}|{mrid.upper()}|{kind}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") % (abs(bound) + 1)
    return draw if bound > 0 else -draw


@dataclass(frozen=True)
class Window:
    """An event's interval as this device runs it: [start, end)."""

    start: int
    end: int

    def holds(self, now: int) -> bool:
        return self.start <= now < self.end


def scheduled_window(control: model.DERControl, seed: int | str | bytes) -> Window:
    """The event's interval with this device's randomization, ignoring its status."""
    start = control.interval.start + random_offset(seed, control.mRID, "start", control.randomizeStart)
    duration = control.interval.duration + random_offset(seed, control.mRID, "duration", control.randomizeDuration)
    return Window(start, start + max(0, duration))


def effective_window(control: model.DERControl, seed: int | str | bytes) -> Window | None:
    """When the event runs on this device, given its status; None if it does not run at all."""
    window = scheduled_window(control, seed)
    status = control.EventStatus.currentStatus
    if status in _RUNNABLE:
        return window
    if status == Status.CANCELLED_WITH_RANDOMIZATION:
        cancelled = control.EventStatus.dateTime
        if window.start >= cancelled:
            return None
        bound = max(abs(control.randomizeStart or 0), abs(control.randomizeDuration or 0))
        stop = cancelled + random_offset(seed, control.mRID, "cancel", bound)
        return Window(window.start, max(window.start, min(window.end, stop)))
    return None


def _category_matches(control: model.DERControl, device_category: int | None) -> bool:
    if device_category is None or control.deviceCategory is None:
        return True
    return bool(int(control.deviceCategory, 16) & device_category)


@dataclass(frozen=True)
class Decision:
    """The control in force for a device at one instant, and when that may next change."""

    base: model.DERControlBase | None
    source: str  # "event", "default" or "none"
    program: str | None  # ProgramView.key
    mrid: str | None  # the event's or the DefaultDERControl's mRID
    start: int | None  # the event's effective start (None for a default)
    end: int | None  # the event's effective end (None for a default)
    next_change: int | None  # the next instant after now at which the decision may change
    control: model.DERControl | model.DefaultDERControl | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        """Equal keys mean the same control: nothing to rewrite."""
        return self.source, self.program, self.mrid

    def remaining(self, now: int) -> int | None:
        """Seconds until an event ends (for reversion timers); None for a default or nothing."""
        return None if self.end is None else max(0, self.end - now)


def _eligible(programs: Sequence[ProgramView], seed: int | str | bytes, accept: Accept | None,
              device_category: int | None) -> list[tuple[ProgramView, model.DERControl, Window]]:
    out = []
    for program in programs:
        for control in program.controls:
            if not _category_matches(control, device_category):
                continue
            if accept is not None and not accept(control):
                continue
            window = effective_window(control, seed)
            if window is not None and window.end > window.start:
                out.append((program, control, window))
    return out


def _rank(item: tuple[ProgramView, model.DERControl, Window]) -> tuple:
    program, control, _ = item
    return program.primacy, -control.creationTime, program.key, control.mRID


def decide(programs: Sequence[ProgramView], now: int, seed: int | str | bytes, *, accept: Accept | None = None,
           device_category: int | None = None) -> Decision:
    """The control in force at ``now``.

    ``accept`` filters events the device takes at all (pass one that refuses
    events with unsupported modes: they are rejected, never run).
    ``device_category`` (a DeviceCategoryType bitmap) drops events whose
    deviceCategory does not include the device.
    """
    eligible = _eligible(programs, seed, accept, device_category)
    future = {t for _, _, w in eligible for t in (w.start, w.end) if t > now}
    next_change = min(future) if future else None
    running = [item for item in eligible if item[2].holds(now)]
    if running:
        program, control, window = min(running, key=_rank)
        return Decision(control.DERControlBase, "event", program.key, control.mRID, window.start, window.end,
                        next_change, control)
    defaults = [(p, p.default) for p in programs if p.default is not None]
    if defaults:
        program, default = min(defaults, key=lambda pd: (pd[0].primacy, pd[0].key))
        return Decision(default.DERControlBase, "default", program.key, default.mRID, None, None,
                        next_change, default)
    return Decision(None, "none", None, None, None, None, next_change, None)


# -- responses ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponseDue:
    """A response to POST: a DERControlResponse with ``status`` and subject ``mrid`` to ``reply_to``."""

    mrid: str
    status: ResponseStatus
    reply_to: str
    program: str
    href: str | None = None  # the DERControl's href

    def resource(self, lfdi: str, now: int) -> model.DERControlResponse:
        return model.DERControlResponse(createdDateTime=now, endDeviceLFDI=lfdi.upper(), status=int(self.status),
                                        subject=self.mrid)


def _reply_to(control: model.DERControl, status: ResponseStatus) -> str | None:
    """Where the response with status goes, if the event asks for it."""
    """responseRequired bit 0 asks for 'received'; bit 1 for the specific responses (all the others)."""
    if not control.replyTo or not control.responseRequired:
        return None
    bits = int(control.responseRequired, 16)
    return control.replyTo if bits & (1 if status == ResponseStatus.RECEIVED else 2) else None


_IGNORED = "ignored"  # first seen as history: never responded to
_CLOSED = 0  # recorded after the statuses sent: the event is over without a final response


class ResponseTracker:
    """Works out, from successive decisions and event lists, the responses one device owes: each once.

    For an event seen while it could still run:

    - 1 received when first seen; or 252 rejected instead, when ``accept`` refuses it;
    - 2 started when it comes into force (its effective start);
    - 3 completed at its effective end, if it started;
    - 6 cancelled when cancelled (at once for status 2; for status 3 when its
      randomized stop comes, if it was running), or when it disappears from its
      program's list before its end;
    - 7 superseded when the server marks it so, or a newer event of its own
      program runs in its place;
    - 14 aborted when an event of another program runs in its place.

    3, 6, 7, 14 and 252 end an event's responses.  Events first seen already
    cancelled, superseded or over are history: no responses.  Responses are
    sent only if the event's responseRequired asks for them and it has a
    replyTo.  ``state()`` and ``state=`` let the caller keep the record across
    restarts.
    """

    def __init__(self, seed: int | str | bytes, *, accept: Accept | None = None, device_category: int | None = None,
                 state: Mapping[str, Sequence[int] | str] | None = None) -> None:
        self.seed = seed
        self.accept = accept
        self.device_category = device_category
        self._sent: dict[str, list[int] | str] = {k: (v if isinstance(v, str) else list(v))
                                                  for k, v in (state or {}).items()}
        self._known: dict[str, tuple[str, model.DERControl]] = {}

    def state(self) -> dict[str, list[int] | str]:
        """The statuses recorded per event mRID, to persist ("ignored": history; 0: closed without a final status)."""
        return {k: (v if isinstance(v, str) else list(v)) for k, v in self._sent.items()}

    def decide(self, programs: Sequence[ProgramView], now: int) -> Decision:
        return decide(programs, now, self.seed, accept=self.accept, device_category=self.device_category)

    def update(self, programs: Sequence[ProgramView], now: int, decision: Decision | None = None) -> list[ResponseDue]:
        """The responses due at ``now``; ``decision`` defaults to this tracker's own ``decide``."""
        if decision is None:
            decision = self.decide(programs, now)
        listed: dict[str, tuple[ProgramView, model.DERControl]] = {}
        for program in programs:
            for control in program.controls:
                if _category_matches(control, self.device_category):
                    listed.setdefault(control.mRID, (program, control))
        due: list[ResponseDue] = []
        for mrid, (program, control) in listed.items():
            self._known[mrid] = (program.key, control)
            for status in self._advance(program, control, decision, now):
                if (reply_to := _reply_to(control, status)) is not None:
                    due.append(ResponseDue(mrid, status, reply_to, program.key, control.href))
        keys = {p.key for p in programs}
        for mrid, (program_key, control) in list(self._known.items()):
            if mrid in listed:
                continue
            if program_key in keys:  # deleted from a program we still see: over, or called off
                for status in self._vanished(control, now):
                    if (reply_to := _reply_to(control, status)) is not None:
                        due.append(ResponseDue(mrid, status, reply_to, program_key, control.href))
            if self._done(mrid):
                del self._known[mrid]
        return due

    # -- per event

    def _done(self, mrid: str) -> bool:
        sent = self._sent.get(mrid)
        return sent == _IGNORED or (isinstance(sent, list) and any(s in TERMINAL or s == _CLOSED for s in sent))

    def _emit(self, mrid: str, status: ResponseStatus) -> list[ResponseStatus]:
        sent = self._sent.setdefault(mrid, [])
        assert isinstance(sent, list)
        if status in sent:
            return []
        sent.append(int(status))
        return [status]

    def _advance(self, program: ProgramView, control: model.DERControl, decision: Decision,
                 now: int) -> list[ResponseStatus]:
        mrid = control.mRID
        if self._done(mrid):
            return []
        status = control.EventStatus.currentStatus
        window = effective_window(control, self.seed)
        if mrid not in self._sent:  # first sight
            if status not in _RUNNABLE and status != Status.CANCELLED_WITH_RANDOMIZATION:
                self._sent[mrid] = _IGNORED
                return []
            if window is None or window.end <= now:
                self._sent[mrid] = _IGNORED
                return []
            if self.accept is not None and not self.accept(control):
                return self._emit(mrid, ResponseStatus.REJECTED)
        out = self._emit(mrid, ResponseStatus.RECEIVED)
        started = ResponseStatus.STARTED in self._sent[mrid]
        in_force = decision.source == "event" and decision.mrid == mrid
        if status == Status.SUPERSEDED:
            return out + self._emit(mrid, ResponseStatus.SUPERSEDED)
        if status == Status.CANCELLED or window is None:
            return out + self._emit(mrid, ResponseStatus.CANCELLED)
        if in_force:
            return out + self._emit(mrid, ResponseStatus.STARTED)
        if window.holds(now):
            # it could run, but another event runs instead
            if decision.source == "event" and decision.program == program.key:
                return out + self._emit(mrid, ResponseStatus.SUPERSEDED)
            if decision.source == "event":
                return out + self._emit(mrid, ResponseStatus.ABORTED_OTHER_PROGRAM)
            return out
        if now >= window.end:
            if status == Status.CANCELLED_WITH_RANDOMIZATION:
                return out + self._emit(mrid, ResponseStatus.CANCELLED)
            if started:
                return out + self._emit(mrid, ResponseStatus.COMPLETED)
            sent = self._sent[mrid]
            assert isinstance(sent, list)  # RECEIVED was recorded above
            sent.append(_CLOSED)  # over without running here: nothing more to say
            return out
        return out

    def _vanished(self, control: model.DERControl, now: int) -> list[ResponseStatus]:
        mrid = control.mRID
        if self._done(mrid) or mrid not in self._sent:
            return []
        window = effective_window(control, self.seed)
        started = ResponseStatus.STARTED in self._sent[mrid]
        if window is not None and started and now >= window.end:
            return self._emit(mrid, ResponseStatus.COMPLETED)
        return self._emit(mrid, ResponseStatus.CANCELLED)
