"""sep.codec: schema-valid encoding, faithful decoding, and a hardened parser."""

from __future__ import annotations

import dataclasses
import time

import pytest
from lxml import etree

from . import samples
from der_gateway import xsd
from der_gateway.sep import codec, model as m
from der_gateway.sep.codec import DecodeError, decode, encode, from_data, parse_document, to_data
from der_gateway.sep.fields import CSIPAUS_NS, SEP_NS

def _cases(kind: str) -> list:
    cases = []
    for profile in samples.PROFILES:
        for cls in samples.classes(profile):
            cases.append(pytest.param(cls, profile, id=f"{profile}-{cls.__name__}"))
    return cases


@pytest.fixture(scope="session")
def schemas() -> dict[str, xsd.SchemaSet]:
    return {profile: xsd.load_schemas(profile) for profile in samples.PROFILES}


def _valid(schemas, profile: str, body: bytes) -> etree._Element:
    element = parse_document(body)
    errors = schemas[profile].errors(element)
    assert errors == [], f"{profile} schema errors:\n" + "\n".join(errors) + "\n" + body.decode()
    return element


# -- samples -------------------------------------------------------------------------

def test_every_root_class_has_a_sample():
    roots = set(m.ROOT_ELEMENTS) | set(m.CSIPAUS_ROOT_ELEMENTS)
    missing = sorted(c.__name__ for c in roots - set(samples.BUILDERS))
    assert missing == [], f"add a builder to tests/samples.py for: {missing}"
    for profile in samples.PROFILES:
        for cls in samples.classes(profile):
            assert type(samples.sample(cls, profile)) is cls


def test_csipaus_roots_exist_only_under_csipaus():
    with pytest.raises(ValueError):
        samples.sample(m.ConnectionPoint, "csip")
    assert m.ConnectionPoint in samples.classes("csip-aus")


def test_list_samples_hold_two_or_more_items():
    for cls in samples.classes("csip-aus"):
        obj = samples.sample(cls, "csip-aus")
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if isinstance(value, list):
                assert len(value) >= 2, f"{cls.__name__}.{f.name}"


def test_samples_are_fresh_objects():
    a, b = samples.sample(m.EndDeviceList), samples.sample(m.EndDeviceList)
    assert a == b and a is not b and a.EndDevice is not b.EndDevice


# -- round trips ---------------------------------------------------------------------

@pytest.mark.parametrize(("cls", "profile"), _cases("encode"))
def test_encoding_is_schema_valid(schemas, cls, profile):
    body = encode(samples.sample(cls, profile))
    element = _valid(schemas, profile, body)
    assert etree.QName(element).localname == cls.__name__
    if profile == "csip":
        assert CSIPAUS_NS.encode() not in body


@pytest.mark.parametrize(("cls", "profile"), _cases("xml"))
def test_xml_round_trip(schemas, cls, profile):
    original = samples.sample(cls, profile)
    element = _valid(schemas, profile, encode(original))
    decoded = decode(element, cls)
    assert type(decoded) is cls
    assert decoded == original
    assert encode(decoded) == encode(original)


@pytest.mark.parametrize(("cls", "profile"), _cases("data"))
def test_data_round_trip(cls, profile):
    original = samples.sample(cls, profile)
    data = to_data(original)
    assert from_data(cls, data) == original
    assert data == to_data(from_data(cls, data))


def test_decode_bytes_reads_what_encode_wrote():
    original = samples.sample(m.DERControl, "csip-aus")
    assert codec.decode_bytes(encode(original), m.DERControl) == original


