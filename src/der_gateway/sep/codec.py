"""XML encoding and decoding of the resource dataclasses in sep.model.

Decoding is two steps: ``parse_document`` turns untrusted bytes into an lxml
element with a hardened parser (``parse_request`` also maps a request body written
to an older edition onto the current one, see sep.legacy), and ``decode`` maps a
schema-valid element onto a dataclass.  Encoding writes elements in field order, which is XSD order.
Nothing here does I/O.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
import typing
from dataclasses import dataclass
from types import UnionType
from typing import Any, Generator, TypeVar

from lxml import etree

from . import legacy, model
from .fields import CSIPAUS_NS, SEP_NS

T = TypeVar("T")

MAX_DOCUMENT_BYTES = 64 * 1024

ROOTS: dict[str, type] = {f"{{{SEP_NS}}}{cls.__name__}": cls for cls in model.ROOT_ELEMENTS}
ROOTS.update({f"{{{CSIPAUS_NS}}}{cls.__name__}": cls for cls in model.CSIPAUS_ROOT_ELEMENTS})
CSIPAUS_ROOTS = frozenset(model.CSIPAUS_ROOT_ELEMENTS)


class DecodeError(ValueError):
    """A request body that cannot be accepted; the message says why."""


@dataclass(frozen=True)
class FieldPlan:
    name: str
    tag: str  # as written: "name" or "csipaus:name"
    clark: str  # as parsed: "{ns}name"
    attribute: bool
    csipaus: bool
    many: bool
    scalar: type | None  # int, str or bool
    nested: type | None  # a dataclass


@functools.cache
def plan(cls: type) -> tuple[FieldPlan, ...]:
    hints = typing.get_type_hints(cls, vars(model), vars(model))
    plans = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        many = typing.get_origin(hint) is list
        if many:
            (hint,) = typing.get_args(hint)
        elif isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        ns = f.metadata.get("ns", SEP_NS)
        scalar = hint if hint in (int, str, bool) else None
        plans.append(FieldPlan(
            name=f.name,
            tag=f"csipaus:{f.name}" if ns == CSIPAUS_NS else f.name,
            clark=f.name if f.metadata.get("xml") == "attribute" else f"{{{ns}}}{f.name}",
            attribute=f.metadata.get("xml") == "attribute",
            csipaus=ns == CSIPAUS_NS,
            many=many,
            scalar=scalar,
            nested=None if scalar else hint,
        ))
    return tuple(plans)


# -- encoding ---------------------------------------------------------------

_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _scalar_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NS}}}type"


def _text(value: Any) -> str:
    return _scalar_text(value).translate(_TEXT_ESCAPES)


def _attr(value: Any) -> str:
    return _scalar_text(value).translate(_ATTR_ESCAPES)


# how a scalar of a field's declared type is written, as an expression of v; anything else through _text/_attr
_TEXT_OF = {int: "(str({v}) if type({v}) is int else _text({v}))",
            bool: "('true' if {v} is True else 'false' if {v} is False else _text({v}))",
            str: "({v}.translate(_TEXT_ESCAPES) if type({v}) is str else _text({v}))"}
_WRITERS: dict[type, Any] = {}


def _writer(cls: type) -> Any:
    """A function writing an instance of cls, made once per class from its plan: the fields in order, each
    left out when unset, the attributes gathered onto the start tag.  It does what a loop over plan(cls)
    would, without looking the plan up field by field (encoding is a large part of serving a GET)."""
    found = _WRITERS.get(cls)
    if found is not None:
        return found
    env: dict[str, Any] = {"_text": _text, "_attr": _attr, "_TEXT_ESCAPES": _TEXT_ESCAPES, "_WRITERS": _WRITERS,
                           "_writer": _writer}
    lines = ["def write(obj, tag, out, uses, head_extra, declared):",
             "    attrs = ''",
             "    if declared is not None and type(obj) is not declared:  # a derived type in a base-typed slot",
             "        attrs = ' xsi:type=\"' + type(obj).__name__ + '\"'",
             "        uses[1] = True",
             "    start = len(out)",
             "    out.append('')"]
    for i, p in enumerate(plan(cls)):
        lines.append(f"    v = obj.{p.name}")
        if p.attribute:
            lines.append(f"    if v is not None: attrs += ' {p.name}=\"' + _attr(v) + '\"'")
            continue
        lines.append("    if v:" if p.many else "    if v is not None:")
        if p.csipaus:
            lines.append("        uses[0] = True")
        indent, item = "        ", "v"
        if p.many:
            lines.append("        for x in v:")
            indent, item = "            ", "x"
        if p.scalar is None:
            env[f"nested{i}"] = p.nested
            lines.append(f"{indent}(_WRITERS.get(type({item})) or _writer(type({item})))"
                         f"({item}, '{p.tag}', out, uses, '', nested{i})")
        else:
            text = _TEXT_OF.get(p.scalar, "_text({v})").format(v=item)
            lines.append(f"{indent}out.append('<{p.tag}>' + {text} + '</{p.tag}>')")
    lines += ["    if len(out) > start + 1:",
              "        out[start] = '<' + tag + head_extra + attrs + '>'",
              "        out.append('</' + tag + '>')",
              "    else:",
              "        out[start] = '<' + tag + head_extra + attrs + '/>'"]
    exec("\n".join(lines), env)  # noqa: S102 - source made above from the model's own field names
    _WRITERS[cls] = env["write"]
    return env["write"]


def _write(obj: Any, tag: str, out: list[str], uses: list[bool], head_extra: str = "",
           declared: type | None = None) -> None:
    _writer(type(obj))(obj, tag, out, uses, head_extra, declared)


def encode(obj: Any, *, csipaus: bool = False, comment: str | None = None) -> bytes:
    """The resource as an XML document in the 2030.5 namespace, elements in XSD order.

    csipaus declares the CSIP-AUS namespace on the root element even when no element uses it:
    CSIP-AUS clients (py20305 among them) tell the profile from that declaration on /dcap.
    comment, when given, is written as an XML comment first inside the root element, where a
    reader of the body sees it and schema validation does not.
    """
    steps = encode_steps(obj, csipaus=csipaus, comment=comment, batch=0)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def encode_steps(obj: Any, *, csipaus: bool = False, comment: str | None = None,
                 batch: int = 10) -> Generator[None, None, bytes]:
    """encode(), in steps: the items of a long list are written batch at a time, pausing (yield) after each,
    so that a caller sharing its thread can serve others between; the document is encode()'s, byte for byte.
    batch 0 writes it in one step."""
    cls = type(obj)
    if cls in CSIPAUS_ROOTS:
        tag, head = f"csipaus:{cls.__name__}", f' xmlns="{SEP_NS}" xmlns:csipaus="{CSIPAUS_NS}"'
    else:
        tag, head = cls.__name__, f' xmlns="{SEP_NS}"'
    out: list[str] = []
    uses = [cls in CSIPAUS_ROOTS, False]  # [csipaus namespace, xsi namespace]
    fields = plan(cls)  # type: ignore[arg-type]  # mypy counts no class as Hashable (python/mypy#11470)
    last = fields[-1] if fields and fields[-1].many and fields[-1].nested is not None else None
    items = getattr(obj, last.name) if last is not None else None
    if batch and last is not None and items and len(items) > batch:
        wrapper = copy.copy(obj)
        setattr(wrapper, last.name, [])
        _write(wrapper, tag, out, uses, head)
        if len(out) == 1:  # written as an empty element: open it
            out[0] = out[0][:-2] + ">"
            closing = f"</{tag}>"
        else:
            closing = out.pop()
        uses[0] = uses[0] or last.csipaus
        for first in range(0, len(items), batch):
            for item in items[first:first + batch]:
                _writer(type(item))(item, last.tag, out, uses, "", last.nested)
            yield
        out.append(closing)
    else:
        _write(obj, tag, out, uses, head)
    extra = (f' xmlns:csipaus="{CSIPAUS_NS}"' if (uses[0] or csipaus) and cls not in CSIPAUS_ROOTS else "") + (
        f' xmlns:xsi="{XSI_NS}"' if uses[1] else "")
    if extra:
        out[0] = out[0].replace(head, head + extra, 1)
    if comment is not None:
        if len(out) == 1:  # an empty root element: open it to hold the comment
            out[0] = out[0][:-2] + ">"
            out.append(f"</{tag}>")
        out.insert(1, f"<!--{comment_text(comment)}-->")
    return "".join(out).encode()


_DOUBLE_HYPHEN = re.compile(r"-(?=-)")


def _xml_char(ch: str) -> bool:
    code = ord(ch)
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)


def comment_text(text: str) -> str:
    """text as the content of an XML comment: no "--", not ending in "-", only characters XML allows."""
    text = "".join(ch if _xml_char(ch) else "\ufffd" for ch in text)
    return f" {_DOUBLE_HYPHEN.sub('- ', text)} "


# -- decoding ---------------------------------------------------------------

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse_document(body: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> etree._Element:
    """Parse untrusted XML: no DTDs, no entities, no network, bounded size."""
    if len(body) > max_bytes:
        raise DecodeError(f"document is {len(body)} bytes; the limit is {max_bytes}")
    if not body.strip():
        raise DecodeError("the request body is empty")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise DecodeError("DTDs and entity declarations are not allowed")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise DecodeError(f"malformed XML: {exc}") from None
    if root is None:
        raise DecodeError("the request body is not an XML document")
    docinfo = root.getroottree().docinfo
    doctype = docinfo.doctype  # type: ignore[union-attr]  # lxml-stubs lack DocInfo.doctype
    if doctype or docinfo.internalDTD is not None:
        raise DecodeError("DTDs and entity declarations are not allowed")
    return root


def parse_request(body: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> legacy.Upgraded:
    """An untrusted request body, parsed and brought onto 2030.5-2018 / CSIP-AUS v1.2 (see sep.legacy)."""
    return legacy.upgrade(parse_document(body, max_bytes))


def _scalar(kind: type | None, text: str | None) -> Any:
    text = text or ""
    if kind is int:
        return int(text.strip())
    if kind is bool:
        return text.strip() in ("true", "1")
    return text


def _read(cls: type[T], element: etree._Element) -> T:
    plans = plan(cls)  # type: ignore[arg-type]  # mypy counts no class as Hashable (python/mypy#11470)
    by_clark = {p.clark: p for p in plans}
    values: dict[str, Any] = {}
    for name, raw in element.attrib.items():
        p = by_clark.get(name)  # type: ignore[arg-type]  # lxml-stubs type attribute names str | bytes; lxml gives str
        if p is not None:
            values[p.name] = _scalar(p.scalar, raw)  # type: ignore[arg-type]  # and values, likewise
    for child in element.iterchildren(etree.Element):  # not comments
        p = by_clark.get(child.tag)
        if p is None:
            raise DecodeError(f"unexpected element {child.tag} in {cls.__name__}")
        value: Any
        if p.nested is not None:
            value = _read(_derived_type(child, p.nested), child)
        else:
            value = _scalar(p.scalar, child.text)
        if p.many:
            values.setdefault(p.name, []).append(value)
        else:
            values[p.name] = value
    try:
        return cls(**values)
    except TypeError as exc:
        raise DecodeError(f"incomplete {cls.__name__}: {exc}") from None


def _derived_type(element: etree._Element, declared: type) -> type:
    """The class an xsi:type names, when it names a subclass of the declared one."""
    named = element.get(XSI_TYPE)
    if named is None:
        return declared
    cls = getattr(model, named.rpartition(":")[2], None)
    if not (isinstance(cls, type) and issubclass(cls, declared)):
        raise DecodeError(f"xsi:type {named} is not a kind of {declared.__name__}")
    return cls


LIST_ROOTS: dict[str, type] = {tag: cls for tag, cls in ROOTS.items()
                               if issubclass(cls, (model.List, model.SubscribableList))}


def complete_sent_list(element: etree._Element) -> None:
    """Gives a list a client sent the all and results attributes it may leave out.

    sep.xsd requires them, but only "on a response to a GET, ignored otherwise": a client
    POSTing a MirrorMeterReadingList (say) need not count its items.  Missing ones are set to
    the number of items sent; values the client did write are left for the schema to judge.
    """
    cls = LIST_ROOTS.get(element.tag)
    if cls is None:
        return
    items = {p.clark for p in plan(cls) if p.many and p.nested is not None}
    count = str(sum(1 for child in element if child.tag in items))
    for name in ("all", "results"):
        if name not in element.attrib:
            element.set(name, count)


# CSIP-AUS extension elements that the CSIP-AUS schema requires but clients in the field leave out (py20305
# 0.16 sends them only when told the profile by hand): absent, they mean "no DOE modes".
DOE_MODES = {f"{{{SEP_NS}}}DERCapability": "doeModesSupported", f"{{{SEP_NS}}}DERSettings": "doeModesEnabled"}


def complete_doe_modes(element: etree._Element) -> None:
    """Gives a DERCapability or DERSettings without its CSIP-AUS DOE modes the value 00 (none); they come last."""
    name = DOE_MODES.get(element.tag)
    if name is not None and element.find(f"{{{CSIPAUS_NS}}}{name}") is None:
        etree.SubElement(element, f"{{{CSIPAUS_NS}}}{name}").text = "00"


def decode(element: etree._Element, expected: tuple[type[T], ...] | type[T]) -> T:
    """Map a schema-valid element onto its dataclass, which must be one of expected."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    cls = ROOTS.get(element.tag)
    if cls not in expected:
        names = " or ".join(c.__name__ for c in expected)
        qname = etree.QName(element)
        got = qname.localname if qname.namespace in (SEP_NS, CSIPAUS_NS) else element.tag
        raise DecodeError(f"expected {names}, got {got}")
    return _read(cls, element)


