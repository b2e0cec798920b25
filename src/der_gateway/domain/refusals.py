"""Requests refused as a whole, with every problem found.  The class says why; the edge chooses how to answer
(der_gateway/refusal_status.py)."""

from __future__ import annotations

Problem = dict[str, str]


def problem(reason: str, field: str | None = None) -> Problem:
    return {"field": field, "reason": reason} if field is not None else {"reason": reason}


class Rejected(Exception):
    def __init__(self, errors: list[Problem] | str) -> None:
        self.errors = [problem(errors)] if isinstance(errors, str) else list(errors)
        self.reason = "; ".join(e["reason"] for e in self.errors)
        super().__init__(self.reason)


class InvalidRequest(Rejected):
    """The request itself is wrong: a field missing, malformed or out of range."""


class NotPermitted(Rejected):
    """The caller may not make this request."""


class Conflict(Rejected):
    """The request is well formed but the stored state does not allow it now (a duplicate, a task already taken)."""
