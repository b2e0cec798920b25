"""MirrorUsagePoints, MirrorMeterReadings, their Readings and ReadingSets, and the mirror as UsagePoint."""

from __future__ import annotations

import pytest

from der_gateway.store.base import MridTaken, Page, ReadingTypeMissing

from .conftest import lfdi_of

OWNER = lfdi_of(0x11)
OTHER = lfdi_of(0x22)
READING_TYPE = {"accumulationBehaviour": 12, "commodity": 1, "dataQualifier": 2, "flowDirection": 1,
                "powerOfTenMultiplier": 0, "uom": 38}


def mup(mrid: str, **extra) -> dict:
    return {"mRID": mrid, "description": f"site {mrid}", "deviceLFDI": OWNER, "roleFlags": "49",
            "serviceCategoryKind": 0, "status": 1, **extra}


def mmr(mrid: str, *, reading_type: bool = True, **extra) -> dict:
    body = {"mRID": mrid, "description": f"reading {mrid}", **extra}
    if reading_type:
        body["ReadingType"] = READING_TYPE
    return body


def reading(value: int, start: int | None = None, duration: int = 300) -> dict:
    body = {"value": value}
    if start is not None:
        body["timePeriod"] = {"duration": duration, "start": start}
    return body


def reading_set(mrid: str, start: int, values: list[int], duration: int = 300) -> dict:
    return {"mRID": mrid, "description": "set", "timePeriod": {"duration": duration * len(values), "start": start},
            "Reading": [reading(v, start + i * duration, duration) for i, v in enumerate(values)]}


# -- MirrorUsagePoints ------------------------------------------------------------------------

async def test_upsert_creates_then_updates_by_owner_and_mrid(store):
    mup_id, created = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [])
    assert created is True
    record = await store.mirror_usage_point(mup_id)
    assert (record.id, record.owner_lfdi, record.mRID, record.data) == (mup_id, OWNER, "A1", mup("A1"))
    again, created = await store.upsert_mirror_usage_point(OWNER, mup("A1", description="renamed"), [])
    assert (again, created) == (mup_id, False)
    assert (await store.mirror_usage_point(mup_id)).data["description"] == "renamed"
    assert (await store.mirror_usage_points(OWNER, 0, 10)).all == 1


async def test_an_unknown_mirror_is_none(store):
    assert await store.mirror_usage_point(9999) is None


async def test_mirror_usage_points_are_listed_by_mrid_per_owner(store):
    for mrid in ("C3", "A1", "B2"):
        await store.upsert_mirror_usage_point(OWNER, mup(mrid), [])
    await store.upsert_mirror_usage_point(OTHER, mup("A0"), [])
    page = await store.mirror_usage_points(OWNER, 0, 10)
    assert page.all == 3
    assert [r.mRID for r in page.items] == ["A1", "B2", "C3"]
    assert all(r.owner_lfdi == OWNER for r in page.items)
    assert [r.mRID for r in (await store.mirror_usage_points(OTHER, 0, 10)).items] == ["A0"]
    assert await store.mirror_usage_points(lfdi_of(0x33), 0, 10) == Page(0, [])


async def test_mirror_usage_point_paging(store):
    for i in range(5):
        await store.upsert_mirror_usage_point(OWNER, mup(f"M{i}"), [])
    mrids = lambda page: [r.mRID for r in page.items]  # noqa: E731
    assert mrids(await store.mirror_usage_points(OWNER, 0, 2)) == ["M0", "M1"]
    assert mrids(await store.mirror_usage_points(OWNER, 4, 2)) == ["M4"]
    assert mrids(await store.mirror_usage_points(OWNER, 5, 2)) == []
    assert await store.mirror_usage_points(OWNER, 0, 0) == Page(5, [])
    assert (await store.mirror_usage_points(OWNER, 5, 2)).all == 5


async def test_another_client_s_mrid_is_taken_and_nothing_changes(store):
    mine, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1")])
    with pytest.raises(MridTaken) as taken:
        await store.upsert_mirror_usage_point(OTHER, mup("A1"), [])
    assert taken.value.mrid == "A1"
    with pytest.raises(MridTaken) as taken:  # a MirrorMeterReading's mRID is taken as well
        await store.upsert_mirror_usage_point(OTHER, mup("B1"), [mmr("R1")])
    assert taken.value.mrid == "R1"
    with pytest.raises(MridTaken):  # a mirror's mRID may not name another's MirrorMeterReading
        await store.upsert_mirror_usage_point(OTHER, mup("R1"), [])
    assert (await store.mirror_usage_points(OTHER, 0, 10)).all == 0
    assert (await store.mirror_usage_points(OWNER, 0, 10)).items[0].id == mine


