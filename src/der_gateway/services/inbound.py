"""The inbound operations, registerDERDevice and interconnectDER, whoever calls them.

The admin API and the aggregator-facing endpoint on the 2030.5 listener
(server/routes/aggregator_api.py) both answer through `inbound`: the same checks
and answers for an operator and for an aggregator's certificate.  Requests take an
optional Idempotency-Key header: the same key from the same caller for the same
operation and body answers what the first request answered (its outcome, and its
body as serialized here then) and creates nothing more; the same key with a different body is a conflict (409).  Only
successful answers are kept, so a refused request creates nothing, not even its key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..domain.identifiers import Issuer
from ..domain.utility import Caller, Idempotency, InvalidRequest, Problem, prefixed, problem, requests
from ..sep import codec
from ..sep.json_form import Invalid, build
from ..store.interface import Store
from ..store.utility_records import Created, Replayed
from ..xsd import SchemaSet
from .utility_json import created_text

IDEMPOTENCY_HEADER = "Idempotency-Key"
REGISTER, INTERCONNECT = "registerDERDevice", "interconnectDER"


def sep_checker(schemas: SchemaSet) -> requests.SepCheck:
    """A 2030.5 object from JSON, checked as the admin API checks any: shape, then the schema."""
    def check(cls: type, data: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, list[Problem]]:
        try:
            return codec.to_data(build(cls, data, schemas)), []
        except Invalid as exc:
            return None, prefixed(exc.errors, path)
    return check


def idempotency(headers: Any, caller: str, operation: str, body: Any) -> Idempotency | None:
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isprintable():
        raise InvalidRequest([problem("must be 1 to 200 printable characters", IDEMPOTENCY_HEADER)])
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Idempotency(key, caller, operation, digest)


async def inbound(store: Store, schemas: SchemaSet, issuer: Issuer, now: int, operation: str, body: Any,
                  caller: Caller, idem: Idempotency | None) -> Created | Replayed:
    """registerDERDevice or interconnectDER: what it created (or the first answer to a repeated request), or a
    Rejected (domain.utility) with every problem found."""
    if idem is not None:
        kept = await store.idempotent_answer(idem)
        if kept is not None:
            return kept
    if operation == REGISTER:
        register, errors = requests.parse_register(body, sep_checker(schemas), now)
        errors = _certified(caller, body, errors)
        if register is None:
            raise InvalidRequest(errors)
        if not caller.certified:
            caller = Caller(caller.name, aggregator=register.aggregator)
        # problems found so far are reported beside those of the stored state
        return await store.register_der_device(register, caller, now, idem, issuer, errors, keep=created_text)
    interconnect, errors = requests.parse_interconnect(body)
    errors = _certified(caller, body, errors)
    if interconnect is None:
        raise InvalidRequest(errors)
    if not caller.certified:
        caller = Caller(caller.name, aggregator=interconnect.aggregator)
    if errors:
        raise InvalidRequest(errors)
    return await store.interconnect_der(interconnect, caller, now, idem, keep=created_text)


def _certified(caller: Caller, body: Any, errors: list[Problem]) -> list[Problem]:
    """A certified aggregator is its certificate: naming an aggregator in the body is a problem."""
    if caller.certified and isinstance(body, dict) and "aggregator" in body:
        errors = [e for e in errors if e.get("field") != "aggregator"]
        errors.append(problem("set from the client certificate; leave it out", "aggregator"))
    return errors
