"""Programs, DefaultDERControls, curves, events (DERControls), groups, responses and rates."""

from __future__ import annotations

import pytest

from der_gateway.domain.refusals import Conflict
from der_gateway.store.base import ControlRecord, GroupRecord, ProgramRecord, ResponseRecord

from .conftest import device, lfdi_of

AGG = lfdi_of(0xA66)


def mrid(n: int) -> str:
    return f"{n:032X}"


# -- programs ----------------------------------------------------------------------------------

async def test_a_program_reads_back_at_version_zero(store):
    pid = await store.create_program(mrid(1), "peak", 10)
    assert await store.program(pid) == ProgramRecord(pid, mrid(1), "peak", 10, 0)
    assert await store.program(pid + 100) is None


async def test_update_program_moves_its_version_on(store):
    pid = await store.create_program(mrid(1), "peak", 10)
    await store.update_program(pid, None, 20)
    assert await store.program(pid) == ProgramRecord(pid, mrid(1), None, 20, 1)
    await store.update_program(pid, "again", 20)
    assert (await store.program(pid)).version == 2


async def test_programs_by_primacy_then_id(store):
    a = await store.create_program(mrid(1), "a", 5)
    b = await store.create_program(mrid(2), "b", 1)
    c = await store.create_program(mrid(3), "c", 5)
    assert [p.id for p in await store.programs()] == [b, a, c]


async def test_delete_program_takes_its_controls_curves_and_default(store):
    pid = await store.create_program(mrid(1), "p", 1)
    await store.set_default_control(pid, mrid(2), {"setESDelay": 300})
    curve = await store.add_curve(pid, mrid(3), {"curveType": 11})
    cid = await store.add_control(pid, mrid(4), 1, 100, 60, {"x": 1}, 0, 1)
    await store.delete_program(pid)
    assert await store.program(pid) is None
    assert await store.programs() == []
    assert await store.default_control(pid) is None
    assert await store.curve(pid, curve) is None
    assert await store.control(cid) is None


# -- DefaultDERControl and curves ------------------------------------------------------------------

async def test_default_control_set_then_replaced(store):
    pid = await store.create_program(mrid(1), "p", 1)
    assert await store.default_control(pid) is None
    await store.set_default_control(pid, mrid(2), {"mRID": mrid(2), "setGradW": 100})
    assert await store.default_control(pid) == {"mRID": mrid(2), "setGradW": 100}
    await store.set_default_control(pid, mrid(3), {"mRID": mrid(3)})
    assert await store.default_control(pid) == {"mRID": mrid(3)}


async def test_curves_in_creation_order_and_deleted_one_by_one(store):
    pid = await store.create_program(mrid(1), "p", 1)
    other = await store.create_program(mrid(2), "q", 1)
    a = await store.add_curve(pid, mrid(10), {"n": "a"})
    b = await store.add_curve(pid, mrid(11), {"n": "b"})
    assert await store.curves(pid) == [(a, {"n": "a"}), (b, {"n": "b"})]
    assert await store.curve(pid, b) == {"n": "b"}
    assert await store.curve(other, b) is None
    await store.delete_curve(other, a)  # not its program: nothing happens
    assert len(await store.curves(pid)) == 2
    await store.delete_curve(pid, a)
    assert await store.curves(pid) == [(b, {"n": "b"})]


# -- events ----------------------------------------------------------------------------------

async def _event(store, pid, n, start, duration=600, created=1000, status=0):
    return await store.add_control(pid, mrid(n), created, start, duration, {"n": n}, status, created)


async def test_an_event_reads_back_by_id_and_by_mrid(store):
    pid = await store.create_program(mrid(1), "p", 1)
    cid = await store.add_control(pid, mrid(0xABC), 1000, 2000, 600, {"DERControlBase": {"opModConnect": True}},
                                  0, 1000)
    expected = ControlRecord(cid, pid, mrid(0xABC), 1000, 2000, 600, {"DERControlBase": {"opModConnect": True}},
                             0, 1000, None, None)
    assert await store.control(cid) == expected
    assert await store.control_by_mrid(mrid(0xABC)) == expected
    assert await store.control_by_mrid(mrid(0xABC).lower()) == expected  # mRIDs are hex: case does not matter
    assert await store.control_by_mrid(mrid(0xABD)) is None
    assert await store.control(cid + 1) is None