async def test_a_new_meter_reading_without_its_reading_type_changes_nothing(store):
    with pytest.raises(ReadingTypeMissing) as missing:
        await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1"), mmr("R2", reading_type=False)])
    assert missing.value.mrid == "R2"
    assert (await store.mirror_usage_points(OWNER, 0, 10)).all == 0


async def test_a_known_meter_reading_needs_no_reading_type(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1")])
    placed = await store.add_mirror_meter_readings(mup_id, [mmr("R1", reading_type=False, Reading=reading(5, 100))])
    assert placed == [(placed[0][0], False)]
    assert (await store.mirror_meter_readings(mup_id))[0]["ReadingType"] == READING_TYPE


async def test_delete_mirror_usage_point_removes_it_and_its_readings(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", Reading=reading(1, 10))])
    meter = (await store.meter_readings(mup_id, 0, 10)).items[0].id
    await store.delete_mirror_usage_point(mup_id)
    assert await store.mirror_usage_point(mup_id) is None
    assert await store.mirror_meter_readings(mup_id) == []
    assert await store.readings(mup_id, "R1") == []
    assert await store.latest_reading(meter) is None
    assert (await store.mirror_usage_points(OWNER, 0, 10)).all == 0
    # its mRIDs are free for another client now
    other, created = await store.upsert_mirror_usage_point(OTHER, mup("A1"), [mmr("R1")])
    assert created


async def test_delete_mirror_usage_points_of_an_owner(store):
    for mrid in ("A", "B"):
        await store.upsert_mirror_usage_point(OWNER, mup(mrid), [])
    await store.upsert_mirror_usage_point(OTHER, mup("C"), [])
    assert await store.delete_mirror_usage_points_of(OWNER) == 2
    assert (await store.mirror_usage_points(OWNER, 0, 10)).all == 0
    assert (await store.mirror_usage_points(OTHER, 0, 10)).all == 1


# -- MirrorMeterReadings and Readings -----------------------------------------------------------

async def test_add_meter_readings_answers_ids_and_newness_in_order(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1")])
    placed = await store.add_mirror_meter_readings(mup_id, [mmr("R2"), mmr("R1"), mmr("R3")])
    assert [new for _, new in placed] == [True, False, True]
    assert len({i for i, _ in placed}) == 3
    records = {r.mRID: r.id for r in (await store.meter_readings(mup_id, 0, 10)).items}
    assert [i for i, _ in placed] == [records["R2"], records["R1"], records["R3"]]


async def test_add_meter_readings_refuses_another_client_s_mrid(store):
    await store.upsert_mirror_usage_point(OTHER, mup("X"), [mmr("THEIRS")])
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [])
    with pytest.raises(MridTaken):
        await store.add_mirror_meter_readings(mup_id, [mmr("NEW"), mmr("THEIRS")])
    assert await store.mirror_meter_readings(mup_id) == []


async def test_add_meter_readings_refuses_a_new_one_without_reading_type(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [])
    with pytest.raises(ReadingTypeMissing):
        await store.add_mirror_meter_readings(mup_id, [mmr("R1"), mmr("R2", reading_type=False)])
    assert await store.mirror_meter_readings(mup_id) == []


async def test_mirror_meter_readings_by_mrid_with_the_newest_reading(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R2"), mmr("R1")])
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", Reading=reading(1, 100))])
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", Reading=reading(2, 200))])
    mmrs = await store.mirror_meter_readings(mup_id)
    assert [m["mRID"] for m in mmrs] == ["R1", "R2"]
    assert mmrs[0]["Reading"] == reading(2, 200)
    assert "Reading" not in mmrs[1]
    assert "MirrorReadingSet" not in mmrs[0]


async def test_a_header_sent_again_is_merged(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", description="one")])
    await store.add_mirror_meter_readings(mup_id, [{"mRID": "R1", "description": "two"}])
    [m] = await store.mirror_meter_readings(mup_id)
    assert m["description"] == "two" and m["ReadingType"] == READING_TYPE


async def test_readings_history_by_time(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", Reading=reading(3, 300))])
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", Reading=reading(1, 100))])
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", MirrorReadingSet=[reading_set("S1", 200, [2, 4])])])
    assert [r["value"] for r in await store.readings(mup_id, "R1")] == [1, 2, 3, 4]
    assert await store.readings(mup_id, "NOPE") == []


async def test_latest_reading_is_the_one_posted_last_alone(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", Reading=reading(1, 500))])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    assert (await store.latest_reading(meter)).data == reading(1, 500)
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", Reading=reading(2, 100))])
    latest = await store.latest_reading(meter)
    assert latest.data == reading(2, 100)  # posted last, though earlier in time
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", MirrorReadingSet=[reading_set("S", 900, [7])])])
    assert (await store.latest_reading(meter)).data == reading(2, 100)  # a set's readings are not "alone"


async def test_no_latest_reading_before_one_is_posted(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1")])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    assert await store.latest_reading(meter) is None


# -- the mirror as UsagePoint: MeterReadings, ReadingSets, Readings ---------------------------------

async def test_meter_readings_by_mrid_and_paged(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr(m) for m in ("R3", "R1", "R2")])
    page = await store.meter_readings(mup_id, 0, 10)
    assert page.all == 3 and [r.mRID for r in page.items] == ["R1", "R2", "R3"]
    assert all(r.mup_id == mup_id for r in page.items)
    assert page.items[0].data == mmr("R1")
    assert [r.mRID for r in (await store.meter_readings(mup_id, 1, 1)).items] == ["R2"]
    assert await store.meter_readings(mup_id, 0, 0) == Page(3, [])
    assert (await store.meter_readings(mup_id, 3, 5)).items == []


async def test_meter_reading_belongs_to_its_mirror(store):
    a, _ = await store.upsert_mirror_usage_point(OWNER, mup("A"), [mmr("RA")])
    b, _ = await store.upsert_mirror_usage_point(OWNER, mup("B"), [mmr("RB")])
    ra = (await store.meter_readings(a, 0, 1)).items[0]
    assert await store.meter_reading(a, ra.id) == ra
    assert await store.meter_reading(b, ra.id) is None


async def test_reading_sets_newest_start_first_and_paged(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", MirrorReadingSet=[
        reading_set("S1", 100, [1]), reading_set("S3", 300, [3]), reading_set("S2", 200, [2])])])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    page = await store.reading_sets(meter, 0, 10)
    assert page.all == 3 and [s.mRID for s in page.items] == ["S3", "S2", "S1"]
    assert all(s.meter_reading_id == meter for s in page.items)
    assert "Reading" not in page.items[0].data and page.items[0].data["timePeriod"]["start"] == 300
    assert [s.mRID for s in (await store.reading_sets(meter, 1, 1)).items] == ["S2"]
    assert await store.reading_sets(meter, 0, 0) == Page(3, [])
    assert await store.reading_set(meter, page.items[0].id) == page.items[0]
    assert await store.reading_set(meter + 1000, page.items[0].id) is None


async def test_reading_sets_with_equal_starts_by_mrid_descending(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", MirrorReadingSet=[
        reading_set("SA", 100, [1]), reading_set("SC", 100, [1]), reading_set("SB", 100, [1])])])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    assert [s.mRID for s in (await store.reading_sets(meter, 0, 10)).items] == ["SC", "SB", "SA"]


