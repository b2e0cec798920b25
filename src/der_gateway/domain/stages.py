"""The stages of a utility event, and the statuses each reports to operations.

A utility event is made of stages; each stage is one program event (a
DERControl in one program) with its own window.  A stage's status is its
DERControl's program event status (domain.events): SCHEDULED when created,
IN PROGRESS from its start, COMPLETED at its end, CANCELED when it is cancelled
(or superseded before it ran).  Operations hear of every status a stage takes,
in this order and each exactly once: SCHEDULED, then either CANCELED, or IN
PROGRESS and then COMPLETED or CANCELED.  When the server learns of several
steps at once (it was down, say), the steps missed are reported in order, each
with the time it took effect.

An event's own status is read from its stages (event_status).
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import Event, EventState, ProgramEventStatus as P, Status

SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED = P.SCHEDULED, P.IN_PROGRESS, P.COMPLETED, P.CANCELED
STATUSES = (SCHEDULED, IN_PROGRESS, COMPLETED, CANCELED)
FINAL = frozenset({COMPLETED, CANCELED})
_RUN = (SCHEDULED, IN_PROGRESS, COMPLETED)


class StageError(Exception):
    """A step the stage's status does not allow."""


def steps(reported: str | None, current: str) -> list[str]:
    """The statuses to report, in order, to move from the last one reported (None: none yet) to current."""
    if current not in STATUSES or (reported is not None and reported not in STATUSES):
        raise ValueError(f"not a stage status: {reported!r} -> {current!r}")
    if reported == current:
        return []
    if reported in FINAL:
        raise StageError(f"the stage is {reported} already; it cannot become {current}")
    if current == CANCELED:
        return [SCHEDULED, CANCELED] if reported is None else [CANCELED]
    start = 0 if reported is None else _RUN.index(reported) + 1
    end = _RUN.index(current)
    if start > end:
        raise StageError(f"a stage never goes back from {reported} to {current}")
    return list(_RUN[start:end + 1])


def effective_at(status: str, event: Event, state: EventState) -> int:
    """When the stage took `status`, given its DERControl (event) and that event's current state."""
    if status == SCHEDULED:
        return event.creation_time
    if status == IN_PROGRESS:
        return max(event.start, event.creation_time)
    if status == COMPLETED:
        return state.status_time if state.status == Status.SUPERSEDED else event.end
    return state.status_time  # CANCELED: when it was cancelled, or superseded before it ran


def cancellable(status: str) -> None:
    """A stage can be cancelled once scheduled, until it has ended (raises StageError if not)."""
    if status in FINAL:
        raise StageError(f"the stage is {status} already")


@dataclass(frozen=True)
class StageWindow:
    start: int
    duration: int

    @property
    def end(self) -> int:
        return self.start + self.duration


def event_status(stage_statuses: list[str]) -> str:
    """An event is SCHEDULED until a stage starts, IN PROGRESS while any stage runs or is still to come after one
    ran, CANCELED when every stage was cancelled, and COMPLETED once every stage has ended, one at least run."""
    if not stage_statuses:
        return SCHEDULED
    if all(s == CANCELED for s in stage_statuses):
        return CANCELED
    if all(s in FINAL for s in stage_statuses):
        return COMPLETED
    if all(s in (SCHEDULED, CANCELED) for s in stage_statuses):
        return SCHEDULED
    return IN_PROGRESS


def overlapping(windows: list[StageWindow]) -> list[tuple[int, int]]:
    """Positions (indexes) of stages whose windows overlap: an event's stages are successive blocks of time."""
    found = []
    for i, a in enumerate(windows):
        for j in range(i + 1, len(windows)):
            b = windows[j]
            if a.start < b.end and b.start < a.end:
                found.append((i, j))
    return found