@pytest.mark.parametrize("cls", sorted(samples.CSIPAUS_EXTENDED, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_csipaus_samples_are_invalid_under_plain_2030_5(schemas, cls):
    body = encode(samples.sample(cls, "csip-aus"))
    assert CSIPAUS_NS.encode() in body
    element = parse_document(body)
    assert schemas["csip-aus"].errors(element) == []
    errors = schemas["csip"].errors(element)
    assert errors, f"{cls.__name__} with CSIP-AUS fields passed the plain 2030.5 schema"


def test_csipaus_fields_are_in_the_csipaus_namespace():
    element = parse_document(encode(samples.sample(m.EndDevice, "csip-aus")))
    assert element[-1].tag == f"{{{CSIPAUS_NS}}}ConnectionPointLink"
    assert element[-1].get("href") == "/edev/3/cp"
    element = parse_document(encode(samples.sample(m.DERControl, "csip-aus")))
    base = element.find(f"{{{SEP_NS}}}DERControlBase")
    assert [etree.QName(c).namespace for c in base][-4:] == [CSIPAUS_NS] * 4
    assert base.find(f"{{{CSIPAUS_NS}}}opModExpLimW/{{{SEP_NS}}}value").text == "5000"
    element = parse_document(encode(samples.sample(m.ConnectionPoint, "csip-aus")))
    assert element.tag == f"{{{CSIPAUS_NS}}}ConnectionPoint"
    assert element[0].tag == f"{{{CSIPAUS_NS}}}connectionPointId"


# -- element order and attributes ------------------------------------------------------

def test_links_come_before_mrid_and_attributes_are_attributes():
    fsa = m.FunctionSetAssignments(
        href="/edev/3/fsa/1",
        subscribable=0,
        DERProgramListLink=m.ListLink(href="/edev/3/fsa/1/derp", all=2),
        TimeLink=m.Link(href="/tm"),
        mRID="10000000000000000000000000000A01",
        description="zone",
        version=4,
    )
    body = encode(fsa)
    positions = [body.index(tag) for tag in
                 (b"<DERProgramListLink", b"<TimeLink", b"<mRID>", b"<description>", b"<version>")]
    assert positions == sorted(positions), body
    element = parse_document(body)
    assert dict(element.attrib) == {"href": "/edev/3/fsa/1", "subscribable": "0"}
    assert element[0].attrib == {"href": "/edev/3/fsa/1/derp", "all": "2"}
    for name in (b"href", b"all", b"subscribable"):
        assert b"<" + name not in body


def test_list_attributes_are_attributes():
    body = encode(samples.sample(m.FunctionSetAssignmentsList))
    element = parse_document(body)
    assert dict(element.attrib) == {
        "href": "/edev/3/fsa", "subscribable": "1", "all": "2", "results": "2", "pollRate": "900"}
    for name in (b"href", b"all", b"results", b"pollRate", b"subscribable"):
        assert b"<" + name not in body
    assert [etree.QName(c).localname for c in element] == ["FunctionSetAssignments"] * 2


@pytest.mark.parametrize(("cls", "profile"), _cases("encode"))
def test_children_are_written_in_field_order(cls, profile):
    """Field order is XSD order; every nested element follows it too."""
    def check(obj, element):
        plans = codec.plan(type(obj))
        index = {p.clark: i for i, p in enumerate(plans)}
        seen = [index[child.tag] for child in element]
        assert seen == sorted(seen), f"{type(obj).__name__}: {[c.tag for c in element]}"
        by_name = {p.clark: p for p in plans}
        counts: dict[str, int] = {}
        for child in element:
            p = by_name[child.tag]
            if p.nested is not None:
                value = getattr(obj, p.name)
                if p.many:
                    value = value[counts.setdefault(p.name, 0)]
                    counts[p.name] += 1
                check(value, child)

    obj = samples.sample(cls, profile)
    check(obj, parse_document(encode(obj)))


# -- escaping and text fidelity -----------------------------------------------------------

def test_markup_characters_survive_and_stay_valid(schemas):
    fsa = samples.sample(m.FunctionSetAssignments)
    fsa.description = '<&>"\' ]]> &amp;'
    fsa.href = '/fsa?a=1&b="2"<x>'
    body = encode(fsa)
    assert b"<&>" not in body
    element = _valid(schemas, "csip", body)
    decoded = decode(element, m.FunctionSetAssignments)
    assert decoded.description == fsa.description
    assert decoded.href == fsa.href
    assert decoded == fsa


def test_non_ascii_text_survives(schemas):
    fsa = samples.sample(m.FunctionSetAssignments)
    fsa.description = "Zählpunkt – µGrid ☀"
    element = _valid(schemas, "csip", encode(fsa))
    assert decode(element, m.FunctionSetAssignments).description == fsa.description


def test_string_whitespace_is_preserved():
    fsa = samples.sample(m.FunctionSetAssignments)
    fsa.description = "  padded  "
    assert decode(parse_document(encode(fsa)), m.FunctionSetAssignments).description == "  padded  "


def test_booleans_and_negative_numbers_round_trip():
    control = samples.sample(m.DERControl, "csip-aus")
    control.DERControlBase.opModConnect = False
    control.randomizeStart = -300
    decoded = decode(parse_document(encode(control)), m.DERControl)
    assert decoded.DERControlBase.opModConnect is False
    assert decoded.randomizeStart == -300
    assert decoded.EventStatus.potentiallySuperseded is False
    assert b"<opModConnect>false</opModConnect>" in encode(control)


# -- decode checks -----------------------------------------------------------------------

def test_decode_with_the_wrong_class_names_both():
    element = parse_document(encode(samples.sample(m.Time)))
    with pytest.raises(DecodeError) as info:
        decode(element, m.EndDevice)
    assert "EndDevice" in str(info.value) and "Time" in str(info.value)
    with pytest.raises(DecodeError) as info:
        decode(element, (m.DERSettings, m.DERStatus))
    message = str(info.value)
    assert "DERSettings" in message and "DERStatus" in message and "Time" in message


def test_decode_accepts_one_of_several_classes():
    element = parse_document(encode(samples.sample(m.DERStatus)))
    assert decode(element, (m.DERSettings, m.DERStatus)) == samples.sample(m.DERStatus)


def test_decode_rejects_an_unknown_root():
    element = parse_document(b'<Nonsense xmlns="urn:ieee:std:2030.5:ns"/>')
    with pytest.raises(DecodeError, match="expected Time, got Nonsense"):
        decode(element, m.Time)


def test_decode_rejects_a_root_in_the_wrong_namespace():
    element = parse_document(b"<Time><currentTime>1</currentTime></Time>")
    with pytest.raises(DecodeError, match="expected Time"):
        decode(element, m.Time)


def test_decode_rejects_unexpected_and_missing_children():
    body = encode(samples.sample(m.Registration)).replace(b"<pIN>", b"<bogus>1</bogus><pIN>")
    with pytest.raises(DecodeError, match="unexpected element .*bogus.* in Registration"):
        decode(parse_document(body), m.Registration)
    body = b'<Registration xmlns="urn:ieee:std:2030.5:ns"><pIN>111115</pIN></Registration>'
    with pytest.raises(DecodeError, match="incomplete Registration.*dateTimeRegistered"):
        decode(parse_document(body), m.Registration)


# -- hostile and malformed input ---------------------------------------------------------

TIME_BODY = b'<Time xmlns="urn:ieee:std:2030.5:ns"><currentTime>1</currentTime></Time>'

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<EndDevice xmlns="urn:ieee:std:2030.5:ns"><deviceCategory>&lol9;</deviceCategory></EndDevice>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Time [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Time xmlns="urn:ieee:std:2030.5:ns"><currentTime>&xxe;</currentTime></Time>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Time SYSTEM "http://127.0.0.1:9/x.dtd">
<Time xmlns="urn:ieee:std:2030.5:ns"><currentTime>1</currentTime></Time>"""

PLAIN_DOCTYPE = b"""<?xml version="1.0"?>
<!DOCTYPE Time>
<Time xmlns="urn:ieee:std:2030.5:ns"><currentTime>1</currentTime></Time>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Time [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<Time xmlns="urn:ieee:std:2030.5:ns"/>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, EXTERNAL_DTD, PLAIN_DOCTYPE, PARAMETER_ENTITY],
                         ids=["billion-laughs", "xxe-file", "external-dtd", "plain-doctype", "parameter-entity"])
def test_dtds_are_refused_before_parsing(body):
    started = time.monotonic()
    with pytest.raises(DecodeError, match="DTDs and entity declarations are not allowed") as info:
        parse_document(body)
    assert time.monotonic() - started < 1
    message = str(info.value)
    assert "lol" not in message and "root:" not in message


def test_an_entity_declaration_without_doctype_is_refused():
    with pytest.raises(DecodeError, match="not allowed"):
        parse_document(b'<!ENTITY x "y"><Time xmlns="urn:ieee:std:2030.5:ns"/>')


def _utf16(body: bytes) -> bytes:
    return body.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe-file"])
def test_utf16_dtds_are_never_expanded(body):
    """Whatever parse_document does with a UTF-16 DTD, no entity gets expanded."""
    try:
        element = parse_document(_utf16(body))
    except DecodeError:
        return
    text = etree.tostring(element)
    assert b"lollol" not in text and b"root:" not in text
    assert len(text) < 1000


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, PLAIN_DOCTYPE],
                         ids=["billion-laughs", "xxe-file", "plain-doctype"])