async def test_events_by_start_then_newest_first(store):
    """2030.5 DERControlList: primary key start ascending, then creationTime descending."""
    pid = await store.create_program(mrid(1), "p", 1)
    late = await _event(store, pid, 2, start=5000)
    early_old = await _event(store, pid, 3, start=3000, created=100)
    early_new = await _event(store, pid, 4, start=3000, created=200)
    same_time = await _event(store, pid, 5, start=3000, created=200)
    assert [c.id for c in await store.controls(pid)] == [same_time, early_new, early_old, late]


async def test_events_ending_after_and_those_overlapping_them(store):
    pid = await store.create_program(mrid(1), "p", 1)
    ended = await _event(store, pid, 1, start=0, duration=40)  # over before long_one began
    long_one = await _event(store, pid, 2, start=50, duration=1000)  # ends at 1050
    overlapping = await _event(store, pid, 3, start=400, duration=100)  # ended at 500, overlaps long_one
    future = await _event(store, pid, 4, start=2000, duration=100)
    got = [c.id for c in await store.controls(pid, ending_after=600)]
    assert long_one in got and future in got and overlapping in got and ended not in got
    assert [c.id for c in await store.controls(pid, ending_after=5000)] == []


async def test_all_controls_by_program_then_start(store):
    p1 = await store.create_program(mrid(1), "p", 1)
    p2 = await store.create_program(mrid(2), "q", 1)
    a = await _event(store, p2, 10, start=100)
    b = await _event(store, p1, 11, start=900)
    c = await _event(store, p1, 12, start=50, duration=10)
    assert [x.id for x in await store.all_controls()] == [c, b, a]
    assert [x.id for x in await store.all_controls(ending_after=60)] == [b, a]


async def test_cancel_marks_once_and_sets_states(store):
    pid = await store.create_program(mrid(1), "p", 1)
    a = await _event(store, pid, 1, start=1000)
    b = await _event(store, pid, 2, start=1000)
    await store.cancel_control(a, 1500, [(a, 2, 1500, None), (b, 4, 1500, 1400)])
    ca, cb = await store.control(a), await store.control(b)
    assert (ca.cancelled_at, ca.status, ca.status_time) == (1500, 2, 1500)
    assert (cb.cancelled_at, cb.status, cb.potentially_superseded_time) == (None, 4, 1400)
    await store.cancel_control(a, 9999, [])
    assert (await store.control(a)).cancelled_at == 1500


async def test_add_control_sets_the_states_of_others_in_the_same_write(store):
    pid = await store.create_program(mrid(1), "p", 1)
    old = await _event(store, pid, 1, start=1000)
    new = await store.add_control(pid, mrid(2), 1100, 1000, 600, {}, 0, 1100, states=[(old, 4, 1100, 1100)])
    assert (await store.control(old)).status == 4
    assert (await store.control(new)).status == 0


async def test_set_control_states(store):
    pid = await store.create_program(mrid(1), "p", 1)
    a = await _event(store, pid, 1, start=1000)
    await store.set_control_states([(a, 1, 1200, None)])
    record = await store.control(a)
    assert (record.status, record.status_time, record.potentially_superseded_time) == (1, 1200, None)


async def test_clear_controls_counts_and_keeps_other_programs(store):
    p1 = await store.create_program(mrid(1), "p", 1)
    p2 = await store.create_program(mrid(2), "q", 1)
    await _event(store, p1, 10, start=1)
    await _event(store, p1, 11, start=2)
    kept = await _event(store, p2, 12, start=3)
    assert await store.clear_controls(p1) == 2
    assert await store.controls(p1) == []
    assert [c.id for c in await store.controls(p2)] == [kept]


async def test_event_constraints_and_starts_of_standing_events(store):
    pid = await store.create_program(mrid(1), "p", 1)
    a = await _event(store, pid, 1, start=100)
    await _event(store, pid, 2, start=200)
    await store.cancel_control(a, 50, [])
    constraints, starts = await store.event_constraints(pid)
    assert constraints == {} and starts == [200]


