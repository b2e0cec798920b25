"""CSIP conformance, Core Function Set (CORE): what the server must do in each procedure."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

from der_gateway.sep import codec, model
from der_gateway.tls import client_context

from .. import documents
from ..conftest import SepClient
from . import support
from .conftest import PIN, T0
from .support import by_priority, controls, get, get_all, respond, subscribe, walk

REQUEST_END = b"Connection: close\r\n\r\n"


async def raw_request(csip, request: bytes, name: str = "device1") -> tuple[int, bytes]:
    """One request written by hand over mutual TLS: the status code and everything after the status line."""
    ctx = client_context(csip.harness.config.certs_dir, name)
    reader, writer = await asyncio.open_connection(csip.harness.config.host, csip.harness.server.port, ssl=ctx)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


async def resource_tree(csip, identities) -> dict[str, object]:
    """A device with everything a client can make under its EndDevice, and a program assigned to it."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    device = csip.client("device1")
    edev = f"/edev/{edev_id}"
    group = await op.group("feeder 1", edev_id)
    program = await op.program(1, "export limit")
    await op.assign(group, program)
    await op.default_control(program, {"opModMaxLimW": 8000})
    curve = await op.curve(program, 11, [(9200, 3000), (10700, -3000)])
    event = await op.event(program, T0 + 60, 300, {"opModMaxLimW": 5000})
    for kind, document in (("dercap", documents.der_capability()), ("derg", documents.der_settings()),
                           ("ders", documents.der_status()),
                           ("dera", documents.der_availability())):
        assert (await device.put(f"{edev}/der/1/{kind}", codec.encode(document))).status in (201, 204)
    log = (await device.post(f"{edev}/lel", documents.log_event(1, T0))).headers["Location"]
    mup = (await device.post("/mup", documents.mirror_usage_point(me.lfdi))).headers["Location"]
    alone = model.MirrorMeterReading(mRID="00" * 12 + "000D8C5E", Reading=model.Reading(value=4200))
    mr = (await device.post(mup, codec.encode(alone))).headers["Location"]  # the MeterReading, under /upt
    reading_sets = await get(device, f"{mr}/rs", model.ReadingSetList)
    readings = await get(device, f"{reading_sets.ReadingSet[0].href}/r", model.ReadingList)
    return {"device": device, "edev": edev, "group": group, "program": program, "curve": curve,
            "event": event, "log": log, "mup": mup, "upt": mup.replace("/mup/", "/upt/"), "mr": mr,
            "rs": reading_sets.ReadingSet[0].href, "reading": readings.Reading[0].href}


# The 2030.5 WADL's methods for each resource this server serves (HEAD goes with GET); the rest answer 405
ALLOWED = {
    "/dcap": {"GET"}, "/tm": {"GET"}, "/edev": {"GET", "POST"}, "{edev}": {"GET", "PUT", "DELETE"},
    "{edev}/rg": {"GET"}, "{edev}/fsa": {"GET"}, "{edev}/der": {"GET"}, "{edev}/der/1": {"GET"},
    "{edev}/der/1/dercap": {"GET", "PUT"}, "{edev}/der/1/derg": {"GET", "PUT"},
    "{edev}/der/1/ders": {"GET", "PUT"}, "{edev}/der/1/dera": {"GET", "PUT"},
    "{edev}/lel": {"GET", "POST"}, "{log}": {"GET"}, "{edev}/sub": {"GET", "POST"},
    "/fsa/{group}": {"GET"}, "/fsa/{group}/derp": {"GET"}, "/derp/{program}": {"GET"},
    "/derp/{program}/derc": {"GET"}, "/derp/{program}/actderc": {"GET"}, "/derp/{program}/dderc": {"GET"},
    "/derp/{program}/dc": {"GET"}, "{curve}": {"GET"}, "{event}": {"GET"},
    "/mup": {"GET", "POST"}, "{mup}": {"GET", "POST", "DELETE"},
    # the mirror as UsagePoint: read-only (the WADL's PUT, POST and DELETE on these are optional)
    "/upt": {"GET"}, "{upt}": {"GET"}, "{upt}/mr": {"GET"}, "{mr}": {"GET"}, "{mr}/rt": {"GET"}, "{mr}/r": {"GET"},
    "{mr}/rs": {"GET"}, "{rs}": {"GET"}, "{rs}/r": {"GET"}, "{reading}": {"GET"},
    "/rsps": {"GET"}, "/rsps/1": {"GET"}, "/rsps/1/rsp": {"GET", "POST"},
}