def test_utf16_dtds_are_refused(body):
    """The byte scan misses UTF-16; libxml2's amplification limit or the doctype check still refuse it."""
    with pytest.raises(DecodeError, match="not allowed|entity amplification"):
        parse_document(_utf16(body))


def test_utf16_documents_without_dtd_parse(schemas):
    body = encode(samples.sample(m.Time)).decode()
    element = parse_document(('<?xml version="1.0" encoding="UTF-16"?>' + body).encode("utf-16"))
    assert schemas["csip"].errors(element) == []
    assert decode(element, m.Time) == samples.sample(m.Time)


def test_utf16_declaration_on_utf8_bytes_is_malformed():
    body = b'<?xml version="1.0" encoding="UTF-16"?>' + TIME_BODY
    with pytest.raises(DecodeError, match="malformed XML"):
        parse_document(body)


def test_comments_and_processing_instructions_are_dropped(schemas):
    body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet href="http://127.0.0.1:9/x.xsl"?>'
            b"<!-- before -->" + encode(samples.sample(m.Registration)).replace(
                b"<pIN>", b"<!-- inside --><?pi data?><pIN>") + b"<!-- after --><?tail?>")
    element = parse_document(body)
    nodes = list(element.iter())
    assert all(isinstance(n.tag, str) for n in nodes), nodes
    assert element.getprevious() is None and element.getnext() is None
    assert b"inside" not in etree.tostring(element.getroottree())
    assert schemas["csip"].errors(element) == []
    assert decode(element, m.Registration) == samples.sample(m.Registration)