# -- groups, membership, assignment ------------------------------------------------------------------

async def test_groups_read_back_and_list_by_id(store):
    a = await store.create_group(mrid(1), "one")
    b = await store.create_group(mrid(2), None)
    assert await store.group(a) == GroupRecord(a, mrid(1), "one", 0)
    assert await store.groups() == [GroupRecord(a, mrid(1), "one", 0), GroupRecord(b, mrid(2), None, 0)]
    assert await store.group(b + 10) is None


async def test_membership_add_remove_and_listing(store):
    g = await store.create_group(mrid(1), "g")
    e = [(await store.create_end_device(device(n))).id for n in range(1, 4)]
    await store.set_membership(g, [e[2], e[0]], True)
    await store.set_membership(g, [e[0]], True)  # again: no change
    assert await store.group_members(g) == sorted([e[0], e[2]])
    assert await store.count_group_members(g) == 2
    assert [x.id for x in await store.groups_of(e[0])] == [g]
    await store.set_membership(g, [e[0]], False)
    assert await store.group_members(g) == [e[2]]
    assert await store.groups_of(e[0]) == []


async def test_assigning_a_program_moves_the_group_version_on(store):
    g = await store.create_group(mrid(1), "g")
    pid = await store.create_program(mrid(2), "p", 1)
    await store.set_group_program(g, pid, True)
    assert (await store.group(g)).version == 1
    assert [p.id for p in await store.programs_of_group(g)] == [pid]
    assert await store.groups_with_program(pid) == [g]
    await store.set_group_program(g, pid, False)
    assert (await store.group(g)).version == 2
    assert await store.programs_of_group(g) == []
    assert await store.groups_with_program(pid) == []


async def test_programs_of_group_by_primacy(store):
    g = await store.create_group(mrid(1), "g")
    low = await store.create_program(mrid(2), "low", 9)
    high = await store.create_program(mrid(3), "high", 1)
    for p in (low, high):
        await store.set_group_program(g, p, True)
    assert [p.id for p in await store.programs_of_group(g)] == [high, low]


async def test_delete_group_drops_memberships_and_assignments(store):
    g = await store.create_group(mrid(1), "g")
    e = (await store.create_end_device(device(1))).id
    pid = await store.create_program(mrid(2), "p", 1)
    await store.set_membership(g, [e], True)
    await store.set_group_program(g, pid, True)
    await store.delete_group(g)
    assert await store.group(g) is None
    assert await store.groups_of(e) == []
    assert await store.groups_with_program(pid) == []


async def test_targeted_end_devices_are_the_enabled_members_of_assigned_groups(store):
    pid = await store.create_program(mrid(1), "p", 1)
    g1, g2 = await store.create_group(mrid(2), "a"), await store.create_group(mrid(3), "b")
    on = await store.create_end_device(device(1))
    off = await store.create_end_device(device(2, enabled=False))
    both = await store.create_end_device(device(3))
    outside = await store.create_end_device(device(4))
    await store.set_membership(g1, [on.id, off.id, both.id], True)
    await store.set_membership(g2, [both.id], True)
    await store.set_group_program(g1, pid, True)
    await store.set_group_program(g2, pid, True)
    assert await store.targeted_end_devices(pid) == [(on.id, on.lFDI), (both.id, both.lFDI)]
    assert outside.id not in [i for i, _ in await store.targeted_end_devices(pid)]


async def test_group_and_program_visibility(store):
    pid = await store.create_program(mrid(1), "p", 1)
    g = await store.create_group(mrid(2), "g")
    mine = await store.create_end_device(device(1, owner=AGG))
    stranger = lfdi_of(0xBEEF)
    assert not await store.group_visible_to(AGG, g)
    await store.set_membership(g, [mine.id], True)
    assert await store.group_visible_to(AGG, g)
    assert await store.group_visible_to(mine.lFDI, g)
    assert not await store.group_visible_to(stranger, g)
    assert not await store.program_visible_to(AGG, pid)
    await store.set_group_program(g, pid, True)
    assert await store.program_visible_to(AGG, pid)
    assert not await store.program_visible_to(stranger, pid)
    await store.set_access(mine.id, stranger, True)
    assert await store.program_visible_to(stranger, pid) and await store.group_visible_to(stranger, g)


