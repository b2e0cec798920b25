"""A device's whole discovery walk over mutual TLS: dcap -> edev -> rg -> der -> documents, and mup."""

from __future__ import annotations

import time

from der_gateway.sep import codec, model

from . import documents

NS = {"s": "urn:ieee:std:2030.5:ns"}


def decoded(reply, cls):
    return codec.decode(reply.element, cls)


async def test_device_walk(harness, identities):
    me = identities["device1"]
    device = harness.client("device1")

    dcap = decoded(await device.get("/dcap"), model.DeviceCapability)
    assert dcap.EndDeviceListLink.all == 0 and dcap.TimeLink.href == "/tm"
    assert dcap.pollRate == 900

    tm = decoded(await device.get(dcap.TimeLink.href), model.Time)
    assert abs(tm.currentTime - time.time()) < 5
    assert tm.tzOffset == 0 and tm.dstOffset == 0

    posted = await device.post(dcap.EndDeviceListLink.href, documents.end_device(me.lfdi))
    assert posted.status == 201, posted.reason
    edev_href = posted.headers["Location"]
    assert edev_href.startswith("/edev/")

    dcap = decoded(await device.get("/dcap"), model.DeviceCapability)
    assert dcap.EndDeviceListLink.all == 1
    listed = decoded(await device.get("/edev?l=10"), model.EndDeviceList)
    assert (listed.all, listed.results) == (1, 1)
    edev = listed.EndDevice[0]
    assert edev.href == edev_href and edev.lFDI == me.lfdi and edev.sFDI == me.sfdi
    assert edev.changedTime == 1700000000 and edev.enabled is True and edev.postRate == 300

    rg = decoded(await device.get(edev.RegistrationLink.href), model.Registration)
    assert len(str(rg.pIN)) == 6 and sum(map(int, str(rg.pIN))) % 10 == 0
    assert abs(rg.dateTimeRegistered - time.time()) < 5

    fsa = decoded(await device.get(edev.FunctionSetAssignmentsListLink.href), model.FunctionSetAssignmentsList)
    assert (fsa.all, fsa.results) == (0, 0)

    ders = decoded(await device.get(edev.DERListLink.href + "?l=5"), model.DERList)
    assert (ders.all, ders.results) == (1, 1)
    der = ders.DER[0]
    assert der.href == f"{edev_href}/der/1"

    written = {
        der.DERCapabilityLink.href: documents.der_capability(),
        der.DERSettingsLink.href: documents.der_settings(),
        der.DERStatusLink.href: documents.der_status(),
        der.DERAvailabilityLink.href: documents.der_availability(),
    }
    for href, document in written.items():
        assert (await device.get(href)).status == 404
        # the link was there before the first PUT: each PUT replaces, 204 (IEEE 2030.5-2018 5.5.2.4)
        first = await device.put(href, codec.encode(document))
        assert first.status == 204 and first.body == b""
        again = await device.put(href, codec.encode(document))
        assert again.status == 204
        got = decoded(await device.get(href), type(document))
        assert got.href == href
        got.href = None
        assert got == document, f"{href} did not return what was written"

    # a changed document replaces the old one, field for field
    status = documents.der_status()
    status.readingTime, status.inverterStatus.value = 1700000300, 1
    await device.put(der.DERStatusLink.href, codec.encode(status))
    got = decoded(await device.get(der.DERStatusLink.href), model.DERStatus)
    assert got.readingTime == 1700000300 and got.inverterStatus.value == 1


async def test_mirror_usage_point_walk(harness, identities):
    me = identities["device1"]
    device = harness.client("device1")
    created = await device.post("/mup", documents.mirror_usage_point(me.lfdi, readings=2))
    assert created.status == 201, created.reason
    location = created.headers["Location"]

    mup = decoded(await device.get(location), model.MirrorUsagePoint)
    assert mup.deviceLFDI == me.lfdi and mup.postRate == 300 and mup.href == location
    assert [m.Reading.value for m in mup.MirrorMeterReading] == [3000, 3001]
    assert mup.MirrorMeterReading[0].ReadingType.uom == 38

    # the same mRID again is the same MirrorUsagePoint, written over (MUP.006: 204, Location)
    again = await device.post("/mup", documents.mirror_usage_point(me.lfdi, readings=1))
    assert again.status == 204 and again.headers["Location"] == location
    listed = decoded(await device.get("/mup?l=10"), model.MirrorUsagePointList)
    assert (listed.all, listed.results) == (1, 1)

    mrid = mup.MirrorMeterReading[0].mRID
    later = documents.mirror_meter_reading(mrid, 4500, start=1700000300)
    reply = await device.post(location, codec.encode(later))
    assert reply.status == 204 and reply.headers["Location"].startswith("/upt/1/mr/")  # its MeterReading
    batch = model.MirrorMeterReadingList(all=1, results=1, MirrorMeterReading=[
        documents.mirror_meter_reading(mrid, 4600, start=1700000600)])
    reply = await device.post(location, codec.encode(batch))
    assert reply.status == 204 and reply.headers["Location"] == "/upt/1/mr"  # a list: the MeterReadingList

    mup = decoded(await device.get(location), model.MirrorUsagePoint)
    assert mup.MirrorMeterReading[0].Reading.value == 4600
    history = await harness.server.store.readings(int(location.rsplit("/", 1)[1]), mrid)
    assert [r["value"] for r in history] == [3000, 3000, 4500, 4600]

    assert (await device.delete(location)).status == 204
    assert (await device.get(location)).status == 404
    assert (await device.get("/upt/1")).status == 404
    assert decoded(await device.get("/mup"), model.MirrorUsagePointList).all == 0