@pytest.mark.parametrize(("body", "message"), [
    (TIME_BODY[:-10], "malformed XML"),  # truncated
    (b"<Time xmlns='urn:ieee:std:2030.5:ns'><currentTime>1</Time>", "malformed XML"),  # mismatched tags
    (b"<Time><a></b></Time>", "malformed XML"),
    (b"<Time a='1' a='2'/>", "malformed XML"),  # duplicate attribute
    (b"<Time>&undefined;</Time>", "malformed XML"),  # undeclared entity
    (b"<Time/><Time/>", "malformed XML"),  # two roots
    (b"<Time>\x00</Time>", "malformed XML"),
    (b"\xff\xfe\xfa garbage", "malformed XML"),
    (b"hello world", "malformed XML"),
    (b'{"href": "/tm", "currentTime": 1}', "malformed XML"),
    (b"", "empty"),
    (b"   \r\n\t ", "empty"),
], ids=["truncated", "mismatched", "crossed", "duplicate-attr", "undeclared-entity", "two-roots",
        "nul", "binary", "text", "json", "empty", "whitespace"])
def test_malformed_input(body, message):
    with pytest.raises(DecodeError, match=message):
        parse_document(body)


def test_size_limit_is_exact():
    body = encode(samples.sample(m.Time))
    assert parse_document(body, max_bytes=len(body)) is not None
    over = body + b" "
    with pytest.raises(DecodeError) as info:
        parse_document(over, max_bytes=len(body))
    assert str(info.value) == f"document is {len(body) + 1} bytes; the limit is {len(body)}"


def test_default_size_limit():
    body = encode(samples.sample(m.Time))
    padded = body + b" " * (codec.MAX_DOCUMENT_BYTES - len(body))
    assert parse_document(padded) is not None
    with pytest.raises(DecodeError, match="limit is 65536"):
        parse_document(padded + b" ")


def test_deep_nesting_within_the_size_limit_is_refused():
    depth = 10_000
    body = b"<a>" * depth + b"</a>" * depth
    # 70,000 bytes: the default limit refuses it before parsing ...
    with pytest.raises(DecodeError, match="limit"):
        parse_document(body)
    # ... and with the limit raised, libxml2's depth limit (no huge_tree) does.
    with pytest.raises(DecodeError, match="malformed XML: Excessive depth"):
        parse_document(body, max_bytes=len(body))


