"""Service tasks: what each kind does, and the states they move through.

    Pending -> Processing -> Completed | Error (with reasons)
    Pending -> Cancelled                (by the operator)
    Pending -> Error                    (an interconnection rejected by engineering)

An interconnect task waits in Pending for engineering's approval; the others are
processed as soon as the monitor (or an operator) gets to them.  A task left in
Processing by a crash is taken up again once it is STALE_SECONDS old.
"""

from __future__ import annotations

KINDS = ("enroll", "unenroll", "interconnect", "replace")
STATES = ("Pending", "Processing", "Completed", "Error", "Cancelled")
FINAL = frozenset({"Completed", "Error", "Cancelled"})
TRANSITIONS = {
    "Pending": frozenset({"Processing", "Cancelled", "Error"}),
    "Processing": frozenset({"Completed", "Error"}),
    "Completed": frozenset(), "Error": frozenset(), "Cancelled": frozenset(),
}
STALE_SECONDS = 300


def may_move(state: str, to: str) -> bool:
    return to in TRANSITIONS.get(state, ())


def why_not_process(kind: str, state: str, approval: dict | None, updated: int, now: int) -> str | None:
    if state == "Processing" and now - updated >= STALE_SECONDS:
        return None  # abandoned by a crash: take it up again
    if state != "Pending":
        return f"the task is {state}"
    if kind == "interconnect" and not approval:
        return "the interconnection awaits engineering approval (approve or reject it first)"
    return None


def why_not_cancel(state: str) -> str | None:
    return None if state == "Pending" else f"only a Pending task can be cancelled; this one is {state}"


def why_not_decide(kind: str, state: str, approval: dict | None) -> str | None:
    if kind != "interconnect":
        return "only interconnect tasks need engineering approval"
    if approval:
        return f"the interconnection was {approval.get('decision')} already"
    if state != "Pending":
        return f"the task is {state}"
    return None
