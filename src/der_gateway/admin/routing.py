"""The admin API's routes, each declared once: the app registers them and GET /openapi.json is made from them.

A request body is declared by the spec its handler validates with (a 2030.5 class and the operator's fields,
a Plain table, a utility field table), so the documented schema is the accepted one.  Responses name a
component schema of admin/openapi.py, most of them a TypedDict view of the code that renders the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from ..domain.utility.fields import F
from ..sep.json_form import Plain

Schema = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Answer:
    """A success answer: what it means, and its body (a component name, an inline schema, or none)."""

    description: str
    schema: str | Schema | None = None
    media: str = "application/json"


@dataclass(frozen=True)
class SepBody:
    """A 2030.5 resource in its JSON form, limited to the fields the operator sets (inputs.operator_fields);
    extra: the body's fields beyond the 2030.5 ones, read with json_form.check_plain."""

    cls: type
    fields: tuple[str, ...]
    optional: tuple[str, ...] = ()
    description: str | None = None
    extra: Mapping[str, Plain] = field(default_factory=dict)


@dataclass(frozen=True)
class PlainBody:
    """A body read with json_form.check_plain; nested: a field the table takes as a list (of objects) or an
    object, read further as the body declared here (the list's items: each one)."""

    spec: Mapping[str, Plain]
    description: str | None = None
    nested: Mapping[str, "Body"] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldsBody:
    """A body read with domain.utility.fields.check; nested: the schema of an object or list field (a component
    name or an inline schema) where the table says only "object" or "list"."""

    spec: Mapping[str, F]
    nested: Mapping[str, str | Schema] = field(default_factory=dict)
    description: str | None = None
    partial: bool = False  # a PATCH: nothing required


@dataclass(frozen=True)
class Named:
    """A body described by a component schema of admin/openapi.py, beside the parsing it documents."""

    component: str


@dataclass(frozen=True)
class Rows:
    """A JSON array of objects, each read as item (a file's rows); wrapped: the array may also come as the one
    field of an object, {wrapped: [...]}."""

    item: PlainBody
    min_items: int | None = None
    wrapped: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Upload:
    """A file as the body (http.read_upload): JSON as json describes it, or CSV."""

    json: "Body"
    csv: str


Body = SepBody | PlainBody | FieldsBody | Named | Rows | Upload


@dataclass(frozen=True)
class Query:
    """A query parameter: http.read_query reads it as declared, and the document describes it so.

    kind: str, int (decimal digits, minimum to maximum) or bool (true or false); choices: the only values of a
    str.  A parameter read by its own parser (a time window, say) is declared with kind str and documented only.
    """

    name: str
    description: str
    kind: type = str
    choices: tuple[str, ...] | None = None
    minimum: int = 1
    maximum: int = 2**63 - 1
    required: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # aiohttp's form: {name:regex} for parameters
    handler: Handler
    summary: str
    ok: Mapping[int, Answer]
    body: Body | None = None
    errors: Mapping[int, str] = field(default_factory=dict)  # statuses beyond the ones every route may answer
    description: str | None = None
    query: tuple[Query, ...] = ()
    public: bool = False  # answered without the bearer token


SEP_NOTE = ("Values are checked against the IEEE 2030.5 schema of the server's profile; element names, "
            "nesting and integer types are the standard's (an integer field takes only a JSON integer).")
NO_CONTENT = {204: Answer("done")}
MRID_TAKEN = {409: "the mRID is taken"}
