"""Generate src/der_gateway/sep/model.py from the 2030.5 and CSIP-AUS schemas.

The schemas are IEEE's and are not in this repository (see schemas/2030.5/README.md);
this reads them from wherever der_gateway.xsd finds them.  The output holds only
names, types and ordering, no schema text.  Run it when the set of resources grows:

    python tools/generate_model.py > src/der_gateway/sep/model.py
"""

from __future__ import annotations

import sys

import xmlschema

from der_gateway.xsd import locate_schema_dir

SEP = "urn:ieee:std:2030.5:ns"
CSIPAUS = "https://csipaus.org/ns"

ROOTS = [
    "DeviceCapability", "Time", "EndDeviceList", "EndDevice", "Registration",
    "FunctionSetAssignmentsList", "FunctionSetAssignments", "DERList", "DER",
    "DERCapability", "DERSettings", "DERStatus", "DERAvailability",
    "MirrorUsagePointList", "MirrorUsagePoint", "MirrorMeterReadingList", "MirrorMeterReading",
    "LogEventList", "LogEvent", "DERProgramList", "DERProgram", "DERControlList", "DERControl",
    "DefaultDERControl", "DERCurveList", "DERCurve", "SubscriptionList", "Subscription",
    "Notification", "ResponseSetList", "ResponseSet", "ResponseList", "Response", "DERControlResponse",
    "Error", "UsagePointList", "UsagePoint", "MeterReadingList", "MeterReading", "ReadingType",
    "ReadingSetList", "ReadingSet", "ReadingList", "Reading",
]
AUS_ROOTS = ["ConnectionPoint"]
LINK_TYPES = {"Link", "ListLink"}

INT_PRIMITIVES = {"long", "int", "short", "byte", "integer", "unsignedLong", "unsignedInt",
                  "unsignedShort", "unsignedByte", "nonNegativeInteger"}


def primitive(simple) -> str:
    t = simple
    while t is not None:
        if t.local_name in INT_PRIMITIVES:
            return "int"
        if t.local_name == "boolean":
            return "bool"
        if t.local_name in {"hexBinary", "string", "anyURI"}:
            return "str"
        t = t.base_type
    raise ValueError(f"no primitive for {simple}")


class Generator:
    def __init__(self, schema: xmlschema.XMLSchema) -> None:
        self.schema = schema
        self.emitted: dict[str, str] = {}
        self.order: list[str] = []

    def element_names(self, ctype) -> list:
        if ctype.has_simple_content() or ctype.content is None:
            return []
        return [e.name for e in ctype.content.iter_elements()]

    def base_of(self, ctype):
        base = ctype.base_type
        if base is None or not base.is_complex() or base.name is None:
            return None
        if base.local_name == "anyType":
            return None
        if base.name == ctype.name:  # xs:redefine: same type, extended in place
            return self.base_of(base)
        return base

    def py_type(self, xtype) -> str:
        if xtype.is_simple():
            return primitive(xtype)
        if xtype.has_simple_content():
            return primitive(xtype.content if xtype.content.is_simple() else xtype.base_type)
        return self.class_for(xtype)

    def class_for(self, ctype, name: str | None = None) -> str:
        base = self.base_of(ctype)
        adds_nothing = base is not None and (
            self.element_names(ctype) == self.element_names(base)
            and set(ctype.attributes) == set(base.attributes))
        if name is None and adds_nothing and base.local_name in LINK_TYPES | {"ListLink"}:
            return self.class_for(base)
        if name is None and ctype.local_name in LINK_TYPES:
            name = ctype.local_name
        cls = name or ctype.local_name
        if cls in self.emitted or cls in self.order:
            return cls
        self.order.append(cls)
        base_cls = self.class_for(base) if base is not None else None
        inherited = set(self.element_names(base)) if base is not None else set()
        inherited_attrs = set(base.attributes) if base is not None else set()
        lines = []
        for aname, attr in ctype.attributes.items():
            if aname in inherited_attrs or aname is None:
                continue
            pt = primitive(attr.type)
            if attr.use == "required":
                lines.append(f"    {attr.local_name}: {pt} = attribute()")
            else:
                lines.append(f"    {attr.local_name}: {pt} | None = attribute(None)")
        for el in ctype.content.iter_elements() if not ctype.has_simple_content() else []:
            if el.name in inherited:
                continue
            pt = self.py_type(el.type)
            ns = "" if el.target_namespace == SEP else "csipaus"
            if el.max_occurs != 1:
                default = f"{ns}(many=True)" if ns else "field(default_factory=list)"
                lines.append(f"    {el.local_name}: list[{pt}] = {default}")
            elif el.min_occurs == 0:
                lines.append(f"    {el.local_name}: {pt} | None = {ns + '(None)' if ns else 'None'}")
            else:
                # CSIP-AUS elements stay optional in the model: the plain csip profile lacks them,
                # and the csip-aus schema enforces the ones it requires.
                lines.append(f"    {el.local_name}: {pt} | None = csipaus(None)" if ns else f"    {el.local_name}: {pt}")
        bases = f"({base_cls})" if base_cls else ""
        body = "\n".join(lines) or "    pass"
        self.emitted[cls] = f"@dataclass(kw_only=True)\nclass {cls}{bases}:\n{body}\n"
        return cls

    def render(self) -> str:
        out = []
        done: set[str] = set()

        def emit(cls: str) -> None:
            if cls in done:
                return
            src = self.emitted[cls]
            head = src.splitlines()[1]
            if "(" in head:
                emit(head.split("(")[1].split(")")[0])
            done.add(cls)
            out.append(src)

        for cls in self.order:
            emit(cls)
        return "\n\n".join(out)


def main() -> None:
    schema = xmlschema.XMLSchema(str(locate_schema_dir() / "csipaus-core.xsd"))
    gen = Generator(schema)
    for root in ROOTS:
        gen.class_for(schema.maps.elements[f"{{{SEP}}}{root}"].type, name=root)
    for root in AUS_ROOTS:
        gen.class_for(schema.maps.elements[f"{{{CSIPAUS}}}{root}"].type, name=root)
    sys.stdout.write(HEADER + "\n\n" + gen.render() + FOOTER.format(
        roots=", ".join(ROOTS), aus=", ".join(AUS_ROOTS)))


HEADER = '''"""Typed 2030.5-2018 resources, with the CSIP-AUS v1.2 extensions.

Generated by tools/generate_model.py; edit that, not this.  Field order is the
XSD sequence order (base type first), which is the order the codec writes.
Fields in the CSIP-AUS namespace are marked with csipaus().
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .fields import attribute, csipaus'''

FOOTER = '''

ROOT_ELEMENTS: tuple[type, ...] = ({roots})
CSIPAUS_ROOT_ELEMENTS: tuple[type, ...] = ({aus},)
'''

if __name__ == "__main__":
    main()
