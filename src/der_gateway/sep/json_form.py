"""2030.5 objects in their JSON form (the admin and aggregator APIs'), checked in two steps, every problem named
by its field.

1. Shape: the JSON must match the sep.model dataclass exactly: no unknown keys,
   every required field, and JSON types that are the field's type (an integer
   field takes only a JSON integer: not a boolean, a string or 5.0).
2. Schema: the object is encoded as 2030.5 XML and validated against the
   deployment's schema set, so ranges, lengths, patterns and the profile
   (CSIP-AUS elements under csip) are the standard's own.  libxml2's messages
   are traced back to the element, and so to the JSON field, they are about.

Fields are named as dotted paths with list indexes: "CurveData[2].yvalue".
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence, TypeVar

from lxml import etree

from ..xsd import SchemaSet
from . import codec
from .fields import CSIPAUS_NS

T = TypeVar("T")


def error(reason: str, field: str | None = None) -> dict[str, str]:
    """One problem: what is wrong, and with which field (a dotted path), where it can say."""
    return {"field": field, "reason": reason} if field is not None else {"reason": reason}


class Invalid(ValueError):
    """The input is not a valid object: every problem found."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(e["reason"] for e in errors))
        self.errors = errors


def invalid(errors: list[dict[str, str]]) -> Invalid:
    return Invalid(errors)

