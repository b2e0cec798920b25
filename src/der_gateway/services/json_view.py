"""JSON answers declared once, as TypedDicts: the code that renders one builds that type (mypy checks it), and
its JSON Schema is derived from the same declaration (view_schema).

A field's type says what its value is: str, int, float, bool, Any, list[X], dict[str, X] (an object with any
keys), another TypedDict (a nested object), X | None (may be null), Literal[...] (one of these values);
NotRequired[X]: the key may be absent.  Annotated[X, Js(...)] adds to X's schema (a description, a pattern, a
range); Annotated[dict[str, X], Keys(...)] names the object's keys.  The aliases below name common ones.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Iterable, Literal, Mapping, NotRequired, Required, Union

from ..sep.json_form import DECIMAL_TEXT

Schema = dict[str, Any]


class Js:
    """Annotated metadata: keywords added to a field's JSON Schema (hashed by identity, as typing needs)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords


def doc(text: str) -> Js:
    """Annotated metadata: a field's description."""
    return Js(description=text)


class Keys:
    """Annotated metadata of a dict[str, X]: its keys are these, each with an X; required: those always there (by
    default all); closed: there are no others (else others may be, each with an X)."""

    def __init__(self, names: Iterable[str], required: Iterable[str] | None = None, closed: bool = True) -> None:
        self.names = tuple(names)
        self.required = self.names if required is None else tuple(required)
        self.closed = closed


def component(name: str) -> Js:
    """Annotated metadata: the value is the named component schema (one not declared as a view)."""
    return Js(**{"$ref": f"#/components/schemas/{name}"})


Id = Annotated[int, Js(minimum=1, maximum=2**63 - 1)]
Href = Annotated[str, doc("the 2030.5 resource's href on the device-facing server")]
Lfdi = Annotated[str, Js(pattern="^[0-9A-Fa-f]{40}$", description="40 hex digits")]
DecimalText = Annotated[str, Js(pattern=f"^{DECIMAL_TEXT}$", description="an exact decimal, as text")]
Money = Annotated[DecimalText, doc("an exact decimal amount, as text")]

_SCALARS: dict[Any, Schema] = {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
                               bool: {"type": "boolean"}, Any: {}}
_NULL: Schema = {"type": "null"}


def view_schema(view: type, components: Mapping[type, str] = {}) -> Schema:
    """The JSON Schema of a TypedDict view: a closed object, its keys required unless NotRequired, its
    docstring as the description.  A nested view named in components is a $ref to that component."""
    if not typing.is_typeddict(view):
        raise TypeError(f"{view!r} is not a TypedDict")
    hints = typing.get_type_hints(view, include_extras=True)
    properties = {name: _schema(hint, components) for name, hint in hints.items()}
    # __required_keys__ is wrong in 3.11 for string annotations (from __future__ import annotations)
    required = [name for name, hint in hints.items() if typing.get_origin(_unannotated(hint)) is not NotRequired]
    schema: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    if view.__doc__:
        schema["description"] = " ".join(view.__doc__.split())
    return schema


def type_schema(hint: Any) -> Schema:
    """The JSON Schema of one field's type (Id, Lfdi, list[int], ...)."""
    return _schema(hint, {})


def _unannotated(hint: Any) -> Any:
    while typing.get_origin(hint) is Annotated:
        hint = typing.get_args(hint)[0]
    return hint


def _schema(hint: Any, components: Mapping[type, str]) -> Schema:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        schema = _schema(args[0], components)
        for extra in args[1:]:
            if isinstance(extra, Js):
                schema = dict(extra.keywords) if "$ref" in extra.keywords else {**schema, **extra.keywords}
            elif isinstance(extra, Keys):
                value = schema.get("additionalProperties", {})
                schema = {"type": "object", "properties": {name: value for name in extra.names},
                          "additionalProperties": False if extra.closed else value}
                if extra.required:
                    schema["required"] = list(extra.required)
        return schema
    if origin in (NotRequired, Required):
        return _schema(args[0], components)
    if origin in (Union, types.UnionType):
        values = [a for a in args if a is not type(None)]
        one = _schema(values[0], components) if len(values) == 1 else {
            "anyOf": [_schema(a, components) for a in values]}
        return {"anyOf": [one, _NULL]} if len(values) < len(args) else one
    if origin is Literal:
        return {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": _schema(args[0], components)}
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"{hint!r}: a JSON object's keys are strings")
        return {"type": "object"} if args[1] is Any else {
            "type": "object", "additionalProperties": _schema(args[1], components)}
    if typing.is_typeddict(hint):
        return {"$ref": f"#/components/schemas/{components[hint]}"} if hint in components else view_schema(
            hint, components)
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    raise TypeError(f"{hint!r} has no JSON Schema here")
