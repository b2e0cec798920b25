"""The HTTP status a domain refusal is answered with, on every listener."""

from __future__ import annotations

from .domain.refusals import Conflict, InvalidRequest, NotPermitted, Rejected

_STATUS: tuple[tuple[type[Rejected], int], ...] = ((InvalidRequest, 400), (NotPermitted, 403), (Conflict, 409))


def status_of(refusal: Rejected) -> int:
    return next((status for kind, status in _STATUS if isinstance(refusal, kind)), 400)


_OUTCOME_STATUS = {"created": 201}  # store/utility_records.py: the outcomes of an inbound operation


def status_of_outcome(outcome: str) -> int:
    return _OUTCOME_STATUS.get(outcome, 200)
