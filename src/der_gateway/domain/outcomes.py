"""What each device called by a stage did: its outcome, derived once, when the stage ends, from its Responses.

The statuses are IEEE 2030.5's Response.status (Table 27).  The rules, the first that applies:

- cancelled: the stage was cancelled (or superseded) before it started: nothing was asked of the device.
- no response: the device sent no Response for the stage's DERControl.
- failed: it rejected the event (252 not applicable, 253 invalid, 254 expired) or could not show it (12),
  or it was aborted (13 by the server, 14 by another program) without having started.
- partially: it took part in only some of the event: a partial opt-out or opt-in (8, 9); or it started or
  completed (2, 3) or opted in (5) and also opted out (4, 10) or was aborted (13, 14).
- opted out: it opted out (4), or completed without the user's participation (10).
- participated: it started (2), completed (3) or opted in (5).
- no response, again: it only acknowledged the event (1 received, 11 acknowledged by the user; 6 and 7, the
  device's own report of a cancellation or supersession, say nothing of what it did).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

PARTICIPATED = "participated"
OPTED_OUT = "opted out"
NO_RESPONSE = "no response"
FAILED = "failed"
PARTIALLY = "partially"
CANCELLED = "cancelled"
OUTCOMES = (PARTICIPATED, PARTIALLY, OPTED_OUT, FAILED, NO_RESPONSE, CANCELLED)

TOOK_PART = frozenset({2, 3, 5})
OPT_OUT = frozenset({4, 10})
PARTIAL = frozenset({8, 9})
ABORTED = frozenset({13, 14})
REFUSED = frozenset({12, 252, 253, 254})


@dataclass(frozen=True)
class Reply:
    """One Response of the device: its status, createdDateTime and when the server received it."""

    status: int
    created: int
    received: int


def outcome(replies: Iterable[Reply], ran: bool = True) -> str:
    """The device's outcome; ran: whether the stage started at all (False: cancelled before its start)."""
    if not ran:
        return CANCELLED
    statuses = {r.status for r in replies}
    if not statuses:
        return NO_RESPONSE
    took_part = bool(statuses & TOOK_PART)
    if statuses & REFUSED or (statuses & ABORTED and not took_part):
        return FAILED
    if statuses & PARTIAL or (took_part and statuses & (OPT_OUT | ABORTED)):
        return PARTIALLY
    if statuses & OPT_OUT:
        return OPTED_OUT
    if took_part:
        return PARTICIPATED
    return NO_RESPONSE


def tally(outcomes: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for o in outcomes:
        counts[o] += 1
    return counts