async def test_a_disabled_end_device_makes_nothing_visible(store):
    pid = await store.create_program(mrid(1), "p", 1)
    g = await store.create_group(mrid(2), "g")
    off = await store.create_end_device(device(1, owner=AGG, enabled=False))
    await store.set_membership(g, [off.id], True)
    await store.set_group_program(g, pid, True)
    assert not await store.group_visible_to(AGG, g)
    assert not await store.program_visible_to(AGG, pid)


# -- responses ---------------------------------------------------------------------------------

async def test_responses_by_end_device_then_received(store):
    pid = await store.create_program(mrid(1), "p", 1)
    cid = await _event(store, pid, 2, start=100)
    b2 = await store.add_response(cid, "BB", 2, 10, 30, {"status": 2})
    a = await store.add_response(cid, "AA", 1, 10, 20, {"status": 1})
    b1 = await store.add_response(cid, "BB", 1, 5, 25, {"status": 1})
    assert await store.responses(cid) == [ResponseRecord(a, cid, "AA", 1, 10, 20),
                                          ResponseRecord(b1, cid, "BB", 1, 5, 25),
                                          ResponseRecord(b2, cid, "BB", 2, 10, 30)]
    assert await store.response(a) == ("AA", {"status": 1})
    assert await store.response(b2 + 100) is None


async def test_response_page_newest_first_filtered_by_visible_lfdis(store):
    pid = await store.create_program(mrid(1), "p", 1)
    cid = await _event(store, pid, 2, start=100)
    ids = {}
    for n, (who, created) in enumerate((("AA", 10), ("BB", 30), ("AA", 20), ("CC", 30))):
        ids[n] = await store.add_response(cid, who, 1, created, created, {"n": n})
    total, items = await store.response_page(0, 10, None)
    assert total == 4 and [i for i, _ in items] == [ids[3], ids[1], ids[2], ids[0]]
    total, items = await store.response_page(0, 10, ["AA"])
    assert total == 2 and [body["n"] for _, body in items] == [2, 0]
    total, items = await store.response_page(1, 1, ["AA", "CC"])
    assert total == 3 and [body["n"] for _, body in items] == [2]
    assert await store.response_page(0, 10, []) == (0, [])


async def test_an_event_with_responses_is_never_deleted(store):
    """Responses are the event's participation record: deleting the event (or its program) is refused whole."""
    pid = await store.create_program(mrid(1), "p", 1)
    cid = await _event(store, pid, 2, start=100)
    other = await _event(store, pid, 3, start=200)
    rid = await store.add_response(cid, "AA", 1, 1, 1, {})
    assert await store.recorded_controls(pid) == [cid]
    with pytest.raises(Conflict):
        await store.clear_controls(pid)
    with pytest.raises(Conflict):
        await store.delete_program(pid)
    assert await store.response(rid) is not None
    assert {c.id for c in await store.controls(pid)} == {cid, other}
    empty = await store.create_program(mrid(4), "q", 1)
    await _event(store, empty, 5, start=100)
    assert await store.clear_controls(empty) == 1


# -- rates ----------------------------------------------------------------------------------

async def test_rates_set_and_replaced(store):
    assert await store.rates() == {}
    await store.set_rate("/dcap", 300, None)
    await store.set_rate("/mup", None, 60)
    await store.set_rate("/dcap", 900, 5)
    assert await store.rates() == {"/dcap": (900, 5), "/mup": (None, 60)}


@pytest.mark.parametrize("duplicate", ["program", "group"])
async def test_an_mrid_is_unique(store, duplicate):
    create = store.create_program if duplicate == "program" else store.create_group
    args = ("d", 1) if duplicate == "program" else ("d",)
    await create(mrid(1), *args)
    with pytest.raises(Exception):
        await create(mrid(1), *args)
    listed = await store.programs() if duplicate == "program" else await store.groups()
    assert len(listed) == 1
