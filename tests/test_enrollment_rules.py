"""The pure rules behind enrollment: body checks, the catalog's ranges, eligibility, event constraints, task states."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from der_gateway.domain.utility import catalog, prefixed, requests, rules, tasks
from der_gateway.domain.utility.fields import F, check


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def test_fields_name_every_problem_and_keep_the_rest():
    spec = {"a": F("str", required=True), "b": F("int", minimum=1), "c": F("lfdi"), "d": F("str", nullable=True),
            "e": F("ref"), "f": F("bool")}
    values, errors = check({"b": 0, "c": "ab" * 20, "d": None, "e": "", "f": 1, "g": 2}, spec)
    assert values == {"c": "AB" * 20, "d": None}
    assert {e["field"]: e["reason"] for e in errors} == {
        "g": "unknown field", "a": "required", "b": "must be at least 1", "f": "must be true or false",
        "e": "must be an id (a positive integer) or an external id (a non-empty string)"}
    values, errors = check({"b": None}, spec, partial=True)
    assert errors == [{"field": "b", "reason": "must not be null"}]
    assert check([], spec, "x") == ({}, [{"field": "x", "reason": "must be a JSON object"}])
    assert prefixed([{"field": "(body)", "reason": "r"}, {"field": "v", "reason": "s"}], "p") == [
        {"field": "p", "reason": "r"}, {"field": "p.v", "reason": "s"}]


def test_nameplate_ratings_are_compared_in_base_units():
    assert catalog.quantity({"value": 135, "multiplier": 2}) == Decimal(13500)
    assert catalog.quantity({"value": 15, "multiplier": -1}) == Decimal("1.5")
    assert catalog.quantity({"value": "1", "multiplier": 0}) is None
    spec, errors = catalog.parse_spec({"rtgMaxW": {"min": 1000, "max": 10000, "required": True},
                                       "rtgMaxWh": {"max": 13500}})
    assert errors == []
    assert catalog.nameplate_errors({"rtgMaxW": {"value": 10, "multiplier": 3},
                                     "rtgMaxWh": {"value": 135, "multiplier": 2}}, spec, "M") == []
    found = catalog.nameplate_errors({"rtgMaxW": {"value": 5, "multiplier": 2},
                                      "rtgMaxWh": {"value": 14, "multiplier": 3}}, spec, "M")
    assert found == [
        {"field": "device.nameplate.rtgMaxW", "reason": "rule catalog: 500 W is below the minimum of 1000 W for M"},
        {"field": "device.nameplate.rtgMaxWh", "reason": "rule catalog: 14000 Wh is above the maximum of 13500 Wh "
                                                         "for M"}]
    assert catalog.nameplate_errors({}, spec, "M") == [
        {"field": "device.nameplate.rtgMaxW", "reason": "rule catalog: required by the specification of M"}]
    assert catalog.settings_errors({"setMaxW": {"value": 6, "multiplier": 3},
                                    "setMaxVA": {"value": 1, "multiplier": 0}},
                                   {"rtgMaxW": {"value": 5000, "multiplier": 0}}) == [
        {"field": "device.settings.setMaxW", "reason": "6000 W exceeds the nameplate's rtgMaxW (5000 W)"}]
    _, errors = catalog.parse_spec({"rtgMaxW": {"min": "1"}, "foo": {}, "interconnection": {"inverterCount": []}})
    assert [e["field"] for e in errors] == ["spec.rtgMaxW.min", "spec.foo", "spec.interconnection.inverterCount"]


def test_eligibility_names_each_rule_it_breaks():
    eligibility, errors = rules.parse_eligibility({"derTypes": [80, 80, 4], "capacityW": {"max": 10000},
                                                   "feeders": ["F7"], "tariffId": 3})
    assert errors == [] and eligibility["derTypes"] == [4, 80]
    ok = dict(der_type=80, capacity_w=Decimal(5000), location={"feeder": "F7"}, accepted_tariffs=[3])
    assert rules.eligibility_errors(eligibility, "P", **ok) == []
    found = rules.eligibility_errors(eligibility, "P", der_type=81, capacity_w=Decimal(12000),
                                     location={"feeder": None}, accepted_tariffs=[], tariff_name="T-3")
    assert [e["reason"].split(":")[0] for e in found] == [
        "program P rule deviceTypes", "program P rule capacity", "program P rule location", "program P rule tariff"]
    assert found[2]["reason"].endswith("feeder (none recorded) is not one of F7")
    _, errors = rules.parse_eligibility({"derTypes": [7], "substations": [""], "capacityW": {"min": 2, "max": 1}})
    assert [e["field"] for e in errors] == ["eligibility.derTypes[0]", "eligibility.capacityW",
                                            "eligibility.substations[0]"]


def test_allowed_hours_in_local_time_and_across_midnight():
    hours = {"start": 14, "end": 20}
    day = utc(2027, 1, 15)
    assert not rules.outside_hours(day + 14 * 3600, 6 * 3600, "UTC", hours)
    assert rules.outside_hours(day + 14 * 3600, 6 * 3600 + 1, "UTC", hours)
    assert rules.outside_hours(day + 13 * 3600 + 3599, 60, "UTC", hours)
    # 03:00 UTC is 14:00 in Sydney in January (UTC+11)
    assert not rules.outside_hours(day + 3 * 3600, 3600, "Australia/Sydney", hours)
    assert rules.outside_hours(day + 3 * 3600, 3600, "UTC", hours)
    night = {"start": 22, "end": 6}
    assert not rules.outside_hours(day + 23 * 3600, 6 * 3600, "UTC", night)
    assert rules.outside_hours(day + 5 * 3600 + 1800, 3600, "UTC", night)
    assert not rules.outside_hours(day, 10 * 86400, "UTC", {"start": 0, "end": 24})
    assert rules.outside_hours(day + 14 * 3600, 10 * 86400, "UTC", hours)
    # a half-hour zone: Adelaide is UTC+10:30 in January; 03:30 UTC is 14:00 there
    assert not rules.outside_hours(day + 3 * 3600 + 1800, 6 * 3600, "Australia/Adelaide", hours)
    assert rules.outside_hours(day + 3 * 3600, 3600, "Australia/Adelaide", hours)
    # a DST change inside the window: London springs forward at 01:00 UTC on 28 March 2027
    spring = utc(2027, 3, 28)
    assert not rules.outside_hours(spring + 13 * 3600, 6 * 3600, "Europe/London", hours)  # 14:00-20:00 BST
    assert rules.outside_hours(spring + 14 * 3600, 6 * 3600, "Europe/London", hours)


def test_event_constraints():
    constraints, errors = rules.parse_constraints({"maxEvents": {"count": 2, "periodSeconds": 100},
                                                   "maxDurationSeconds": 60, "minNoticeSeconds": 10})
    assert errors == []

    def judge(start: int, duration: int = 30, others=(), now: int = 0) -> list[str]:
        return [e["reason"].split(":")[0] for e in rules.event_constraint_errors(
            constraints, start=start, duration=duration, now=now, other_starts=list(others), zone_name="UTC")]

    assert judge(10) == []
    assert judge(9) == ["rule minNotice"]
    assert judge(20, 61) == ["rule maxDuration"]
    assert judge(99, others=[0, 50]) == ["rule maxEvents"]
    assert judge(100, others=[0, 50]) == []  # [0, 100) holds two, [50, 150) holds two
    assert judge(60, others=[0, 150]) == []
    assert judge(60, others=[0, 150, 155]) == ["rule maxEvents"]
    _, errors = rules.parse_constraints({"maxEvents": {"count": 0}, "allowedHours": {"start": 3, "end": 3},
                                         "minNoticeSeconds": -1, "x": 1})
    assert sorted(e["field"] for e in errors) == ["constraints.allowedHours", "constraints.maxEvents.count",
                                                  "constraints.maxEvents.periodSeconds",
                                                  "constraints.minNoticeSeconds", "constraints.x"]


def test_service_task_states():
    assert tasks.may_move("Pending", "Processing") and tasks.may_move("Processing", "Completed")
    assert not tasks.may_move("Completed", "Processing") and not tasks.may_move("Cancelled", "Pending")
    assert tasks.why_not_process("enroll", "Pending", None, 0, 0) is None
    assert "approval" in tasks.why_not_process("interconnect", "Pending", None, 0, 0)
    assert tasks.why_not_process("interconnect", "Pending", {"decision": "approved"}, 0, 0) is None
    assert tasks.why_not_process("enroll", "Processing", None, 100, 101) == "the task is Processing"
    assert tasks.why_not_process("enroll", "Processing", None, 100, 100 + tasks.STALE_SECONDS) is None
    assert tasks.why_not_process("enroll", "Completed", None, 0, 10 ** 6) == "the task is Completed"
    assert tasks.why_not_cancel("Pending") is None and tasks.why_not_cancel("Error")
    assert tasks.why_not_decide("enroll", "Pending", None) == "only interconnect tasks need engineering approval"
    assert tasks.why_not_decide("interconnect", "Pending", {"decision": "rejected"}).endswith("rejected already")


def test_request_bodies():
    def sep_check(cls, data, path):
        return (data, []) if "bad" not in data else (None, [{"field": f"{path}.bad", "reason": "no"}])

    lfdi = "0A" * 20
    device = {"lFDI": lfdi, "sFDI": 1, "manufacturer": "M", "model": "X", "serialNumber": "S",
              "nameplate": {"rtgMaxW": {"value": 5, "multiplier": 0}},
              "settings": {"setMaxW": {"value": 6, "multiplier": 0}, "updatedTime": 1}}
    req, errors = requests.parse_register({"customer": 1, "servicePoint": "SP", "device": device}, sep_check, 7)
    assert req is None
    assert {e["field"] for e in errors} == {"device.sFDI", "device.settings.updatedTime"}
    del device["sFDI"], device["settings"]["updatedTime"]
    req, errors = requests.parse_register({"customer": 1, "servicePoint": "SP", "device": device}, sep_check, 7)
    assert req is not None and req.device.lfdi == lfdi and req.device.settings["updatedTime"] == 7
    assert errors == [{"field": "device.settings.setMaxW", "reason": "6 W exceeds the nameplate's rtgMaxW (5 W)"}]
    req, errors = requests.parse_interconnect({"customer": 1, "servicePoint": 2, "device": {"manufacturer": "M"},
                                               "interconnection": {"phases": 4}})
    assert req is None and {e["field"] for e in errors} == {"device.model", "device.serialNumber",
                                                            "interconnection.exportLimitW", "interconnection.phases"}
    req, errors = requests.parse_replace({"lFDI": lfdi, "serialNumber": "S2", "manufacturer": "M"}, sep_check, 7)
    assert req is None and errors[-1]["field"] == "model"
    req, errors = requests.parse_replace({"lFDI": lfdi, "serialNumber": "S2"}, sep_check, 7)
    assert errors == [] and req.device.nameplate is None and req.device.model == ""
