"""The life of a DER event (DERControl), as a pure function of its program's events and the time.

An event is Scheduled until its start, then Active; it leaves the
ActiveDERControlList at its end.  A cancelled event is Cancelled (2), or
Cancelled with randomization (3) when it carries randomization, and stays so:
a supersession taking effect at or after the cancellation (times are whole
seconds, so a newer event made in the same second counts as later) changes nothing.
Within one program, a newer event that overlaps an older one in time and
controls exactly the same modes supersedes it: the older becomes Superseded (4)
at the newer one's start.  A newer overlapping event that shares only some
modes sets the older one's potentiallySuperseded flag instead.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import IntEnum


class Status(IntEnum):
    SCHEDULED = 0
    ACTIVE = 1
    CANCELLED = 2
    CANCELLED_WITH_RANDOMIZATION = 3
    SUPERSEDED = 4


class ProgramEventStatus:
    """The utility's words for where an event stands."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"


@dataclass(frozen=True)
class Event:
    id: int
    creation_time: int
    start: int
    duration: int
    modes: frozenset[str]
    randomized: bool = False
    cancelled_at: int | None = None

    @property
    def end(self) -> int:
        return self.start + self.duration

    def overlaps(self, other: Event) -> bool:
        return self.start < other.end and other.start < self.end

    def is_newer_than(self, other: Event) -> bool:
        return (self.creation_time, self.id) > (other.creation_time, other.id)


@dataclass(frozen=True)
class EventState:
    status: Status
    status_time: int  # when the event took this status
    active: bool  # in the ActiveDERControlList
    potentially_superseded_time: int | None = None
    program_event_status: str = ProgramEventStatus.SCHEDULED

    @property
    def potentially_superseded(self) -> bool:
        return self.potentially_superseded_time is not None


def _takes_effect(event: Event) -> int:
    """When an event starts to count: its start, or its creation if it was created late."""
    return max(event.start, event.creation_time)


def superseded_at(event: Event, program_events: list[Event]) -> int | None:
    """When a newer event with the same modes overlapping this one starts, if one does."""
    times = [
        _takes_effect(newer) for newer in program_events
        if newer.is_newer_than(event) and newer.modes == event.modes and newer.overlaps(event)
        and (newer.cancelled_at is None or newer.cancelled_at > _takes_effect(newer))
    ]
    return min(times) if times else None


def potentially_superseded_at(event: Event, program_events: list[Event]) -> int | None:
    times = [
        newer.creation_time for newer in program_events
        if newer.is_newer_than(event) and newer.overlaps(event)
        and newer.modes & event.modes and newer.modes != event.modes
    ]
    return min(times) if times else None


def state_at(event: Event, program_events: list[Event], now: int) -> EventState:
    """The event's state at now; program_events are all events of its program (it may be among them)."""
    return _state(event, program_events, now, superseded_at(event, program_events))


def _state(event: Event, program_events: list[Event], now: int, superseded: int | None) -> EventState:
    flagged = potentially_superseded_at(event, program_events)
    flagged = flagged if flagged is not None and flagged <= now else None
    cancelled = event.cancelled_at
    if cancelled is not None and cancelled <= now and (superseded is None or cancelled <= superseded):
        status = Status.CANCELLED_WITH_RANDOMIZATION if event.randomized else Status.CANCELLED
        return EventState(status, cancelled, False, flagged, ProgramEventStatus.CANCELED)
    if superseded is not None and superseded <= now:
        ran = superseded > _takes_effect(event)
        word = ProgramEventStatus.COMPLETED if ran else ProgramEventStatus.CANCELED
        return EventState(Status.SUPERSEDED, superseded, False, flagged, word)
    if now >= event.start:
        running = now < event.end
        word = ProgramEventStatus.IN_PROGRESS if running else ProgramEventStatus.COMPLETED
        return EventState(Status.ACTIVE, _takes_effect(event), running, flagged, word)
    return EventState(Status.SCHEDULED, event.creation_time, False, flagged, ProgramEventStatus.SCHEDULED)


class _Overlaps:
    """Finds the events overlapping one event without comparing it with every other."""

    def __init__(self, events: list[Event]) -> None:
        self.events = sorted(events, key=lambda e: e.start)
        self.starts = [e.start for e in self.events]
        self.longest = max((e.duration for e in events), default=0)

    def of(self, event: Event) -> list[Event]:
        # an overlapping event starts before this one ends, and no longer than the longest duration before it starts
        lo = bisect.bisect_right(self.starts, event.start - self.longest)
        hi = bisect.bisect_left(self.starts, event.end)
        return [e for e in self.events[lo:hi] if e.overlaps(event)]


def states_at(program_events: list[Event], now: int) -> dict[int, EventState]:
    overlaps = _Overlaps(program_events)
    return {e.id: state_at(e, overlaps.of(e), now) for e in program_events}


def next_change(program_events: list[Event], now: int) -> int | None:
    """The next instant after now at which some event's state changes, if any.

    Besides starts, ends and supersessions, a cancellation or a creation stamped later than now
    (a clock set back) changes a state when its time comes."""
    return timeline(program_events, now, states=False)[1]


def timeline(program_events: list[Event], now: int, states: bool = True) -> tuple[dict[int, EventState], int | None]:
    """states_at and next_change at once, each event's neighbours and supersession worked out once."""
    overlaps = _Overlaps(program_events)
    found: dict[int, EventState] = {}
    moments: set[int] = set()
    for event in program_events:
        near = overlaps.of(event)
        superseded = superseded_at(event, near)
        if states:
            found[event.id] = _state(event, near, now, superseded)
        moments.update((event.start, event.end, event.creation_time))
        if event.cancelled_at is not None:
            moments.add(event.cancelled_at)
        if superseded is not None:
            moments.add(superseded)
    future = [t for t in moments if t > now]
    return found, min(future) if future else None


def in_force(candidates: list[tuple[int, Event, EventState]]) -> Event | None:
    """Of active events across programs, as (primacy, event, state), the one that applies.

    The lower primacy value wins; within a program, the newer event.
    """
    active = [(primacy, event) for primacy, event, state in candidates if state.active]
    if not active:
        return None
    return min(active, key=lambda pe: (pe[0], -pe[1].creation_time, -pe[1].id))[1]
