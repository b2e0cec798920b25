"""The utility's side of DER enrollment, as pure logic: request checks, the catalog's
nameplate ranges, program eligibility and event constraints, and service-task states.

Nothing here touches storage; the store looks facts up and asks these functions
what is wrong with them.  Every problem is a {"field", "reason"} dict (the admin
API's error shape), and a refusal carries all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..refusals import Conflict, InvalidRequest, NotPermitted, Problem, Rejected, problem


@dataclass(frozen=True)
class Caller:
    """Who makes an inbound call, and for whom."""

    name: str  # for idempotency: "admin", or the calling aggregator's LFDI
    aggregator: str | None = None  # the aggregator the call is made for (its LFDI), if any
    certified: bool = False  # the aggregator called itself, authenticated by its certificate


@dataclass(frozen=True)
class Idempotency:
    """A request's Idempotency-Key: the same key, caller and operation answer as the first time did."""

    key: str
    caller: str
    operation: str
    digest: str  # of the body: a different body under the same key is a conflict


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def prefixed(errors: list[Problem], prefix: str) -> list[Problem]:
    """errors about a nested object, renamed to their place in the enclosing body."""
    result = []
    for e in errors:
        field = e.get("field")
        if field in (None, "(body)"):
            result.append(problem(e["reason"], prefix))
        else:
            result.append(problem(e["reason"], join(prefix, field)))
    return result


def is_ref(value: Any) -> bool:
    """A reference to a stored thing: its id (a positive integer) or its external id (a non-empty string)."""
    return (type(value) is int and 0 < value < 2**63) or (isinstance(value, str) and 0 < len(value.strip()) <= 200)


__all__ = ["Caller", "Conflict", "Idempotency", "InvalidRequest", "NotPermitted", "Problem", "Rejected", "is_ref",
           "join", "prefixed", "problem"]