async def test_a_mirror_is_served_as_a_usage_point(harness, identities):
    """2030.5 Metering Mirror: what a client mirrors the server copies into a UsagePoint (/upt) with a MeterReading
    per MirrorMeterReading, its ReadingType, the Reading posted alone, and a ReadingSet per MirrorReadingSet; a
    set posted again under its mRID replaces that set's Readings (MUP.018), one with a new mRID is added (MUP.019).
    Read-only, and only for the mirror's client."""
    me = identities["device1"]
    device = harness.client("device1")
    mmr = documents.mirror_meter_reading("AB" * 12 + "000D8C5E", 3000, start=1700000000)
    mirror = model.MirrorUsagePoint(mRID="AA" * 12 + "000D8C5E", description="site", roleFlags="49",
                                    serviceCategoryKind=0, status=1, deviceLFDI=me.lfdi, MirrorMeterReading=[mmr])
    mup = (await device.post("/mup", codec.encode(mirror))).headers["Location"]
    dcap = decoded(await device.get("/dcap"), model.DeviceCapability)
    assert (dcap.UsagePointListLink.href, dcap.UsagePointListLink.all) == ("/upt", 1)
    points = decoded(await device.get("/upt?l=10"), model.UsagePointList)
    assert (points.all, points.results, points.pollRate) == (1, 1, 900)
    point = points.UsagePoint[0]
    assert point.href == mup.replace("/mup/", "/upt/")
    assert decoded(await device.get(point.href), model.UsagePoint) == point
    assert (point.mRID, point.description, point.roleFlags, point.serviceCategoryKind, point.status,
            point.deviceLFDI) == (mirror.mRID, "site", "49", 0, 1, me.lfdi)
    meter_readings = decoded(await device.get(point.MeterReadingListLink.href + "?l=10"), model.MeterReadingList)
    assert point.MeterReadingListLink.all == meter_readings.all == 1
    meter_reading = meter_readings.MeterReading[0]
    assert decoded(await device.get(meter_reading.href), model.MeterReading) == meter_reading
    assert (meter_reading.mRID, meter_reading.description) == (mmr.mRID, mmr.description)
    assert meter_reading.ReadingLink is None  # only sets posted so far
    reading_type = decoded(await device.get(meter_reading.ReadingTypeLink.href), model.ReadingType)
    reading_type.href = None
    assert reading_type == mmr.ReadingType

    async def set_values() -> dict[str, list[int]]:
        sets = decoded(await device.get(meter_reading.ReadingSetListLink.href + "?l=10"), model.ReadingSetList)
        found = {}
        for reading_set in sets.ReadingSet:
            assert decoded(await device.get(reading_set.href), model.ReadingSet) == reading_set
            readings = decoded(await device.get(reading_set.ReadingListLink.href + "?l=10"), model.ReadingList)
            assert reading_set.ReadingListLink.all == readings.all
            for reading in readings.Reading:
                assert decoded(await device.get(reading.href), model.Reading) == reading
            found[reading_set.mRID] = [r.value for r in readings.Reading]
        return found

    first_set = mmr.MirrorReadingSet[0].mRID
    assert await set_values() == {first_set: [3000]}
    replaced = documents.mirror_meter_reading(mmr.mRID, 3100, start=1700000000)
    replaced.MirrorReadingSet[0].Reading.append(model.Reading(value=3200, timePeriod=model.DateTimeInterval(
        duration=300, start=1700000300)))
    added = documents.mirror_meter_reading(mmr.mRID, 3300, start=1700000600)
    added.MirrorReadingSet[0].mRID = "CD" * 12 + "000D8C5E"
    added.Reading = model.Reading(value=3400, timePeriod=model.DateTimeInterval(duration=300, start=1700000600))
    for posted in (replaced, added):
        reply = await device.post(mup, codec.encode(posted))
        assert reply.status == 204 and reply.headers["Location"] == meter_reading.href
    sets = decoded(await device.get(meter_reading.ReadingSetListLink.href + "?l=10"), model.ReadingSetList)
    assert [s.mRID for s in sets.ReadingSet] == ["CD" * 12 + "000D8C5E", first_set]  # newest first
    assert await set_values() == {first_set: [3100, 3200], "CD" * 12 + "000D8C5E": [3300]}
    again = decoded(await device.get(meter_reading.href), model.MeterReading)
    latest = decoded(await device.get(again.ReadingLink.href), model.Reading)
    assert (latest.value, latest.timePeriod.start) == (3400, 1700000600)
    history = await harness.server.store.readings(int(mup.rsplit("/", 1)[1]), mmr.mRID)
    assert [r["value"] for r in history] == [3000, 3100, 3200, 3300, 3400]  # the replaced ones kept as history

    # read-only; another client finds nothing
    for href in ("/upt", point.href, point.MeterReadingListLink.href, meter_reading.href,
                 meter_reading.ReadingTypeLink.href, again.ReadingLink.href, meter_reading.ReadingSetListLink.href):
        for method in ("PUT", "POST", "DELETE"):
            refused = await device.request(method, href, b"<x/>" if method != "DELETE" else None)
            assert refused.status == 405 and refused.headers["Allow"].replace(" ", "") == "GET,HEAD", (method, href)
    other = harness.client("device2")
    assert decoded(await other.get("/upt"), model.UsagePointList).all == 0
    for href in (point.href, meter_reading.href, meter_reading.ReadingTypeLink.href, again.ReadingLink.href):
        assert (await other.get(href)).status == 404, href
    assert (await device.get(meter_reading.href.replace("/mr/", "/mr/9"))).status == 404