def resolve(template: str, tree: dict) -> str:
    event = tree["event"]
    return template.format(edev=tree["edev"], group=tree["group"], program=tree["program"], log=tree["log"],
                           mup=tree["mup"], curve=tree["curve"], event=event["href"], upt=tree["upt"], mr=tree["mr"],
                           rs=tree["rs"], reading=tree["reading"])


async def test_CORE_001_http_request(csip, identities):
    """Every resource reachable from DeviceCapability: its permitted methods work, the others answer 405 (with
    Allow), a request with a bad header answers 400."""
    tree = await resource_tree(csip, identities)
    device = tree["device"]
    dcap = await device.get("/dcap")
    assert dcap.status == 200 and dcap.headers["Content-Type"] == "application/sep+xml"
    assert int(dcap.headers["Content-Length"]) == len(dcap.body) > 0
    for template, allowed in ALLOWED.items():
        path = resolve(template, tree)
        got = await device.get(path)
        assert got.status == 200 and got.element is not None, (path, got.status, got.reason)
        head = await device.request("HEAD", path)
        assert head.status == 200 and head.body == b"", path
        for method in {"GET", "PUT", "POST", "DELETE"} - allowed:
            refused = await device.request(method, path, b"<x/>" if method in ("PUT", "POST") else None)
            assert refused.status == 405, (method, path, refused.status)
            assert set(refused.headers["Allow"].replace(" ", "").split(",")) == allowed | {"HEAD"}, (method, path)
        status, _ = await raw_request(csip, f"GET {path} HTTP/1.1\r\n".encode() + REQUEST_END)  # no Host
        assert status == 400, path


