"""services/json_view.py: a TypedDict view's JSON Schema, and the admin API's answers declared that way."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest
from jsonschema import Draft202012Validator

from der_gateway.services.json_view import Href, Id, Js, Keys, Lfdi, Money, component, doc, view_schema


class Part(TypedDict):
    name: str


class Whole(TypedDict):
    """A whole,
    with parts."""

    id: Id
    href: Href
    owner: Lfdi
    score: float
    enabled: bool
    note: str | None
    kind: Literal["a", "b"]
    code: Annotated[int | None, doc("a code")]
    parts: list[Part]
    part: Part
    totals: dict[str, Money]
    payload: dict[str, Any]
    task: Annotated[dict[str, Any], component("ServiceTask")]
    members: NotRequired[Annotated[list[Id], doc("not in lists")]]
    either: int | str
    status: Annotated[str, Js(enum=["on", "off"])]


def test_each_kind_of_field_has_its_schema():
    schema = view_schema(Whole)
    props = schema["properties"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["description"] == "A whole, with parts."
    assert props["id"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert props["href"]["type"] == "string" and "description" in props["href"]
    assert props["owner"]["pattern"] == "^[0-9A-Fa-f]{40}$"
    assert props["score"] == {"type": "number"} and props["enabled"] == {"type": "boolean"}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["kind"] == {"enum": ["a", "b"]}
    assert props["code"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "a code"}
    assert props["parts"] == {"type": "array", "items": {
        "type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": False,
        "required": ["name"]}}
    assert props["totals"]["additionalProperties"]["description"] == "an exact decimal amount, as text"
    assert props["payload"] == {"type": "object"}
    assert props["task"] == {"$ref": "#/components/schemas/ServiceTask"}
    assert props["members"] == {"type": "array", "items": props["id"], "description": "not in lists"}
    assert props["either"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["status"] == {"type": "string", "enum": ["on", "off"]}
    assert "members" not in schema["required"] and set(schema["required"]) == set(props) - {"members"}


class Tally(TypedDict):
    every: Annotated[dict[str, int], Keys(("a", "b"))]
    some: Annotated[dict[str, str], Keys(("field", "reason"), ("reason",))]
    more: Annotated[dict[str, int], Keys(("a",), (), closed=False)]


def test_an_object_with_named_keys():
    props = view_schema(Tally)["properties"]
    assert props["every"] == {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                              "additionalProperties": False, "required": ["a", "b"]}
    assert props["some"]["required"] == ["reason"] and props["some"]["additionalProperties"] is False
    assert props["more"] == {"type": "object", "properties": {"a": {"type": "integer"}},
                             "additionalProperties": {"type": "integer"}}
    validator = Draft202012Validator(props["some"])
    assert validator.is_valid({"reason": "x"}) and validator.is_valid({"field": "f", "reason": "x"})
    assert not validator.is_valid({"field": "f"}) and not validator.is_valid({"reason": "x", "other": "y"})


def test_a_nested_view_named_as_a_component_is_a_reference():
    props = view_schema(Whole, {Part: "Part"})["properties"]
    assert props["part"] == {"$ref": "#/components/schemas/Part"}
    assert props["parts"] == {"type": "array", "items": {"$ref": "#/components/schemas/Part"}}


def test_the_schema_judges_values_as_the_type_says():
    validator = Draft202012Validator(view_schema(Part))
    assert validator.is_valid({"name": "x"})
    for wrong in ({}, {"name": 1}, {"name": "x", "other": 1}, {"name": None}):
        assert not validator.is_valid(wrong), wrong


def test_what_has_no_json_schema_is_refused():
    class Odd(TypedDict):
        when: set[int]

    class Keyed(TypedDict):
        by: dict[int, str]

    for view in (Odd, Keyed):
        with pytest.raises(TypeError):
            view_schema(view)
    with pytest.raises(TypeError, match="not a TypedDict"):
        view_schema(dict)


def test_the_admin_answers_declared_as_views_are_their_components():
    from der_gateway.admin.app import SPEC
    from der_gateway.admin.openapi import VIEWS
    names = [view.__name__ for view in VIEWS]
    assert len(names) == len(set(names))
    for view in VIEWS:
        assert SPEC["components"]["schemas"][view.__name__]["properties"].keys() == view.__annotations__.keys()


def test_a_sync_endpoint_counts_its_messages_in_every_state():
    from der_gateway.admin.routes_sync import MessageCounts
    from der_gateway.store.base import SYNC_STATES
    assert tuple(MessageCounts.__annotations__) == SYNC_STATES