def test_moderate_nesting_parses_but_is_neither_valid_nor_decodable(schemas):
    depth = 200
    body = (b'<Time xmlns="urn:ieee:std:2030.5:ns"><currentTime>' + b"<a>" * depth + b"</a>" * depth
            + b"</currentTime></Time>")
    element = parse_document(body)
    assert any("currentTime" in e for e in schemas["csip"].errors(element))
    # decode() is only for schema-valid elements; on this one it fails with a
    # plain ValueError (int("")), not a DecodeError, but it does fail.
    with pytest.raises(ValueError):
        decode(element, m.Time)


# -- namespace declarations and comments --------------------------------------------------------

@pytest.mark.parametrize("cls, profile", _cases("roots"))
def test_declaring_csipaus_on_every_root_stays_valid(schemas, cls, profile):
    element = _valid(schemas, profile, encode(samples.sample(cls, profile), csipaus=True))
    assert element.nsmap.get("csipaus") == CSIPAUS_NS and element.nsmap[None] == SEP_NS
    assert decode(element, cls) == samples.sample(cls, profile)


def test_csipaus_is_declared_only_when_used_or_asked():
    plain = encode(m.Time(currentTime=1, dstEndTime=0, dstOffset=0, dstStartTime=0, quality=4, tzOffset=0))
    assert b"csipaus" not in plain
    assert parse_document(encode(m.Error(reasonCode=1), csipaus=True)).nsmap["csipaus"] == CSIPAUS_NS


@pytest.mark.parametrize("reason, written", [
    ("plain", "plain"), ("a--b", "a- -b"), ("---", "- - -"), ("ends-", "ends-"), ("-", "-"),
    ("--> sneaky <!--", "- -> sneaky <!- -"), ("ctl\x00\x07 é\U0001F600", "ctl\ufffd\ufffd é\U0001F600"),
])
def test_a_comment_carries_any_reason_and_stays_valid(schemas, reason, written):
    element = etree.fromstring(encode(m.Error(reasonCode=1), comment=reason))  # keeping comments
    assert schemas["csip"].errors(element) == []
    comment = element[0]  # first inside the root, before reasonCode
    assert isinstance(comment, etree._Comment) and comment.text == f" {written} "
    assert decode(element, m.Error) == m.Error(reasonCode=1)


def test_a_comment_in_an_empty_root(schemas):
    element = etree.fromstring(encode(m.DERList(all=0, results=0), comment="nothing here"))
    assert schemas["csip"].errors(element) == []
    assert isinstance(element[0], etree._Comment) and element[0].text == " nothing here "


# -- encoding in steps ---------------------------------------------------------------

@pytest.mark.parametrize("cls, profile", [c for c in _cases("steps") if c.values[0].__name__.endswith("List")])
def test_a_long_list_written_in_steps_is_the_same_document(cls, profile, schemas):
    """encode_steps pauses between batches of items; what it writes is encode()'s document, byte for byte,
    for every list type of both profiles, whether or not the items use the CSIP-AUS namespace."""
    one = samples.sample(cls, profile)
    items_field = dataclasses.fields(cls)[-1].name
    long = dataclasses.replace(one, **{items_field: getattr(one, items_field) * 7})
    assert len(getattr(long, items_field)) >= 7
    csipaus = profile == "csip-aus"
    steps = codec.encode_steps(long, csipaus=csipaus, batch=3)
    pauses = 0
    while True:
        try:
            next(steps)
            pauses += 1
        except StopIteration as done:
            body = done.value
            break
    assert pauses == -(-len(getattr(long, items_field)) // 3)
    assert body == encode(long, csipaus=csipaus)
    _valid(schemas, profile, body)


def test_a_short_list_is_written_in_one_step():
    listing = m.EndDeviceList(href="/edev", all=1, results=1, EndDevice=[m.EndDevice(href="/edev/1", sFDI=1, changedTime=0)])
    steps = codec.encode_steps(listing, batch=25)
    with pytest.raises(StopIteration) as done:
        next(steps)
    assert done.value.value == encode(listing)