async def test_log_events_newest_first(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    for event_id, created in [(1, 1700000000), (2, 1700000500), (3, 1700000200)]:
        reply = await device.post(f"{edev}/lel", documents.log_event(event_id, created))
        assert reply.status == 201 and reply.headers["Location"].startswith(f"{edev}/lel/")
    page = decoded(await device.get(f"{edev}/lel?l=2"), model.LogEventList)
    assert (page.all, page.results) == (3, 2)
    assert [e.logEventID for e in page.LogEvent] == [2, 3]
    rest = decoded(await device.get(f"{edev}/lel?s=2&l=2"), model.LogEventList)
    assert [e.logEventID for e in rest.LogEvent] == [1]
    one = decoded(await device.get(rest.LogEvent[0].href), model.LogEvent)
    assert one.details == "comms restored"
    after = decoded(await device.get(f"{edev}/lel?a=1700000200&l=10"), model.LogEventList)
    assert [e.logEventID for e in after.LogEvent] == [2, 3]
    edev_doc = decoded(await device.get(edev), model.EndDevice)
    assert edev_doc.LogEventListLink.all == 3


async def test_list_paging_default_limit_is_one(harness, identities):
    aggregator = harness.client("aggregator")
    for name in ("device1", "device2", "device3"):
        assert (await aggregator.post("/edev", documents.end_device(identities[name].lfdi))).status == 201
    default = decoded(await aggregator.get("/edev"), model.EndDeviceList)
    assert (default.all, default.results) == (3, 1)
    every = decoded(await aggregator.get("/edev?l=100"), model.EndDeviceList)
    sfdis = [e.sFDI for e in every.EndDevice]
    assert sfdis == sorted(sfdis) and len(sfdis) == 3
    pages = [decoded(await aggregator.get(f"/edev?s={s}&l=1"), model.EndDeviceList).EndDevice[0].sFDI
             for s in range(3)]
    assert pages == sfdis
    beyond = decoded(await aggregator.get("/edev?s=5&l=10"), model.EndDeviceList)
    assert (beyond.all, beyond.results) == (3, 0)


async def test_head_and_method_not_allowed(harness):
    device = harness.client("device1")
    head = await device.request("HEAD", "/dcap")
    assert head.status == 200 and head.body == b"" and int(head.headers["Content-Length"]) > 0
    refused = await device.request("DELETE", "/dcap")
    assert refused.status == 405 and set(refused.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
    assert (await device.get("/nowhere")).status == 404


async def test_a_posted_list_may_leave_out_all_and_results(aus_harness, identities):
    """sep.xsd: all and results are "required on a response to a GET, ignored otherwise" (cactus omits them)."""
    me = identities["device1"]
    device = aus_harness.client("device1")
    location = (await device.post("/mup", documents.mirror_usage_point(me.lfdi))).headers["Location"]
    mrid = "00" * 12 + "000D8C5E"
    batch = model.MirrorMeterReadingList(all=0, results=0, MirrorMeterReading=[
        documents.mirror_meter_reading(mrid, 4600, start=1700000600)])
    bare = codec.encode(batch).replace(b' all="0" results="0"', b"")
    assert b"all=" not in bare and b"results=" not in bare
    reply = await device.post(location, bare)
    assert reply.status == 204, reply.reason
    history = await aus_harness.server.store.readings(int(location.rsplit("/", 1)[1]), mrid)
    assert [r["value"] for r in history] == [3000, 4600]

    # what a client did write is still judged, and a refusal changes nothing
    before = aus_harness.snapshot()
    wrong = codec.encode(batch).replace(b' all="0"', b' all="many"')
    refused = await device.post(location, wrong)
    assert refused.status == 400 and "schema-invalid" in refused.reason and "all" in refused.reason
    assert aus_harness.snapshot() == before

    # the server's own answers carry both (the test client checks every answer against the schema)
    listed = await device.get("/mup?l=5")
    assert listed.element.get("all") == "1" and listed.element.get("results") == "1"
