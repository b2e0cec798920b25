"""Every class of bad input gets a clear 4xx with a reason, and leaves the store as it was."""

from __future__ import annotations

import pytest
from lxml import etree

from der_gateway.sep import codec, model

from . import documents

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<LogEvent xmlns="urn:ieee:std:2030.5:ns"><createdDateTime>1</createdDateTime><details>&lol3;</details>
<functionSet>0</functionSet><logEventCode>1</logEventCode><logEventID>1</logEventID><logEventPEN>1</logEventPEN>
<profileID>2</profileID></LogEvent>"""

XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<LogEvent xmlns="urn:ieee:std:2030.5:ns"><createdDateTime>1</createdDateTime><details>&xxe;</details>
<functionSet>0</functionSet><logEventCode>1</logEventCode><logEventID>1</logEventID><logEventPEN>1</logEventPEN>
<profileID>2</profileID></LogEvent>"""

OUT_OF_ORDER = (b'<LogEvent xmlns="urn:ieee:std:2030.5:ns"><functionSet>0</functionSet>'
                b'<createdDateTime>1</createdDateTime><logEventCode>1</logEventCode><logEventID>1</logEventID>'
                b'<logEventPEN>1</logEventPEN><profileID>2</profileID></LogEvent>')

OUT_OF_RANGE = documents.log_event(1, 1700000000).replace(b"<functionSet>0<", b"<functionSet>300<")
UNKNOWN_ELEMENT = documents.log_event(1, 1700000000).replace(b"</LogEvent>", b"<colour>red</colour></LogEvent>")
WRONG_NAMESPACE = documents.log_event(1, 1700000000).replace(b"urn:ieee:std:2030.5:ns", b"urn:example:other")
WRONG_ROOT = codec.encode(model.Registration(dateTimeRegistered=1, pIN=123455))

BAD_BODIES = {
    "malformed": (b"<LogEvent xmlns='urn:ieee:std:2030.5:ns'><createdDateTime>1", "malformed"),
    "not xml": (b"hello", "malformed"),
    "empty": (b"", "empty"),
    "billion laughs": (BILLION_LAUGHS, "not allowed"),
    "xxe": (XXE, "not allowed"),
    "out of order": (OUT_OF_ORDER, "schema-invalid"),
    "out of range": (OUT_OF_RANGE, "schema-invalid"),
    "unknown element": (UNKNOWN_ELEMENT, "schema-invalid"),
    "wrong namespace": (WRONG_NAMESPACE, "schema-invalid"),
    "wrong resource": (WRONG_ROOT, "expected LogEvent"),
}


@pytest.fixture
async def registered(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    await device.post(f"{edev}/lel", documents.log_event(1, 1700000000))
    return device, edev


@pytest.mark.parametrize("case", list(BAD_BODIES))
async def test_bad_bodies(harness, registered, case):
    device, edev = registered
    body, reason = BAD_BODIES[case]
    before = harness.snapshot()
    reply = await device.post(f"{edev}/lel", body)
    assert reply.status == 400
    assert reason in reply.reason and reply.headers["X-Reason"] == reply.reason
    error = codec.decode(reply.element, model.Error)
    assert error.reasonCode in (0, 1)
    assert body_reason(reply) == reply.reason
    assert harness.snapshot() == before


def body_reason(reply) -> str:
    """The reason as a device that logs only the response body reads it: the comment inside Error."""
    [comment] = [node for node in reply.element if isinstance(node, etree._Comment)]
    return comment.text.strip()


async def test_the_reason_is_in_the_body_too(harness, registered):
    device, edev = registered
    reply = await device.get("/edev?l=--5")  # the client has checked the Error against the schema
    assert reply.status == 400 and "'--5'" in reply.reason
    assert reply.body.count(b"--") == 2, reply.body  # "<!--" and "-->" only: the reason cannot end the comment
    assert body_reason(reply) == reply.reason.replace("--", "- -")
    assert codec.decode(reply.element, model.Error).reasonCode == 1
    # the status line and X-Reason are ASCII, with escapes; the body keeps what they cannot carry
    reply = await device.get(f"{edev}/der/1/dérstatus")
    assert reply.status == 404 and "/der/1/d\\xe9rstatus" in reply.headers["X-Reason"]
    assert "/der/1/dérstatus" in body_reason(reply)


@pytest.mark.parametrize("path_suffix, bad", [
    ("/der/1/ders", codec.encode(documents.der_settings())),
    ("/der/1/dercap", codec.encode(documents.der_capability()).replace(b"<type>4</type>", b"<type>x</type>")),
    ("", documents.end_device("00" * 20)),
])
async def test_bad_puts(harness, registered, path_suffix, bad):
    device, edev = registered
    before = harness.snapshot()
    reply = await device.put(edev + path_suffix, bad)
    assert 400 <= reply.status < 500 and reply.reason
    assert harness.snapshot() == before


async def test_oversized_body(harness, registered):
    device, edev = registered
    big = documents.log_event(2, 1700000000).replace(b"comms restored", b"x" * (harness.config.max_body_bytes + 1))
    before = harness.snapshot()
    reply = await device.post(f"{edev}/lel", big)
    assert reply.status == 413 and "limit" in reply.reason
    assert harness.snapshot() == before


async def test_oversized_chunked_body(harness, registered):
    device, edev = registered

    async def chunks():
        yield documents.log_event(2, 1700000000)[:50]
        for _ in range(100):
            yield b"x" * 1024

    before = harness.snapshot()
    async with device.session.post(device.base_url + f"{edev}/lel", data=chunks(),
                                   headers={"Content-Type": "application/sep+xml"}) as resp:
        assert resp.status == 413
    assert harness.snapshot() == before


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain", "application/json", ""])
async def test_wrong_content_type(harness, registered, content_type):
    device, edev = registered
    before = harness.snapshot()
    reply = await device.post(f"{edev}/lel", documents.log_event(2, 1700000000), content_type=content_type)
    assert reply.status == 415 and "application/sep+xml" in reply.reason
    assert harness.snapshot() == before


async def test_media_type_parameters_are_tolerated(harness, registered):
    device, edev = registered
    reply = await device.post(f"{edev}/lel", documents.log_event(2, 1700000000),
                              content_type="application/sep+xml; level=-S1")
    assert reply.status == 201


@pytest.mark.parametrize("query", ["s=-1", "l=abc", "a=1.5", "s=99999999999999999999", "l=", "s=%00"])
async def test_bad_query_parameters(harness, registered, query):
    device, edev = registered
    for path in ("/edev", f"{edev}/lel", f"{edev}/der", "/mup"):
        reply = await device.get(f"{path}?{query}")
        assert reply.status == 400 and "query parameter" in reply.reason, (path, query)


@pytest.mark.parametrize("path", ["/edev/abc", "/edev/1x/der", "/edev/1/der/zz", "/edev/1/der/1/foo",
                                  "/mup/-1", "/edev/99999999999999999999999"])
async def test_bad_paths_are_404(harness, registered, path):
    device, _ = registered
    assert (await device.get(path)).status == 404
