"""The admin API's bodies for the utility's records: customers, the catalog, aggregators, tariffs, rules.

Each parse_* answers the values to store and every problem; partial=True for a
PATCH, where only the fields given change.
"""

from __future__ import annotations

from typing import Any

from . import Problem, join, problem
from .catalog import der_type_reason, parse_spec
from .fields import F, check
from .rules import parse_constraints, parse_eligibility

STATUSES = ("active", "inactive")
AGGREGATOR_STATUSES = ("active", "suspended")

SERVICE_POINT = {"externalId": F("str", required=True), "address": F("str", nullable=True, max_length=500),
                 "substation": F("str", nullable=True), "feeder": F("str", nullable=True),
                 "transformer": F("str", nullable=True)}
SERVICE_POINT_PATCH = {k: v for k, v in SERVICE_POINT.items() if k != "externalId"}
ACCOUNT = {"externalId": F("str", required=True), "status": F("str", choices=STATUSES),
           "servicePoints": F("list")}
CUSTOMER = {"externalId": F("str", required=True), "name": F("str", required=True),
            "status": F("str", choices=STATUSES), "accounts": F("list")}
CUSTOMER_PATCH = {"name": F("str"), "status": F("str", choices=STATUSES)}
ACCOUNT_PATCH = {"status": F("str", choices=STATUSES)}
TARIFF = {"code": F("str", required=True), "description": F("str", nullable=True, max_length=2000),
          "terms": F("object")}
TARIFF_PATCH = {"description": F("str", nullable=True, max_length=2000), "terms": F("object")}
ASSET_TYPE = {"code": F("str", required=True), "description": F("str", nullable=True, max_length=2000),
              "derType": F("int", required=True), "requiresInterconnection": F("bool"),
              "defaultProgramId": F("int", nullable=True, minimum=1, maximum=2**63 - 1)}
ASSET_TYPE_PATCH = {k: v for k, v in ASSET_TYPE.items() if k != "code"}
DEVICE_MODEL = {"assetTypeId": F("int", required=True, minimum=1, maximum=2**63 - 1),
                "manufacturer": F("str", required=True), "model": F("str", required=True),
                "spec": F("object", required=True)}
DEVICE_MODEL_PATCH = {"assetTypeId": DEVICE_MODEL["assetTypeId"], "spec": DEVICE_MODEL["spec"]}
AGGREGATOR = {"lFDI": F("lfdi", required=True), "name": F("str", required=True),
              "status": F("str", choices=AGGREGATOR_STATUSES), "customers": F("list")}
AGGREGATOR_PATCH = {k: v for k, v in AGGREGATOR.items() if k != "lFDI"}
PROGRAM_RULES = {"code": F("str", nullable=True), "eligibility": F("object"), "constraints": F("object")}


def _ids_unique(items: list[dict[str, Any]], path: str, seen: dict[str, str], errors: list[Problem]) -> None:
    for i, item in enumerate(items):
        external = item.get("externalId")
        if external is None:
            continue
        if external in seen:
            errors.append(problem(f"repeats the externalId of {seen[external]}", f"{path}[{i}].externalId"))
        else:
            seen[external] = f"{path}[{i}]"


def parse_service_points(data: Any, path: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    if not isinstance(data, list):
        return [], [problem("must be a list", path)]
    points, errors = [], []
    for i, item in enumerate(data):
        values, problems = check(item, SERVICE_POINT, f"{path}[{i}]")
        errors += problems
        points.append(values)
    return points, errors


def parse_account(data: Any, path: str = "") -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, ACCOUNT, path)
    values.setdefault("status", "active")
    points, problems = parse_service_points(values.get("servicePoints", []), join(path, "servicePoints"))
    values["servicePoints"] = points
    return values, errors + problems


def parse_customer(data: Any) -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, CUSTOMER)
    values.setdefault("status", "active")
    accounts = []
    raw = values.get("accounts", [])
    if not isinstance(raw, list):
        errors.append(problem("must be a list", "accounts"))
        raw = []
    for i, item in enumerate(raw):
        account, problems = parse_account(item, f"accounts[{i}]")
        errors += problems
        accounts.append(account)
    values["accounts"] = accounts
    seen: dict[str, str] = {}
    _ids_unique(accounts, "accounts", seen, errors)
    seen = {}
    for i, account in enumerate(accounts):
        _ids_unique(account["servicePoints"], f"accounts[{i}].servicePoints", seen, errors)
    return values, errors


def parse_asset_type(data: Any, partial: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, ASSET_TYPE_PATCH if partial else ASSET_TYPE, partial=partial)
    if "derType" in values and (reason := der_type_reason(values["derType"])):
        errors.append(problem(reason, "derType"))
    return values, errors


def parse_device_model(data: Any, partial: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, DEVICE_MODEL_PATCH if partial else DEVICE_MODEL, partial=partial)
    if "spec" in values:
        values["spec"], problems = parse_spec(values["spec"])
        errors += problems
    return values, errors


def parse_aggregator(data: Any, partial: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, AGGREGATOR_PATCH if partial else AGGREGATOR, partial=partial)
    customers = values.get("customers")
    if customers is not None:
        for i, ref in enumerate(customers):
            if not ((type(ref) is int and 0 < ref < 2**63) or (isinstance(ref, str) and ref.strip())):
                errors.append(problem("must be a customer id or external id", f"customers[{i}]"))
    return values, errors


def parse_program_rules(data: Any) -> tuple[dict[str, Any], list[Problem]]:
    values, errors = check(data, PROGRAM_RULES)
    eligibility, problems = parse_eligibility(values.get("eligibility", {}))
    errors += problems
    constraints, problems = parse_constraints(values.get("constraints", {}))
    errors += problems
    return {"code": values.get("code"), "eligibility": eligibility, "constraints": constraints}, errors