async def test_set_readings_by_time_and_paged(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", MirrorReadingSet=[
        {"mRID": "S1", "timePeriod": {"duration": 900, "start": 0},
         "Reading": [reading(3, 600), reading(1, 0), reading(2, 300)]}])])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    rs = (await store.reading_sets(meter, 0, 1)).items[0].id
    page = await store.set_readings(rs, 0, 10)
    assert page.all == 3 and [r.data["value"] for r in page.items] == [1, 2, 3]
    assert [r.data["value"] for r in (await store.set_readings(rs, 2, 5)).items] == [3]
    assert await store.set_readings(rs, 0, 0) == Page(3, [])
    assert await store.set_reading(rs, page.items[1].id) == page.items[1]
    assert await store.set_reading(rs + 1000, page.items[1].id) is None


async def test_a_set_posted_again_replaces_its_readings(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", MirrorReadingSet=[
        reading_set("S1", 100, [1, 2, 3])])])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    old = (await store.reading_sets(meter, 0, 1)).items[0]
    old_readings = (await store.set_readings(old.id, 0, 10)).items
    await store.add_mirror_meter_readings(mup_id, [mmr("R1", MirrorReadingSet=[reading_set("S1", 400, [9])])])
    sets = await store.reading_sets(meter, 0, 10)
    assert sets.all == 1 and sets.items[0].id == old.id and sets.items[0].data["timePeriod"]["start"] == 400
    assert [r.data["value"] for r in (await store.set_readings(old.id, 0, 10)).items] == [9]
    assert await store.set_reading(old.id, old_readings[0].id) is None  # replaced: history only
    assert sorted(r["value"] for r in await store.readings(mup_id, "R1")) == [1, 2, 3, 9]


async def test_a_reading_without_its_own_period_takes_its_set_s(store):
    mup_id, _ = await store.upsert_mirror_usage_point(OWNER, mup("A1"), [mmr("R1", MirrorReadingSet=[
        {"mRID": "S1", "timePeriod": {"duration": 60, "start": 500}, "Reading": [{"value": 4}]}])])
    meter = (await store.meter_readings(mup_id, 0, 1)).items[0].id
    rs = (await store.reading_sets(meter, 0, 1)).items[0].id
    assert [r.data for r in (await store.set_readings(rs, 0, 10)).items] == [{"value": 4}]
