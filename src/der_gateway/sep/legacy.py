"""Request bodies written to earlier editions, mapped onto IEEE 2030.5-2018 and CSIP-AUS v1.2.

Clients in the field still send bodies of two older shapes:

- IEEE 2030.5-2013 (its schema's namespace is ``http://ieee.org/2030.5``; EPRI's client writes
  it).  Between 2013 and 2018 the namespace changed and a few elements of the resources clients
  write were renamed: EndDevice's loadShedDeviceCategory became deviceCategory, DERCapability's
  ratings took the rtgMax* names, and the power-factor limits of DERCapability and DERSettings
  became the over- and under-excited ones, the under-excited one now a positive displacement.
  Everything else a client sends (DERStatus, DERAvailability, Response, MirrorUsagePoint and
  its readings, Subscription, LogEvent) kept its shape.
- CSIP-AUS v1.1, whose ConnectionPoint carried the NMI in ``id``; v1.2 calls it
  ``connectionPointId``.

``upgrade`` rewrites such a body into the current shape before schema validation, which then
judges the result like any other body.  Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lxml import etree

from . import model
from .fields import CSIPAUS_NS, SEP_NS

SEP_2013_NS = "http://ieee.org/2030.5"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI_NS}}}type"

EDITION_2013 = f"IEEE 2030.5-2013 (namespace {SEP_2013_NS})"
EDITION_CSIPAUS_11 = "CSIP-AUS v1.1 (ConnectionPoint id)"

# 2013 name -> 2018 name, by the element holding them
RENAMED_2013: dict[str, dict[str, str]] = {
    "EndDevice": {"loadShedDeviceCategory": "deviceCategory"},
    "DERCapability": {
        "rtgA": "rtgMaxA", "rtgAh": "rtgMaxAh", "rtgVA": "rtgMaxVA", "rtgVar": "rtgMaxVar",
        "rtgVarNeg": "rtgMaxVarNeg", "rtgW": "rtgMaxW", "rtgWh": "rtgMaxWh",
        "rtgMinPF": "rtgMinPFOverExcited", "rtgMinPFNeg": "rtgMinPFUnderExcited",
    },
    "DERSettings": {"setMinPF": "setMinPFOverExcited", "setMinPFNeg": "setMinPFUnderExcited"},
}
# 2013 wrote these power factors as a negative displacement (Int16); 2018 as a positive one (UInt16)
NEGATIVE_DISPLACEMENT_2013 = frozenset({"rtgMinPFNeg", "setMinPFNeg"})


@dataclass(frozen=True)
class Upgraded:
    element: etree._Element
    edition: str | None  # the older edition the body was written to; None: already current


def upgrade(element: etree._Element) -> Upgraded:
    """The body in the current editions' terms (a new tree when anything changed)."""
    if any(etree.QName(e).namespace == SEP_2013_NS for e in element.iter(etree.Element)):
        return Upgraded(_from_2013(element), EDITION_2013)
    if element.tag == f"{{{CSIPAUS_NS}}}ConnectionPoint" and _connection_point_v11(element):
        return Upgraded(element, EDITION_CSIPAUS_11)
    return Upgraded(element, None)


# -- IEEE 2030.5-2013 ------------------------------------------------------------------

def _from_2013(element: etree._Element) -> etree._Element:
    # lxml-stubs refuse None, lxml's key for the default namespace
    root = etree.Element(_current_tag(element, None),
                         nsmap={None: SEP_NS, "csipaus": CSIPAUS_NS, "xsi": XSI_NS})  # type: ignore[dict-item]
    root.sourceline = element.sourceline
    _copy_2013(element, root)
    return root


def _current_tag(element: etree._Element, parent: etree._Element | None) -> str:
    qname = etree.QName(element)
    if qname.namespace != SEP_2013_NS:
        return element.tag
    name = qname.localname
    if parent is not None:
        name = RENAMED_2013.get(etree.QName(parent).localname, {}).get(name, name)
    return f"{{{SEP_NS}}}{name}"


def _copy_2013(source: etree._Element, target: etree._Element) -> None:
    for key, value in source.attrib.items():
        # lxml-stubs type attribute values str | bytes; lxml gives str
        target.set(key, _current_xsi_type(source, value) if key == XSI_TYPE else value)  # type: ignore[arg-type]
    target.text = source.text
    for child in source:
        copied = etree.SubElement(target, _current_tag(child, source))
        copied.sourceline = child.sourceline  # for the line numbers in schema errors
        _copy_2013(child, copied)
        copied.tail = child.tail
        if etree.QName(child).localname in NEGATIVE_DISPLACEMENT_2013:
            _make_displacement_positive(copied)
    if etree.QName(source).localname in RENAMED_2013:
        _put_in_schema_order(target)


def _current_xsi_type(element: etree._Element, value: str) -> str:
    """An xsi:type naming a 2013 type, written for the rebuilt tree (2018 as its default namespace)."""
    prefix, _, local = value.rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    if namespace in (SEP_2013_NS, SEP_NS):
        return local
    if namespace == CSIPAUS_NS:
        return f"csipaus:{local}"
    return value


def _make_displacement_positive(power_factor: etree._Element) -> None:
    for child in power_factor:
        if etree.QName(child).localname == "displacement":
            text = (child.text or "").strip()
            if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
                child.text = text[1:]


def _put_in_schema_order(element: etree._Element) -> None:
    """Renaming moves elements in the alphabetical XSD sequence: sort them into the 2018 order."""
    cls = getattr(model, etree.QName(element).localname, None)
    if not isinstance(cls, type):
        return
    order = {f"{{{f.metadata.get('ns', SEP_NS)}}}{f.name}": i for i, f in enumerate(dataclasses.fields(cls))
             if f.metadata.get("xml") != "attribute"}
    children = list(element)
    children.sort(key=lambda child: order.get(child.tag, len(order)))  # stable: unknown ones keep their places last
    for child in children:
        element.append(child)


# -- CSIP-AUS v1.1 -----------------------------------------------------------------------

def _connection_point_v11(element: etree._Element) -> bool:
    """ConnectionPoint's id renamed to connectionPointId, in place; whether there was one."""
    current = f"{{{CSIPAUS_NS}}}connectionPointId"
    ids = [child for child in element if etree.QName(child).localname == "id"]
    if not ids:
        return False
    has_current = any(child.tag == current for child in element)
    for child in ids:
        if not has_current:
            child.tag = current
            has_current = True
        elif all(c.text == child.text for c in element if c.tag == current):
            element.remove(child)  # the same NMI under both names
    return True
