"""Checking the plain JSON bodies of the utility API, field by field."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from . import Problem, is_ref, join, problem

_LFDI = re.compile(r"[0-9A-Fa-f]{40}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class F:
    """One field of a body.  kind: str, int, num, bool, ref (id or external id), lfdi, hex32, object, list.

    fields: an object's own table, checked in turn (its problems named below the field); description: for the
    API's documentation.
    """

    kind: str
    required: bool = False
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 200
    choices: tuple | None = None
    fields: Mapping[str, "F"] | None = None
    description: str | None = None


def lfdi(value: Any) -> str | None:
    """The LFDI in canonical (upper-case) form, or None unless it is exactly 40 hex digits."""
    return value.upper() if isinstance(value, str) and _LFDI.fullmatch(value) else None


def _reason(rule: F, value: Any) -> str | None:
    kind = rule.kind
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            return "must be a non-empty string"
        if len(value) > rule.max_length:
            return f"must be at most {rule.max_length} characters"
        if _CONTROL.search(value):
            return "contains a control character"
    elif kind == "int":
        if type(value) is not int:
            return "must be an integer"
    elif kind == "num":
        if type(value) not in (int, float):
            return "must be a number"
    elif kind == "bool":
        if type(value) is not bool:
            return "must be true or false"
    elif kind == "ref":
        if not is_ref(value):
            return "must be an id (a positive integer) or an external id (a non-empty string)"
    elif kind == "lfdi":
        if lfdi(value) is None:
            return "an LFDI is exactly 40 hex digits"
    elif kind == "hex32":
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            return "must be hexadecimal, at most 8 digits (HexBinary32)"
    elif kind == "object":
        if not isinstance(value, dict):
            return "must be a JSON object"
    elif kind == "list":
        if not isinstance(value, list):
            return "must be a list"
    if kind in ("int", "num"):
        if rule.minimum is not None and value < rule.minimum:
            return f"must be at least {rule.minimum:g}"
        if rule.maximum is not None and value > rule.maximum:
            return f"must be at most {rule.maximum:g}"
    if rule.choices is not None and value not in rule.choices:
        return f"must be one of: {', '.join(str(c) for c in rule.choices)}"
    return None


def check(data: Any, spec: Mapping[str, F], path: str = "", *, partial: bool = False
          ) -> tuple[dict[str, Any], list[Problem]]:
    """The values of data that are right, and a problem for each that is not (unknown keys included).

    partial: a PATCH, where nothing is required.
    """
    if not isinstance(data, dict):
        return {}, [problem("must be a JSON object", path or "(body)")]
    errors = [problem("unknown field", join(path, key)) for key in data if key not in spec]
    values: dict[str, Any] = {}
    for name, rule in spec.items():
        here = join(path, name)
        if name not in data or (data[name] is None and not rule.nullable):
            if rule.required and not partial:
                errors.append(problem("required", here))
            elif name in data:
                errors.append(problem("must not be null", here))
            continue
        value = data[name]
        if value is None:
            values[name] = None
            continue
        reason = _reason(rule, value)
        if reason:
            errors.append(problem(reason, here))
        elif rule.fields is not None:
            inner, problems = check(value, rule.fields, here)
            errors += problems
            if not problems:
                values[name] = inner
        else:
            values[name] = value.upper() if rule.kind == "lfdi" else value
    return values, errors


def string_list(data: Any, field: str, max_items: int = 1000) -> tuple[list[str], list[Problem]]:
    if not isinstance(data, list):
        return [], [problem("must be a list of strings", field)]
    errors = [problem("must be a non-empty string", f"{field}[{i}]")
              for i, v in enumerate(data) if not isinstance(v, str) or not v.strip()]
    if len(data) > max_items:
        errors.append(problem(f"at most {max_items} items", field))
    return ([v for v in data if isinstance(v, str) and v.strip()], errors)


def int_list(data: Any, field: str, minimum: int = 0, maximum: int = 2**63 - 1) -> tuple[list[int], list[Problem]]:
    if not isinstance(data, list):
        return [], [problem("must be a list of integers", field)]
    errors = [problem(f"must be an integer from {minimum} to {maximum}", f"{field}[{i}]")
              for i, v in enumerate(data) if type(v) is not int or not minimum <= v <= maximum]
    return [v for v in data if type(v) is int and minimum <= v <= maximum], errors