async def test_CORE_001_step_8_unknown_method_is_501(csip):
    """CORE-001 step 8 / CORE-002 step 7: a method the server does not know answers 501 Not Implemented, as the
    first request on a connection or after others on it; a method it knows but a resource does not take is 405."""
    status, _ = await raw_request(csip, b"FOO /dcap HTTP/1.1\r\nHost: server\r\n" + REQUEST_END)
    assert status == 501
    ctx = client_context(csip.harness.config.certs_dir, "device1")
    reader, writer = await asyncio.open_connection(csip.harness.config.host, csip.harness.server.port, ssl=ctx)
    try:
        for request, expected in ((b"GET /dcap", 200), (b"PATCH /dcap", 405), (b"FOO /edev", 501)):
            writer.write(request + b" HTTP/1.1\r\nHost: server\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert int(head.split(b" ", 2)[1]) == expected, (request, head)  # HTTP/1.0 on the 501: aiohttp's
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # then the server closes the connection
    finally:
        writer.close()


async def test_CORE_002_http_response(csip, identities):
    """Created (201 + Location) or updated (204) on POST/PUT; 400 without Host; 404 for an unknown URI; 405 with
    Allow for a method the resource does not take."""
    me = identities["device1"]
    device = csip.client("device1")
    created = await device.post("/edev", documents.end_device(me.lfdi))
    assert created.status == 201 and created.headers["Location"].startswith("/edev/")
    edev = created.headers["Location"]
    status = f"{edev}/der/1/ders"
    document = codec.encode(documents.der_status())
    assert (await device.put(status, document)).status == 204  # the link exists before the first PUT
    assert (await device.put(status, document)).status == 204
    dcap = await get(device, "/dcap", model.DeviceCapability)
    for path in ("/dcap", dcap.EndDeviceListLink.href, edev, f"{edev}/rg", dcap.TimeLink.href):
        code, rest = await raw_request(csip, f"GET {path} HTTP/1.1\r\n".encode() + REQUEST_END)
        assert code == 400, path
        missing = await device.get(path + "/nothing-here")
        assert missing.status == 404, path
        posted = await device.post(path, b"<x/>") if path != dcap.EndDeviceListLink.href else None
        if posted is not None:
            assert posted.status == 405 and "GET" in posted.headers["Allow"], path


async def test_CORE_002_step_2_plain_http_is_redirected_to_tls(make_harness):
    """Errata 31: over a non-TLS link a GET of /dcap answers 301 Moved Permanently with the TLS link in Location,
    which the client follows to DeviceCapability. The plain-HTTP listener is a setting (off by default) and
    serves no resource: every request on it is redirected, with no body."""
    harness = make_harness(http_redirect_port=0)
    await harness.start()
    try:
        host, redirect_port = harness.config.host, harness.server.redirect_port
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            reader, writer = await asyncio.open_connection(host, redirect_port)
            writer.write(f"{method} /dcap?s=0 HTTP/1.1\r\nHost: {host}:{redirect_port}\r\n".encode() + REQUEST_END)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            head, _, body = answer.partition(b"\r\n\r\n")
            status_line, *lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            assert status_line.startswith("HTTP/1.1 301 "), (method, status_line)
            assert headers["Location"] == f"https://{host}:{harness.server.port}/dcap?s=0", method
            assert body == b"" and headers.get("Content-Length", "0") == "0" and "Content-Type" not in headers, method
        location = URL(headers["Location"])
        device = harness.client("device1")
        followed = SepClient(device.session, str(location.origin()), "csip")
        dcap = await get(followed, location.path_qs, model.DeviceCapability)
        assert dcap.href == "/dcap"
    finally:
        await harness.stop()
    assert make_harness().config.http_redirect_port is None
    with pytest.raises(ValueError, match="http_redirect_port"):
        make_harness(port=8443, http_redirect_port=8443)
    with pytest.raises(ValueError, match="http_redirect_port"):
        make_harness(http_redirect_port=8080, trusted_proxies=("127.0.0.1",))


async def test_CORE_003_polling_interaction(csip, identities):
    """The server's per-resource pollRate reaches DeviceCapability, EndDeviceList, FSAList and DERProgramList,
    and the pre-registered device finds its PIN, its grouping, its program and the event in it."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    group, programs = await support.seven_levels(csip, edev_id)
    event = await op.event(programs["SP"], T0 + 120, 60, {"opModMaxLimW": 5000})
    rates = {"dcap": 600, "edev": 300, "fsa": 120, "derp": 60}
    for resource, rate in rates.items():
        await op.ok("PUT", "/rates", {"resource": resource, "pollRate": rate})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert found.dcap.pollRate == 600 and found.end_devices.pollRate == 300
    fsa_list = await get(device, found.edev.FunctionSetAssignmentsListLink.href, model.FunctionSetAssignmentsList)
    assert fsa_list.pollRate == 120
    program_list = await get(device, found.fsas[0].DERProgramListLink.href, model.DERProgramList)
    assert program_list.pollRate == 60 and program_list.all == 7
    best = by_priority(found.all_programs())[0]
    assert best.description == "SP"
    assert list(await controls(device, best)) == [event["mRID"]]


async def test_CORE_004_list_handling(csip, identities):
    """The list query parameters s, l and a on EndDeviceList: defaults, zero, repeats (the first counts),
    unknown ones ignored, and a time after every entry's changedTime giving an empty list."""
    aggregator = csip.client("aggregator")
    for n in range(1, 5):
        reply = await aggregator.post("/edev", documents.end_device(support.lfdi_of(n), changed=T0 - n))
        assert reply.status == 201
    href = (await get(aggregator, "/dcap", model.DeviceCapability)).EndDeviceListLink.href
    every = await get(aggregator, f"{href}?l=1000", model.EndDeviceList)
    assert (every.all, every.results) == (4, 4)
    order = [e.href for e in every.EndDevice]
    now, day = T0 + 60, 24 * 3600
    recent = [e.href for e in every.EndDevice if e.changedTime >= T0 - 2]
    cases = {  # query: (the EndDevices listed, the list's all)
        "s=0": (order[:1], 4),
        "": (order[:1], 4),
        f"a={now}": ([], 0),
        "l=0": ([], 4),
        "l=1000": (order, 4),
        f"s=3&a={now}": ([], 0),
        "s=1&l=1&s=2": (order[1:2], 4),
        "l=0&l=2": ([], 4),
        f"s=1&a={now}&a={now + day}": ([], 0),
        "l=1&b=2": (order[:1], 4),
        f"a={T0 - 2}&l=10": (recent, 2),
    }
    csip.clock.set(now)
    for query, (expected, total) in cases.items():
        listed = await get(aggregator, f"{href}?{query}" if query else href, model.EndDeviceList)
        assert [e.href for e in listed.EndDevice] == expected, query
        assert (listed.all, listed.results) == (total, len(expected)), query


async def test_CORE_005_basic_time(csip, identities):
    """DeviceCapability links Time; Time gives the server's clock, with quality 7 (intentionally uncoordinated)."""
    device = csip.client("device1")
    dcap = await get(device, "/dcap", model.DeviceCapability)
    tm = await get(device, dcap.TimeLink.href, model.Time)
    assert (tm.currentTime, tm.quality) == (T0, 7)
    assert tm.localTime == tm.currentTime + tm.tzOffset + tm.dstOffset
    csip.clock.advance(90)
    assert (await get(device, dcap.TimeLink.href, model.Time)).currentTime == T0 + 90


async def test_CORE_009_advanced_end_device(csip, identities):
    """The pre-registered EndDevice (PIN 111115) takes PUTs of DERCapability, DERSettings, DERStatus and
    DERAvailability under its DERList and returns what was PUT."""
    op, me = csip.operator, identities["device1"]
    await op.end_device(me.lfdi)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    ders = await get_all(device, found.edev.DERListLink.href, model.DERList)
    (der,) = ders.DER
    written = {der.DERCapabilityLink.href: documents.der_capability(),
               der.DERSettingsLink.href: documents.der_settings(),
               der.DERStatusLink.href: documents.der_status(),
               der.DERAvailabilityLink.href: documents.der_availability()}
    for href, document in written.items():
        assert (await device.put(href, codec.encode(document))).status in (201, 204)
        got = await get(device, href, type(document))
        got.href = None
        assert got == document, href


async def test_CORE_010_function_set_assignments(csip, identities):
    """Three EndDevices in the client's EndDeviceList, PIN 111115 on its own, one FSA with the seven programs of
    Figure 1 (SY 10 ... SP 4), every GET 200."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    csip.clock.advance(60)  # the other two are newer
    for n in (1, 2):
        await op.end_device(support.lfdi_of(n), pin=PIN, owner=me.lfdi)
    await support.seven_levels(csip, edev_id)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert found.end_devices.all == 3
    assert {e.changedTime for e in found.end_devices.EndDevice if e.lFDI != me.lfdi} == {T0 + 60}
    assert found.edev.changedTime == T0
    (fsa,) = found.fsas
    assert fsa.DERProgramListLink.all == 7 and fsa.TimeLink.href == "/tm"
    assert sorted((p.primacy, p.description) for p in found.all_programs()) == sorted(
        (primacy, name) for name, primacy in support.FIGURE_1)


async def test_CORE_011_advanced_function_set_assignments(csip, identities):
    """Fifteen FSAs for the client, each with a DERProgramList; the highest-priority FSA (by mRID) leads to the
    programs, and the best program (primacy, then mRID) holds the event."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    programs = {}
    for n in range(15):
        group = await op.group(f"group {n:02}", edev_id)
        programs[n] = await op.program(20 - n, f"program {n:02}")
        await op.assign(group, programs[n])
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert len(found.fsas) == 15 and found.edev.FunctionSetAssignmentsListLink.all == 15
    assert len({f.mRID for f in found.fsas}) == 15
    page = await get(device, f"{found.edev.FunctionSetAssignmentsListLink.href}?s=14&l=5",
                     model.FunctionSetAssignmentsList)
    assert (page.all, page.results) == (15, 1)
    first = sorted(found.fsas, key=lambda f: f.mRID)[0]
    candidates = found.programs[first.href]
    assert len(candidates) == 1
    best = by_priority(found.all_programs())[0]
    assert best.primacy == 6
    event = await op.event(int(best.href.rsplit("/", 1)[1]), T0 + 60, 60, {"opModMaxLimW": 4000})
    assert list(await controls(device, best)) == [event["mRID"]]


CURVE_10 = [(8800 + 100 * i, 4000 - 800 * i) for i in range(10)]


async def test_CORE_012_basic_der_program_control(csip, identities):
    """One program with an immediate and a curve-based mode starting in 3 minutes for 2, a 10-point curve, and a
    DefaultDERControl; the event is Scheduled, then Active at its start, and leaves the lists at its end."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    group = await op.group("feeder", edev_id)
    program = await op.program(10, "program 1")
    await op.assign(group, program)
    await op.default_control(program, {"opModFixedPFInjectW": {"displacement": 100, "excitation": False,
                                                               "multiplier": -2}})
    curve = await op.curve(program, 11, CURVE_10, xMultiplier=-2, yMultiplier=-2)
    event = await op.event(program, T0 + 180, 120, {"opModMaxLimW": 8000, "opModVoltVar": {"href": curve}})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    (derp,) = found.all_programs()
    dderc = await get(device, derp.DefaultDERControlLink.href, model.DefaultDERControl)
    assert dderc.DERControlBase.opModFixedPFInjectW.displacement == 100
    (control,) = (await controls(device, derp)).values()
    assert control.mRID == event["mRID"] and (control.interval.start, control.interval.duration) == (T0 + 180, 120)
    assert control.EventStatus.currentStatus == 0
    curves = await get_all(device, derp.DERCurveListLink.href, model.DERCurveList)
    fetched = await get(device, control.DERControlBase.opModVoltVar.href, model.DERCurve)
    assert fetched == curves.DERCurve[0] and [(p.xvalue, p.yvalue) for p in fetched.CurveData] == CURVE_10
    await csip.at(T0 + 180)
    active = await get(device, control.href, model.DERControl)
    assert (active.EventStatus.currentStatus, active.EventStatus.dateTime) == (1, T0 + 180)
    assert [c.mRID for c in (await get_all(device, derp.ActiveDERControlListLink.href,
                                           model.DERControlList)).DERControl] == [event["mRID"]]
    await csip.at(T0 + 300)
    assert (await get(device, derp.DERControlListLink.href, model.DERControlList)).all == 0
    assert (await get(device, derp.ActiveDERControlListLink.href, model.DERControlList)).all == 0


async def test_CORE_013_advanced_der_program_control(csip, identities):
    """Ten programs with primacy N, each with one opModFixedPFInjectW event starting N minutes on for 30 s;
    each event is active only in its own half minute, and all are over after the tenth."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    group = await op.group("feeder", edev_id)
    events = {}
    for n in range(1, 11):
        program = await op.program(n, f"program {n}")
        await op.assign(group, program)
        if n == 10:
            await op.default_control(program, {"opModFixedPFInjectW": {"displacement": 95, "excitation": True,
                                                                       "multiplier": -2}})
        events[n] = await op.event(program, T0 + 60 * n, 30, {"opModFixedPFInjectW": {
            "displacement": 90 + n, "excitation": False, "multiplier": -2}})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    ordered = by_priority(found.all_programs())
    assert [p.primacy for p in ordered] == list(range(1, 11))
    assert [p.DefaultDERControlLink is not None for p in ordered] == [False] * 9 + [True]
    for n, derp in enumerate(ordered, 1):
        await csip.at(T0 + 60 * n)
        (control,) = (await controls(device, derp)).values()
        assert (control.mRID, control.EventStatus.currentStatus) == (events[n]["mRID"], 1)
        assert control.DERControlBase.opModFixedPFInjectW.displacement == 90 + n
        for other in ordered:
            active = await get(device, other.ActiveDERControlListLink.href, model.DERControlList)
            assert active.all == (1 if other is derp else 0), (n, other.description)
    await csip.at(T0 + 60 * 10 + 30)
    for derp in ordered:
        assert (await get(device, derp.DERControlListLink.href, model.DERControlList)).all == 0


async def test_CORE_014_basic_der_settings(csip, identities):
    """DERCapability and DERSettings PUT by the client come back as PUT; a PUT of an existing one answers 204."""
    op, me = csip.operator, identities["device1"]
    await op.end_device(me.lfdi)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    (der,) = (await get_all(device, found.edev.DERListLink.href, model.DERList)).DER
    capability, settings = documents.der_capability(6000), documents.der_settings(5000)
    settings.setMaxVar = model.ReactivePower(multiplier=0, value=2000)
    settings.setMinPFOverExcited = model.PowerFactor(displacement=90, multiplier=-2)
    for href, document in ((der.DERCapabilityLink.href, capability), (der.DERSettingsLink.href, settings)):
        assert (await device.put(href, codec.encode(document))).status in (201, 204)
        assert (await device.put(href, codec.encode(document))).status == 204
    got_cap = await get(device, der.DERCapabilityLink.href, model.DERCapability)
    got_set = await get(device, der.DERSettingsLink.href, model.DERSettings)
    assert got_cap.type == 4 and got_cap.modesSupported == capability.modesSupported
    assert got_set.setMaxW.value <= got_cap.rtgMaxW.value and got_set.setMaxVA.value <= got_cap.rtgMaxVA.value
    assert got_set.setMaxVar.value <= got_cap.rtgMaxVar.value
    assert got_set.setMinPFOverExcited.displacement >= got_cap.rtgMinPFOverExcited.displacement
    got_cap.href = got_set.href = None
    assert (got_cap, got_set) == (capability, settings)


async def test_CORE_014_first_put_answers_204(csip, identities):
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    device = csip.client("device1")
    reply = await device.put(f"/edev/{edev_id}/der/1/dercap", codec.encode(documents.der_capability()))
    assert reply.status == 204


async def test_CORE_018_basic_subscription(csip, identities, receiver):
    """An empty SubscriptionList on the client's EndDevice; a Subscription to its FSAList is created (201 and
    Location); a change to the FSAs is notified with the list as a GET then returns it."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    await op.group("feeder", edev_id)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert found.edev.SubscriptionListLink.all == 0
    subs = await get(device, found.edev.SubscriptionListLink.href, model.SubscriptionList)
    assert (subs.all, subs.results) == (0, 0)
    fsa_list = await get(device, found.edev.FunctionSetAssignmentsListLink.href, model.FunctionSetAssignmentsList)
    assert fsa_list.subscribable == 1
    location = await subscribe(device, found.edev, fsa_list.href, receiver.uri)
    assert (await get(device, found.edev.href, model.EndDevice)).SubscriptionListLink.all == 1

    await op.group("second feeder", edev_id)
    await csip.settle()
    (note,) = receiver.take()
    assert (note.subscribedResource, note.subscriptionURI, note.status) == (fsa_list.href, location, 0)
    assert isinstance(note.Resource, model.FunctionSetAssignmentsList) and note.Resource.all == 2
    now = await get(device, f"{fsa_list.href}?l=255", model.FunctionSetAssignmentsList)
    assert note.Resource == now


async def test_CORE_019_advanced_subscription(csip, identities, receiver):
    """Subscriptions to the EndDevice itself and to its FSAList; a change to an FSA is notified once, to the FSAList
    subscription (errata seq 42); the server cancels the FSAList subscription with a status 1 Notification."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    group = await op.group("feeder", edev_id)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert found.edev.subscribable == 1 and found.edev.SubscriptionListLink.all == 0
    on_edev = await subscribe(device, found.edev, found.edev.href, receiver.uri)
    fsa_href = found.edev.FunctionSetAssignmentsListLink.href
    on_fsa = await subscribe(device, found.edev, fsa_href, receiver.uri)

    await op.assign(group, await op.program(3, "added"))  # the FSA's DERProgramListLink changes
    await csip.settle()
    (note,) = receiver.take()
    assert (note.subscriptionURI, note.subscribedResource, note.status) == (on_fsa, fsa_href, 0)
    assert note.Resource.FunctionSetAssignments[0].DERProgramListLink.all == 1
    assert note.Resource == await get(device, f"{fsa_href}?l=255", model.FunctionSetAssignmentsList)

    sub_id = int(on_fsa.rsplit("/", 1)[1])
    await op.ok("DELETE", f"/end-devices/{edev_id}/subscriptions/{sub_id}")
    await csip.settle()
    (farewell,) = receiver.take()
    assert (farewell.status, farewell.subscriptionURI, farewell.subscribedResource) == (1, on_fsa, fsa_href)
    assert farewell.Resource is None
    assert (await device.get(on_fsa)).status == 404
    remaining = await get_all(device, found.edev.SubscriptionListLink.href, model.SubscriptionList)
    assert [s.href for s in remaining.Subscription] == [on_edev]


async def three_programs(csip, edev_id: int) -> dict[int, int]:
    """CORE-021/022: programs #1 (primacy 30, lowest priority) to #3 (primacy 10), a DefaultDERControl on #1."""
    op = csip.operator
    group = await op.group("feeder", edev_id)
    programs = {n: await op.program(40 - 10 * n, f"program {n}") for n in (1, 2, 3)}
    for program in programs.values():
        await op.assign(group, program)
    await op.default_control(programs[1], {"opModMaxLimW": 10000})
    return programs


async def test_CORE_021_randomized_events(csip, identities):
    """Events with randomizeStart/randomizeDuration 0, +30 and -30 s are served with them, their curves with 3-4
    points; a randomized event stays listed until its end plus the randomization window."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    programs = await three_programs(csip, edev_id)
    curve2 = await op.curve(programs[2], 12, [(10500, 10000), (11000, 0), (11500, 0)])
    curve3 = await op.curve(programs[3], 11, [(9200, 4000), (9670, 0), (10300, 0), (10700, -4000)])
    made = {
        1: await op.event(programs[1], T0 + 180, 120, {"opModMaxLimW": 6000}, randomizeStart=0, randomizeDuration=0),
        2: await op.event(programs[2], T0 + 360, 60, {"opModVoltWatt": {"href": curve2}}, randomizeStart=30,
                          randomizeDuration=30),
        3: await op.event(programs[3], T0 + 540, 180, {"opModVoltVar": {"href": curve3}}, randomizeStart=-30,
                          randomizeDuration=-30),
    }
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    best = by_priority(found.all_programs())
    assert [p.description for p in best] == ["program 3", "program 2", "program 1"]
    served = {}
    for derp in best:
        served.update(await controls(device, derp))
    expected = {1: (0, 0, 0), 2: (30, 30, 3), 3: (-30, -30, 4)}
    for n, (start, duration, points) in expected.items():
        control = served[made[n]["mRID"]]
        assert (control.randomizeStart, control.randomizeDuration) == (start, duration)
        if points:
            link = control.DERControlBase.opModVoltWatt or control.DERControlBase.opModVoltVar
            assert len((await get(device, link.href, model.DERCurve)).CurveData) == points
    program2 = found.program("program 2")
    await csip.at(T0 + 360 + 60 + 29)  # past its end, inside its +30 s randomization
    assert (await get(device, program2.DERControlListLink.href, model.DERControlList)).all == 1
    await csip.at(T0 + 360 + 60 + 30)
    assert (await get(device, program2.DERControlListLink.href, model.DERControlList)).all == 0


async def test_CORE_022_responses(csip, identities):
    """Each event has replyTo and responseRequired 07; the server takes the client's responses at each state,
    moves currentStatus/dateTime with the schedule, and shows the cancellation (2) it makes."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    programs = await three_programs(csip, edev_id)
    curve2 = await op.curve(programs[2], 11, CURVE_10)
    curve3 = await op.curve(programs[3], 11, CURVE_10)
    made = {1: await op.event(programs[1], T0 + 180, 120, {"opModMaxLimW": 6000}),
            2: await op.event(programs[2], T0 + 360, 60, {"opModVoltVar": {"href": curve2}}),
            3: await op.event(programs[3], T0 + 540, 180, {"opModVoltVar": {"href": curve3}})}
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    served = {}
    for derp in found.all_programs():
        served.update(await controls(device, derp))
    for n, event in made.items():
        control = served[event["mRID"]]
        assert control.replyTo == "/rsps/1/rsp" and control.responseRequired == "07"
        # the plain Response the standard also allows, for one of them
        await respond(device, control, me.lfdi, 1, T0, model.Response if n == 3 else model.DERControlResponse)

    one = served[made[1]["mRID"]]
    await csip.at(T0 + 180)
    assert (await get(device, one.href, model.DERControl)).EventStatus.currentStatus == 1
    await respond(device, one, me.lfdi, 2, T0 + 180)
    await csip.at(T0 + 240)
    await op.cancel(made[1]["id"])
    await csip.settle()
    cancelled = await get(device, one.href, model.DERControl)
    assert (cancelled.EventStatus.currentStatus, cancelled.EventStatus.dateTime) == (2, T0 + 240)
    await respond(device, one, me.lfdi, 6, T0 + 240)

    for n, start, duration in ((2, T0 + 360, 60), (3, T0 + 540, 180)):
        control = served[made[n]["mRID"]]
        await csip.at(start)
        got = await get(device, control.href, model.DERControl)
        assert (got.EventStatus.currentStatus, got.EventStatus.dateTime) == (1, start)
        await respond(device, control, me.lfdi, 2, start)
        await csip.at(start + duration)
        await respond(device, control, me.lfdi, 3, start + duration)

    expected = {1: [1, 2, 6], 2: [1, 2, 3], 3: [1, 2, 3]}
    for n, statuses in expected.items():
        seen = await op.participation(made[n]["id"])
        (item,) = seen["items"]
        assert item["endDeviceLFDI"] == me.lfdi and [r["status"] for r in item["responses"]] == statuses
    listed = await get_all(device, "/rsps/1/rsp", model.ResponseList)
    assert listed.all == 9


async def test_CORE_023_superseding_events(csip, identities):
    """Three overlapping events at the same time in three programs of the topology FSA (beside a non-topology
    FSA); the server serves all three and takes Received, then Superseded (7) or Aborted for another program's
    event (14) for two, and Started/Completed for the one that runs."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    group, programs = await support.seven_levels(csip, edev_id)
    await op.group("non-topology", edev_id)
    await op.default_control(programs["SY"], {"opModMaxLimW": 10000})
    curve = await op.curve(programs["SS"], 11, CURVE_10)
    made = {"SS": await op.event(programs["SS"], T0 + 120, 60, {"opModMaxLimW": 3000,
                                                                "opModVoltVar": {"href": curve}}),
            "SG": await op.event(programs["SG"], T0 + 120, 60, {"opModMaxLimW": 4000}),
            "SP": await op.event(programs["SP"], T0 + 120, 60, {"opModMaxLimW": 5000})}
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert len(found.fsas) == 2 and len(found.all_programs()) == 7
    served = {}
    for derp in found.all_programs():
        served.update(await controls(device, derp))
    assert {served[e["mRID"]].interval.start for e in made.values()} == {T0 + 120}
    runs = served[made["SP"]["mRID"]]
    for event in made.values():
        await respond(device, served[event["mRID"]], me.lfdi, 1, T0)
    await respond(device, served[made["SS"]["mRID"]], me.lfdi, 14, T0 + 1)
    await respond(device, served[made["SG"]["mRID"]], me.lfdi, 7, T0 + 1)
    await csip.at(T0 + 120)
    for event in made.values():  # one per program: the server supersedes nothing across programs
        assert (await get(device, served[event["mRID"]].href, model.DERControl)).EventStatus.currentStatus == 1
    await respond(device, runs, me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 180)
    await respond(device, runs, me.lfdi, 3, T0 + 180)
    latest = {name: (await op.participation(e["id"]))["items"][0]["latestStatus"] for name, e in made.items()}
    assert latest == {"SS": 14, "SG": 7, "SP": 3}
