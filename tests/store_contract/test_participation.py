"""Event participation in the store, on every backend: a program's devices with their documents, service
point, last contact and event statuses; telemetry history; and the scores kept per program and device."""

from __future__ import annotations

from der_gateway.store.participation_records import DeviceScoreRecord

from .utility_world import NOW, build, enrolled

W = {"uom": 38, "powerOfTenMultiplier": 0, "kind": 37, "commodity": 1}


def score_record(program: int, end_device_id: int, lfdi: str, value: float,
                 available: bool = True) -> DeviceScoreRecord:
    return DeviceScoreRecord(program, end_device_id, lfdi, "SP1", value, available, () if available else ("off",),
                             {"capacity": 0.5}, {"counted": 0}, NOW)


async def test_a_programs_devices_with_documents_service_point_contact_and_event_statuses(store):
    world = await build(store)
    one, two = await enrolled(store, 1), await enrolled(store, 2)
    e1, e2 = one.end_device.id, two.end_device.id
    lfdi1 = one.end_device.lfdi
    await store.put_der_document(e1, 1, "ders", {"readingTime": NOW + 50,
                                                  "genConnectStatus": {"dateTime": NOW + 50, "value": "01"}})
    ended = await store.add_control(world.program, f"{10:024X}{40732:08X}", NOW, NOW + 100, 100,
                                    {"DERControlBase": {"opModMaxLimW": 5000}}, 0, NOW)
    cancelled = await store.add_control(world.program, f"{11:024X}{40732:08X}", NOW, NOW + 300, 100,
                                        {"DERControlBase": {"opModMaxLimW": 5000}}, 0, NOW)
    await store.cancel_control(cancelled, NOW + 150, [])
    running = await store.add_control(world.program, f"{12:024X}{40732:08X}", NOW, NOW + 500, 1000,
                                      {"DERControlBase": {"opModMaxLimW": 5000}}, 0, NOW)
    await store.add_response(ended, lfdi1, 1, NOW + 100, NOW + 101, {})
    await store.add_response(ended, lfdi1, 3, NOW + 200, NOW + 250, {})
    await store.add_response(running, lfdi1, 2, NOW + 500, NOW + 600, {})

    history = await store.program_history(world.program, NOW, NOW + 700)
    assert history.ended_events == [(ended, NOW + 100)]  # neither the one cancelled before it began nor one running
    by_id = {d.end_device_id: d for d in history.devices}
    assert sorted(by_id) == [e1, e2]
    d1 = by_id[e1]
    assert (d1.lfdi, d1.enabled, d1.service_point_id, d1.service_point) == (lfdi1, True, world.service_point, "SP1")
    assert d1.documents["dercap"]["rtgMaxW"] == {"value": 5000, "multiplier": 0}
    assert d1.documents["derg"]["setMaxW"] == {"value": 4000, "multiplier": 0}
    assert d1.documents["ders"]["readingTime"] == NOW + 50
    assert d1.statuses == {ended: (1, 3)} and by_id[e2].statuses == {ended: ()}
    assert d1.last_contact == NOW + 600  # its newest Response
    assert [p.end_device_id for p in await store.participants([e2, 999, e1])] == [e1, e2]


async def test_power_history_is_each_watt_reading_of_the_devices_own_mirrors(store):
    await build(store)
    device = await enrolled(store, 1)
    e1, lfdi = device.end_device.id, device.end_device.lfdi

    def mmr(mrid: str, reading_type: dict, value: int, start: int) -> dict:
        return {"mRID": mrid, "ReadingType": reading_type,
                "Reading": {"value": value, "timePeriod": {"start": start, "duration": 300}}}
    await store.upsert_mirror_usage_point(lfdi, {"mRID": "A" * 32, "roleFlags": "0009", "serviceCategoryKind": 0,
                                                 "status": 1, "deviceLFDI": lfdi},
                                          [mmr("B" * 32, W, 1500, NOW), mmr("C" * 32, {"uom": 29}, 240, NOW)])
    # the site's own meter (a premises aggregation point) is not the device's power
    await store.upsert_mirror_usage_point(lfdi, {"mRID": "D" * 32, "roleFlags": "0003", "serviceCategoryKind": 0,
                                                 "status": 1, "deviceLFDI": lfdi},
                                          [mmr("E" * 32, W, 9000, NOW)])
    (series,) = await store.power_history([e1], [(NOW - 1000, NOW + 1000)])
    assert (series.end_device_id, series.reading_type["uom"], series.readings) == (e1, 38, [(NOW, 300, 1500)])
    # a reading overlapping a window counts for it; one wholly outside every window does not
    assert (await store.power_history([e1], [(NOW + 299, NOW + 1000)]))[0].readings == [(NOW, 300, 1500)]
    assert await store.power_history([e1], [(NOW + 300, NOW + 1000), (NOW - 500, NOW)]) == [
        type(series)(e1, series.meter_reading_id, series.reading_type, [])]


async def test_scores_replace_the_programs_last_ones_with_their_message(store):
    world = await build(store)
    one, two = await enrolled(store, 1), await enrolled(store, 2)
    e1, e2 = one.end_device.id, two.end_device.id
    endpoint = await store.create_sync_endpoint("derms", "http://127.0.0.1:9/derms")
    assert await store.device_scores(world.program) == (None, [])
    queued = await store.save_device_scores(world.program, NOW, [
        score_record(world.program, e1, one.end_device.lfdi, 40.0),
        score_record(world.program, e2, two.end_device.lfdi, 90.5, available=False)], {"devices": [e1, e2]})
    assert queued == 1
    computed, scores = await store.device_scores(world.program)
    assert computed == NOW and [(s.end_device_id, s.score, s.available, s.reasons) for s in scores] == [
        (e1, 40.0, True, ()), (e2, 90.5, False, ("off",))]  # the available first
    assert await store.device_score(world.program, e2) == scores[1]
    (message,) = (await store.sync_messages(kind="device-scores"))[1]
    assert (message.endpoint_id, message.body) == (endpoint, {"kind": "device-scores", "devices": [e1, e2]})

    # a device deleted meanwhile is skipped; the run replaces the last one
    await store.delete_end_device(e2)
    await store.save_device_scores(world.program, NOW + 10, [
        score_record(world.program, e1, one.end_device.lfdi, 41.0),
        score_record(world.program, e2, two.end_device.lfdi, 1.0)])
    computed, scores = await store.device_scores(world.program)
    assert computed == NOW + 10 and [(s.end_device_id, s.score) for s in scores] == [(e1, 41.0)]
    assert await store.device_score(world.program, e2) is None
    assert (await store.sync_messages(kind="device-scores"))[0] == 1  # no message given: none queued
