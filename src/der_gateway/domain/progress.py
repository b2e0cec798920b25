"""How far a device got with an event, from the Response statuses it sent (IEEE 2030.5 Table 27), as the operator
console shows it: reserved (the stage reserved it and it has not answered), received (1 received, 11 acknowledged,
6 and 7 its own report of a cancellation or supersession), started (2 started, 5 opted in, 8 and 9 partial, 13 and
14 aborted), completed (3); opted_out (4 opted out, 10 completed without participation) or refused (12 cannot be
displayed, 252-254 rejected) whatever else it sent; else no_response."""

from __future__ import annotations

from typing import Iterable

RESERVED, RECEIVED, STARTED, COMPLETED, OPTED_OUT, NO_RESPONSE = (
    "reserved", "received", "started", "completed", "opted_out", "no_response")
PROGRESS = (RESERVED, RECEIVED, STARTED, COMPLETED, OPTED_OUT, NO_RESPONSE)

STEP = {1: RECEIVED, 6: RECEIVED, 7: RECEIVED, 11: RECEIVED, 2: STARTED, 5: STARTED, 8: STARTED, 9: STARTED,
        13: STARTED, 14: STARTED, 3: COMPLETED}
_ORDER = (NO_RESPONSE, RESERVED, RECEIVED, STARTED, COMPLETED)
DECLINED = frozenset({4, 10, 12, 252, 253, 254})
# how far a device got, least first: over several events (a utility event's stages) a device counts as its furthest
FURTHEST = (*_ORDER, OPTED_OUT)


def progress(statuses: Iterable[int], reserved: bool = False) -> str:
    """The furthest the device got, from every status it sent for the event."""
    seen = set(statuses)
    if seen & DECLINED:
        return OPTED_OUT
    furthest = RESERVED if reserved else NO_RESPONSE
    for status in seen:
        step = STEP.get(status)
        if step is not None and _ORDER.index(step) > _ORDER.index(furthest):
            furthest = step
    if furthest == NO_RESPONSE and seen:  # only statuses 2030.5 does not define: it did answer
        return RECEIVED
    return furthest


def furthest(a: str, b: str) -> str:
    return a if FURTHEST.index(a) >= FURTHEST.index(b) else b


def counts(progresses: Iterable[str]) -> dict[str, int]:
    tally = dict.fromkeys(PROGRESS, 0)
    for p in progresses:
        tally[p] += 1
    return tally
