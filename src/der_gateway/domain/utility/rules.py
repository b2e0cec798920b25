"""Program rules: who may enroll (eligibility) and what events may ask (constraints).

Eligibility (all optional; each given one must hold):
  derTypes      [DERType, ...]          the nameplate's type is one of these
  capacityW     {"min"?, "max"?}        the nameplate's rtgMaxW, in W
  substations / feeders / transformers  [name, ...]: the service point's network location is one of these
  tariffId      a tariff the customer must have accepted
Constraints on the program's events (all optional):
  maxEvents          {"count", "periodSeconds"}: at most count events start within any such period
  maxDurationSeconds the longest event
  allowedHours       {"start", "end"}: local hours [start, end) (config.timezone) an event must lie within;
                     start > end wraps midnight
  minNoticeSeconds   how long before its start an event must be created
Each refusal names its rule: "rule maxDuration: at most 3600 s".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from . import Problem, join, problem
from .catalog import DER_TYPES, der_type_reason, show
from .fields import F, check, int_list, string_list

LOCATION_KINDS = ("substation", "feeder", "transformer")
_LOCATION_LISTS = {"substations": "substation", "feeders": "feeder", "transformers": "transformer"}


# -- parsing ------------------------------------------------------------------------

def parse_eligibility(data: Any, path: str = "eligibility") -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, {"derTypes": F("list"), "capacityW": F("object"), "substations": F("list"),
                                  "feeders": F("list"), "transformers": F("list"),
                                  "tariffId": F("int", nullable=True, minimum=1)}, path)
    result: dict[str, Any] = {}
    if "derTypes" in values:
        types, problems = int_list(values["derTypes"], join(path, "derTypes"), 0, 255)
        errors += problems
        for i, t in enumerate(values["derTypes"]):
            if type(t) is int and 0 <= t <= 255 and (reason := der_type_reason(t)):
                errors.append(problem(reason, join(path, f"derTypes[{i}]")))
        result["derTypes"] = sorted(set(types))
    if "capacityW" in values:
        rng, problems = check(values["capacityW"], {"min": F("num", minimum=0), "max": F("num", minimum=0)},
                              join(path, "capacityW"))
        errors += problems
        if not problems and "min" in rng and "max" in rng and rng["min"] > rng["max"]:
            errors.append(problem("min must not exceed max", join(path, "capacityW")))
        result["capacityW"] = rng
    for name in _LOCATION_LISTS:
        if name in values:
            names, problems = string_list(values[name], join(path, name))
            errors += problems
            result[name] = sorted(set(names))
    if values.get("tariffId") is not None:
        result["tariffId"] = values["tariffId"]
    return result, errors


def parse_constraints(data: Any, path: str = "constraints") -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, {"maxEvents": F("object"), "maxDurationSeconds": F("int", minimum=1,
                                                                                      maximum=2**32 - 1),
                                  "allowedHours": F("object"), "minNoticeSeconds": F("int", minimum=0,
                                                                                     maximum=2**32 - 1)}, path)
    result = {k: v for k, v in values.items() if k in ("maxDurationSeconds", "minNoticeSeconds")}
    if "maxEvents" in values:
        rule, problems = check(values["maxEvents"], {"count": F("int", required=True, minimum=1, maximum=10**6),
                                                     "periodSeconds": F("int", required=True, minimum=1,
                                                                        maximum=2**32 - 1)},
                               join(path, "maxEvents"))
        errors += problems
        result["maxEvents"] = rule
    if "allowedHours" in values:
        rule, problems = check(values["allowedHours"], {"start": F("int", required=True, minimum=0, maximum=23),
                                                        "end": F("int", required=True, minimum=1, maximum=24)},
                               join(path, "allowedHours"))
        errors += problems
        if not problems and rule["start"] == rule["end"]:
            errors.append(problem("start and end must differ (0 to 24 allows every hour)", join(path, "allowedHours")))
        result["allowedHours"] = rule
    return result, errors


# -- eligibility ----------------------------------------------------------------------

def eligibility_errors(eligibility: dict[str, Any], program_name: str, *, der_type: int | None,
                       capacity_w: Decimal | None, location: dict[str, str | None],
                       accepted_tariffs: Iterable[int], tariff_name: str | None = None,
                       fields: dict[str, str] | None = None) -> list[Problem]:
    """Why a device may not enroll in the program; empty when it may."""
    where = {"type": "device.nameplate.type", "capacity": "device.nameplate.rtgMaxW",
             "location": "servicePoint", "tariff": "customer", **(fields or {})}
    errors = []
    types = eligibility.get("derTypes")
    if types and der_type not in types:
        allowed = ", ".join(f"{t} ({DER_TYPES.get(t, '?')})" for t in types)
        errors.append(problem(f"program {program_name} rule deviceTypes: DERType {der_type} is not eligible; "
                              f"eligible: {allowed}", where["type"]))
    capacity = eligibility.get("capacityW") or {}
    if capacity:
        low, high = capacity.get("min"), capacity.get("max")
        if capacity_w is None:
            errors.append(problem(f"program {program_name} rule capacity: the nameplate's rtgMaxW is required",
                                  where["capacity"]))
        elif (low is not None and capacity_w < Decimal(str(low))) or (high is not None
                                                                        and capacity_w > Decimal(str(high))):
            span = (f"{show(low, 'W') if low is not None else '0 W'} to "
                    f"{show(high, 'W') if high is not None else 'any'}")
            errors.append(problem(f"program {program_name} rule capacity: {show(capacity_w, 'W')} is outside "
                                  f"{span}", where["capacity"]))
    for name, kind in _LOCATION_LISTS.items():
        listed = eligibility.get(name)
        if listed and location.get(kind) not in listed:
            here = location.get(kind)
            errors.append(problem(f"program {program_name} rule location: the service point's {kind} "
                                  f"({here if here is not None else 'none recorded'}) is not one of "
                                  f"{', '.join(listed)}", where["location"]))
    tariff = eligibility.get("tariffId")
    if tariff is not None and tariff not in set(accepted_tariffs):
        errors.append(problem(f"program {program_name} rule tariff: the customer has not accepted tariff "
                              f"{tariff_name or tariff}", where["tariff"]))
    return errors


# -- event constraints -------------------------------------------------------------------

def _allowed_hour(hour: int, start: int, end: int) -> bool:
    return start <= hour < end if start < end else (hour >= start or hour < end)


def outside_hours(start: int, duration: int, zone_name: str, hours: dict[str, int]) -> bool:
    """Whether any instant of [start, start + duration) falls outside the allowed local hours."""
    first, last = hours["start"], hours["end"]
    if all(_allowed_hour(h, first, last) for h in range(24)):
        return False
    zone = ZoneInfo(zone_name)
    t, end = start, start + max(duration, 1)
    for _ in range(24 * 9):  # a day and more covers every hour: an excluded one is met within it
        if t >= end:
            return False
        local = datetime.fromtimestamp(t, zone)
        if not _allowed_hour(local.hour, first, last):
            return True
        t += 3600 - (local.minute * 60 + local.second)
    return True


def _window_overflows(starts: list[int], new_start: int, count: int, period: int) -> bool:
    """Whether some period-long window holding new_start would hold more than count event starts."""
    everything = sorted(starts + [new_start])
    for w in {s for s in everything if new_start - period < s <= new_start}:
        if sum(1 for s in everything if w <= s < w + period) > count:
            return True
    return False


def event_constraint_errors(constraints: dict[str, Any], *, start: int, duration: int, now: int,
                            other_starts: list[int], zone_name: str) -> list[Problem]:
    """Why an event may not be created in the program; other_starts: its events that are not cancelled."""
    errors = []
    longest = constraints.get("maxDurationSeconds")
    if longest is not None and duration > longest:
        errors.append(problem(f"rule maxDuration: at most {longest} s", "interval.duration"))
    notice = constraints.get("minNoticeSeconds")
    if notice is not None and start - now < notice:
        errors.append(problem(f"rule minNotice: must be created at least {notice} s before it starts; it starts "
                              f"in {start - now} s", "interval.start"))
    hours = constraints.get("allowedHours")
    if hours and outside_hours(start, duration, zone_name, hours):
        errors.append(problem(f"rule allowedHours: must lie within {hours['start']:02d}:00-{hours['end']:02d}:00 "
                              f"local time ({zone_name})", "interval"))
    most = constraints.get("maxEvents")
    if most and _window_overflows(other_starts, start, most["count"], most["periodSeconds"]):
        errors.append(problem(f"rule maxEvents: at most {most['count']} events in any {most['periodSeconds']} s",
                              "interval.start"))
    return errors