# characters XML 1.0 cannot carry, and lone surrogates
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@functools.cache
def required_fields(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def scalar_error(kind: type | None, value: Any) -> str | None:
    """Why value is not a JSON value of the scalar kind (int, float, bool or str), or None if it is."""
    if kind is int and type(value) is not int:
        return "must be an integer"
    if kind is bool and type(value) is not bool:
        return "must be true or false"
    if kind is float and type(value) not in (int, float):
        return "must be a number"
    if kind is str:
        if not isinstance(value, str):
            return "must be a string"
        if _NOT_XML.search(value):
            return "contains a character that XML cannot carry"
    return None


# stand-ins for missing or mistyped required scalars, so the schema can still judge the other fields
_PLACEHOLDERS: dict[type, Any] = {int: 0, str: "0", bool: False}


class _Shape:
    """One pass over a JSON object: errors, and a copy without what is wrong (nulls count as absent).

    A required scalar that is missing or of the wrong type gets a placeholder in
    the copy, so that the schema can still check everything else.
    """

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []
        self.indexes_intact = True  # False once a list item had to be dropped

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(error(reason, field or "(body)"))

    def check(self, cls: type, data: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.fail(path, "must be a JSON object")
            return None
        plans = {p.name: p for p in codec.plan(cls)}
        for key in data:
            if key not in plans:
                self.fail(join(path, key), "unknown field")
        clean: dict[str, Any] = {}
        for name, p in plans.items():
            here = join(path, name)
            value = data.get(name)
            if value is None:
                if name in required_fields(cls):
                    self.fail(here, "required")
                    if p.scalar is not None and not p.many:
                        clean[name] = _PLACEHOLDERS[p.scalar]
                continue
            if p.many:
                if not isinstance(value, list):
                    self.fail(here, "must be a list")
                    continue
                items = [self._value(p, item, f"{here}[{i}]") for i, item in enumerate(value)]
                if any(item is None for item in items):
                    self.indexes_intact = False
                clean[name] = [item for item in items if item is not None]
            else:
                checked = self._value(p, value, here)
                if checked is not None:
                    clean[name] = checked
                elif p.scalar is not None and name in required_fields(cls):
                    clean[name] = _PLACEHOLDERS[p.scalar]
        return clean

    def _value(self, p: codec.FieldPlan, value: Any, here: str) -> Any:
        if p.nested is not None:
            return self.check(p.nested, value, here)
        reason = scalar_error(p.scalar, value)
        if reason:
            self.fail(here, reason)
            return None
        return value


def build(cls: type[T], data: dict[str, Any], schemas: SchemaSet, *,
          prior: Sequence[dict[str, str]] = ()) -> T:
    """The resource the JSON describes, schema-valid; otherwise 400 with every error found (and prior ones)."""
    shape = _Shape()
    clean = shape.check(cls, data, "")
    errors = list(prior) + shape.errors
    obj = None
    if clean is not None:
        try:
            obj = codec.from_data(cls, clean)
        except (TypeError, KeyError, ValueError) as exc:
            if not shape.errors:
                errors.append(error(f"not a {cls.__name__}: {exc}", "(body)"))
    if obj is not None and shape.indexes_intact:
        judged = {e["field"] for e in errors}
        errors.extend(e for e in schema_errors(obj, schemas) if e["field"] not in judged and e not in errors)
    if errors or obj is None:
        raise invalid(errors)
    return obj


# -- schema errors, traced to fields --------------------------------------------------

_MESSAGE = re.compile(r"^line (?P<line>\d+): Element '(?P<element>[^']+)'(?:, attribute '(?P<attr>[^']+)')?: "
                      r"(?P<text>.*)$", re.S)
_EXPECTED = re.compile(r"Expected is (?:one of )?\( (?P<names>[^)]*) \)")
_NAMESPACE = re.compile(r"\{[^}]*\}")
_ATOMIC = re.compile(r"^'(?P<value>.*)' is not a valid value of the atomic type "
                     r"'(?:\{[^}]*\})?(?P<type>\w+)'\.?$", re.S)
_INTEGER_TYPE = re.compile(r"^(?P<unsigned>U?)Int(?P<bits>\d+)$")
_HEX_TYPE = re.compile(r"^HexBinary(?P<bits>\d+)$")


_LONG = " characters long (bytes, for a hex value)"
_FACETS = (
    (re.compile(r"^\[facet 'maxLength'\].*maximum length of '(\d+)'"), "must be at most {}" + _LONG),
    (re.compile(r"^\[facet 'minLength'\].*minimum length of '(\d+)'"), "must be at least {}" + _LONG),
    (re.compile(r"^\[facet 'length'\].*length of '(\d+)'\.?$"), "must be exactly {}" + _LONG),
    (re.compile(r"^\[facet 'maxInclusive'\].*allowed \('(-?\d+)'\)"), "must be at most {}"),
    (re.compile(r"^\[facet 'minInclusive'\].*allowed \('(-?\d+)'\)"), "must be at least {}"),
)


def _type_reason(text: str) -> str | None:
    """libxml2's "not a valid value of the atomic type" and facet messages, as the rule they enforce."""
    for pattern, template in _FACETS:
        if (f := pattern.match(text)):
            return template.format(f.group(1))
    m = _ATOMIC.match(text)
    if not m:
        return None
    kind = m.group("type")
    if (i := _INTEGER_TYPE.match(kind)):
        bits = int(i.group("bits"))
        low, high = (0, 2**bits - 1) if i.group("unsigned") else (-(2**(bits - 1)), 2**(bits - 1) - 1)
        return f"must be an integer from {low} to {high} ({kind})"
    if (h := _HEX_TYPE.match(kind)):
        return f"must be hexadecimal, at most {int(h.group('bits')) // 4} digits ({kind})"
    return f"{m.group('value')!r} is not a valid {kind}"


def _fields_by_line(root: etree._Element, cls: type) -> dict[int, tuple[str, etree._Element]]:
    """Each element's JSON path, by the line it starts on (the document is pretty-printed)."""
    found: dict[int, tuple[str, etree._Element]] = {}

    def walk(element: etree._Element, cls: type | None, path: str) -> None:
        # lxml-stubs leave sourceline untyped
        found.setdefault(element.sourceline, (path, element))  # type: ignore[arg-type]
        if cls is None:
            return
        plans = {p.name: p for p in codec.plan(cls)}
        seen: dict[str, int] = {}
        for child in element:
            name = etree.QName(child).localname
            p = plans.get(name)
            if p is None:
                continue
            child_path = join(path, name)
            if p.many:
                child_path = f"{child_path}[{seen.get(name, 0)}]"
                seen[name] = seen.get(name, 0) + 1
            walk(child, p.nested, child_path)

    walk(root, cls, "")
    return found


def _expected_names(text: str) -> list[str]:
    m = _EXPECTED.search(text)
    if not m:
        return []
    return [_NAMESPACE.sub("", n.strip()) for n in m.group("names").split(",") if n.strip()]


def _translate(message: str, lines: dict[int, tuple[str, etree._Element]], profile: str) -> dict[str, str]:
    m = _MESSAGE.match(message)
    if not m or int(m.group("line")) not in lines:
        return error(_NAMESPACE.sub("", message.partition(": ")[2] or message), "(body)")
    path, element = lines[int(m.group("line"))]
    text = m.group("text").strip()
    reason = _type_reason(text) or _NAMESPACE.sub("", text)
    if m.group("attr"):
        return error(reason, join(path, m.group("attr")))
    expected = _expected_names(text)
    if text.startswith("Missing child element"):
        if len(expected) == 1:
            return error("required", join(path, expected[0]))
        return error(f"requires one of: {', '.join(expected)}", path or "(body)")
    if text.startswith("This element is not expected"):
        if etree.QName(element).namespace == CSIPAUS_NS and profile != "csip-aus":
            return error(f"a CSIP-AUS field; this server runs the {profile} profile", path)
        parent, siblings = path.rpartition(".")[0], element.getparent()
        present = {etree.QName(c).localname for c in siblings} if siblings is not None else set()
        if len(expected) == 1 and expected[0] not in present:
            return error("required", join(parent, expected[0]))
        return error("not allowed here", path)
    return error(reason, path or "(body)")


def schema_errors(obj: Any, schemas: SchemaSet) -> list[dict[str, str]]:
    """The 2030.5 schema's objections to obj, each named by the JSON field it concerns."""
    try:
        compact = etree.fromstring(codec.encode(obj))
    except (etree.XMLSyntaxError, UnicodeEncodeError) as exc:  # shape checks keep this from happening
        return [error(f"cannot be written as XML: {exc}", "(body)")]
    root = etree.fromstring(etree.tostring(compact, pretty_print=True))
    messages = schemas.errors(root)
    if not messages:
        return []
    lines = _fields_by_line(root, type(obj))
    result: list[dict[str, str]] = []
    for message in messages:
        translated = _translate(message, lines, schemas.profile)
        if translated not in result:
            result.append(translated)
    return result


# -- plain (non-2030.5) bodies ---------------------------------------------------------

DECIMAL_TEXT = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"


@dataclasses.dataclass(frozen=True)
class Plain:
    """A field of an admin-only body: its kind, and whether it must be there.

    kind: int, float (any JSON number), bool or str; Decimal (an exact decimal: a JSON number, or its text as
    DECIMAL_TEXT); dict (any JSON object, read further by its own parser); list, each item by `items` (min_items
    to max_items; unique: none twice); or a tuple of these: a value of any of them (each judged as its own kind).
    pattern: a string must match it whole, else `reason`; choices: the only values; problem: why a value of the
    kind is wrong (or None), in place of the minimum and maximum checks, which then only document the range.
    """

    kind: type | tuple[type, ...]
    required: bool = False
    nullable: bool = False
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    reason: str = "has the wrong form"
    choices: tuple[str, ...] | None = None
    problem: Callable[[Any], str | None] | None = None
    description: str | None = None  # for the API's documentation
    items: "Plain | None" = None
    min_items: int | None = None
    max_items: int | None = None
    unique: bool = False  # a list: no item twice


# the Python values json.loads gives for each kind, and how a reason names the kind
_JSON_VALUES: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), bool: (bool,), str: (str,),
                                              Decimal: (int, float, str), dict: (dict,), list: (list,)}
_KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               Decimal: "a decimal number", dict: "a JSON object", list: "a list"}


def _plain_reason(rule: Plain, value: Any) -> str | None:
    if isinstance(rule.kind, tuple):
        for kind in rule.kind:
            if type(value) in _JSON_VALUES[kind]:
                return _plain_reason(dataclasses.replace(rule, kind=kind), value)
        return "must be " + " or ".join(_KIND_NAMES[kind] for kind in rule.kind)
    if rule.kind is Decimal:
        text = isinstance(value, str) and re.fullmatch(DECIMAL_TEXT, value)
        reason = None if type(value) in (int, float) or text else "must be a decimal number"
    elif rule.kind is dict:
        reason = None if isinstance(value, dict) else "must be a JSON object"
    elif rule.kind is list:
        reason = None if isinstance(value, list) else "must be a list"
        if reason is None and rule.min_items is not None and len(value) < rule.min_items:
            reason = f"at least {rule.min_items} items"
        if reason is None and rule.max_items is not None and len(value) > rule.max_items:
            reason = f"at most {rule.max_items} items"
        if reason is None and rule.unique and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            reason = "has an item more than once"
    else:
        reason = scalar_error(rule.kind, value)
    if reason is None and rule.problem is not None:
        reason = rule.problem(value)
    elif reason is None and rule.max_length is not None and isinstance(value, str) and len(value) > rule.max_length:
        reason = f"must be at most {rule.max_length} characters"
    elif reason is None and rule.pattern is not None and isinstance(value, str) and not re.fullmatch(rule.pattern,
                                                                                                     value):
        reason = rule.reason
    elif reason is None and rule.choices is not None and value not in rule.choices:
        reason = f"must be one of: {', '.join(rule.choices)}"
    elif reason is None and rule.kind is int:
        if rule.minimum is not None and value < rule.minimum:
            reason = f"must be at least {rule.minimum}"
        elif rule.maximum is not None and value > rule.maximum:
            reason = f"must be at most {rule.maximum}"
    return reason


def check_plain(data: dict[str, Any], spec: Mapping[str, Plain]
                ) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Values present in data, typed as the spec says; unknown keys and wrong types are errors.  A list's wrong
    items are named by their index (field[2]); the list is then left out of the values."""
    if not isinstance(data, dict):
        return {}, [error("must be a JSON object", "(body)")]
    errors = [error("unknown field", key) for key in data if key not in spec]
    values: dict[str, Any] = {}
    for name, rule in spec.items():
        if name not in data:
            if rule.required:
                errors.append(error("required", name))
            continue
        value = data[name]
        if value is None:
            if not rule.nullable:
                errors.append(error("required" if rule.required else "must not be null", name))
            else:
                values[name] = None
            continue
        reason = _plain_reason(rule, value)
        if reason:
            errors.append(error(reason, name))
            continue
        if rule.items is not None:
            wrong = [error(r, f"{name}[{i}]") for i, r in enumerate(_plain_reason(rule.items, v) for v in value)
                     if r]
            if wrong:
                errors += wrong
                continue
        values[name] = value
    return values, errors