def decode_bytes(body: bytes, expected: tuple[type[T], ...] | type[T]) -> T:
    """Parse and decode without schema validation: for documents this server wrote."""
    return decode(parse_document(body, max_bytes=len(body) + 1), expected)


# -- plain data (for storage) ------------------------------------------------

def to_data(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of the set fields."""
    data: dict[str, Any] = {}
    for p in plan(type(obj)):  # type: ignore[arg-type]  # mypy counts no class as Hashable (python/mypy#11470)
        value = getattr(obj, p.name)
        if value is None or (p.many and not value):
            continue
        if p.scalar is None:
            value = [to_data(v) for v in value] if p.many else to_data(value)
        data[p.name] = value
    return data


@functools.cache
def _data_fields(cls: type) -> dict[str, tuple[type, bool] | None]:
    """Each field of cls by name: None for a scalar, (dataclass, many) for a nested one."""
    return {p.name: (p.nested, p.many) if p.nested is not None else None for p in plan(cls)}


def from_data(cls: type[T], data: dict[str, Any]) -> T:
    fields = _data_fields(cls)  # type: ignore[arg-type]  # mypy counts no class as Hashable (python/mypy#11470)
    values: dict[str, Any] = {}
    for name, value in data.items():  # stored data holds the few fields set, the plan all of them
        if name not in fields:
            continue
        nested = fields[name]
        if nested is not None:
            value = [from_data(nested[0], v) for v in value] if nested[1] else from_data(nested[0], value)
        values[name] = value
    return cls(**values)
