"""Aggregators, EndDevices (create, read, update, delete) and the EndDeviceList each client sees."""

from __future__ import annotations

from dataclasses import replace

from der_gateway.store.base import EndDeviceRecord, Page

from .conftest import device, lfdi_of

AGG = lfdi_of(0xA66)
OTHER_AGG = lfdi_of(0xA67)


# -- aggregators -----------------------------------------------------------------------

async def test_an_unknown_client_is_not_an_aggregator(store):
    assert await store.is_aggregator(AGG) is False
    assert await store.aggregator_created(AGG) is None
    assert await store.aggregators() == []


async def test_an_added_aggregator_is_known_with_its_creation_time(store):
    await store.add_aggregator(AGG, "Acme")
    assert await store.is_aggregator(AGG) is True
    assert isinstance(await store.aggregator_created(AGG), int)
    assert await store.aggregators() == [(AGG, "Acme")]


async def test_adding_an_aggregator_again_renames_it_and_keeps_its_creation_time(store):
    await store.add_aggregator(AGG, "Acme")
    created = await store.aggregator_created(AGG)
    await store.add_aggregator(AGG, "Acme Energy")
    assert await store.aggregators() == [(AGG, "Acme Energy")]
    assert await store.aggregator_created(AGG) == created


async def test_aggregators_are_listed_by_name(store):
    await store.add_aggregator(AGG, "Zeta")
    await store.add_aggregator(OTHER_AGG, "Alpha")
    assert await store.aggregators() == [(OTHER_AGG, "Alpha"), (AGG, "Zeta")]


# -- EndDevice records -------------------------------------------------------------------------

async def test_create_assigns_an_id_and_reads_back_equal(store):
    record = device(1, category="0A", changed=1_700_000_123)
    created = await store.create_end_device(record)
    assert created.id > 0
    assert created == replace(record, id=created.id)
    assert await store.end_device(created.id) == created


async def test_each_new_end_device_gets_its_own_id(store):
    ids = [(await store.create_end_device(device(n))).id for n in range(1, 6)]
    assert len(set(ids)) == 5


async def test_an_unknown_end_device_is_none(store):
    assert await store.end_device(424242) is None


async def test_optional_fields_round_trip(store):
    record = EndDeviceRecord(id=0, lFDI=lfdi_of(7), sFDI=77, owner_lfdi=AGG, changedTime=5, pIN=123456,
                             dateTimeRegistered=4, deviceCategory="1FF", enabled=False, postRate=900,
                             connectionPointId="NMI4000000001")
    created = await store.create_end_device(record)
    assert await store.end_device(created.id) == replace(record, id=created.id)


async def test_a_new_end_device_has_der_one(store):
    created = await store.create_end_device(device(1))
    assert await store.der_numbers(created.id) == [1]


async def test_end_device_by_identity_matches_lfdi_or_sfdi(store):
    a = await store.create_end_device(device(1, sfdi=501))
    b = await store.create_end_device(device(2, sfdi=502))
    assert await store.end_device_by_identity(a.lFDI, 999) == [a]
    assert await store.end_device_by_identity(None, 502) == [b]
    assert await store.end_device_by_identity(lfdi_of(99), 999) == []
    both = await store.end_device_by_identity(a.lFDI, 502)
    assert sorted(both, key=lambda r: r.id) == sorted([a, b], key=lambda r: r.id)


async def test_update_changes_the_mutable_fields(store):
    created = await store.create_end_device(device(1))
    updated = replace(created, changedTime=created.changedTime + 60, deviceCategory="4", enabled=False,
                      postRate=300, connectionPointId="CP-1", pIN=999999)
    await store.update_end_device(updated)
    assert await store.end_device(created.id) == updated


async def test_update_keeps_identity_owner_and_registration_time(store):
    created = await store.create_end_device(device(1))
    await store.update_end_device(replace(created, lFDI=lfdi_of(55), sFDI=55, owner_lfdi=AGG,
                                          dateTimeRegistered=1))
    back = await store.end_device(created.id)
    assert (back.lFDI, back.sFDI, back.owner_lfdi, back.dateTimeRegistered) == (
        created.lFDI, created.sFDI, created.owner_lfdi, created.dateTimeRegistered)


async def test_delete_removes_the_end_device_and_everything_under_it(store):
    edev = await store.create_end_device(device(1))
    keep = await store.create_end_device(device(2))
    await store.put_der_document(edev.id, 1, "dercap", {"type": 4})
    await store.put_der_document(keep.id, 1, "dercap", {"type": 80})
    log_id = await store.add_log_event(edev.id, {"createdDateTime": 10, "logEventID": 1})
    group = await store.create_group("AB" * 16, "g")
    await store.set_membership(group, [edev.id, keep.id], True)
    await store.set_access(edev.id, AGG, True)
    sub = await store.add_subscription(edev.id, edev.lFDI, f"/edev/{edev.id}", {"limit": 1})

    await store.delete_end_device(edev.id)

    assert await store.end_device(edev.id) is None
    assert await store.end_device_by_identity(edev.lFDI, edev.sFDI) == []
    assert await store.der_numbers(edev.id) == []
    assert await store.der_document(edev.id, 1, "dercap") is None
    assert await store.log_event(edev.id, log_id) is None
    assert (await store.log_events(edev.id, 0, 10)).all == 0
    assert await store.group_members(group) == [keep.id]
    assert await store.groups_of(edev.id) == []
    assert await store.access_grants(edev.id) == []
    assert await store.subscription(sub) is None
    assert (await store.end_devices_visible_to(AGG, 0, 10)).all == 0
    # the other EndDevice is untouched
    assert await store.der_document(keep.id, 1, "dercap") == {"type": 80}


async def test_identity_is_free_again_after_delete(store):
    edev = await store.create_end_device(device(1))
    await store.delete_end_device(edev.id)
    again = await store.create_end_device(device(1))
    assert await store.end_device_by_identity(again.lFDI, again.sFDI) == [again]


async def test_all_end_devices_by_id(store):
    made = [await store.create_end_device(device(n, sfdi=100 - n)) for n in range(1, 5)]
    assert await store.all_end_devices() == sorted(made, key=lambda r: r.id)


# -- the EndDeviceList a client sees ----------------------------------------------------------

async def _fleet(store, sfdis: list[int], owner: str = AGG) -> list[EndDeviceRecord]:
    return [await store.create_end_device(device(i + 1, sfdi=s, owner=owner)) for i, s in enumerate(sfdis)]


async def test_the_list_is_in_sfdi_order_whatever_the_order_of_creation(store):
    made = await _fleet(store, [50, 10, 40, 20, 30])
    page = await store.end_devices_visible_to(AGG, 0, 10)
    assert page.all == 5
    assert [r.sFDI for r in page.items] == [10, 20, 30, 40, 50]
    assert sorted(page.items, key=lambda r: r.id) == sorted(made, key=lambda r: r.id)


async def test_windows_at_the_edges(store):
    await _fleet(store, [50, 10, 40, 20, 30])
    sfdis = lambda page: [r.sFDI for r in page.items]  # noqa: E731
    assert sfdis(await store.end_devices_visible_to(AGG, 0, 2)) == [10, 20]
    assert sfdis(await store.end_devices_visible_to(AGG, 2, 2)) == [30, 40]
    assert sfdis(await store.end_devices_visible_to(AGG, 4, 2)) == [50]
    assert sfdis(await store.end_devices_visible_to(AGG, 5, 2)) == []
    assert sfdis(await store.end_devices_visible_to(AGG, 99, 2)) == []
    assert sfdis(await store.end_devices_visible_to(AGG, 0, 5)) == [10, 20, 30, 40, 50]
    assert sfdis(await store.end_devices_visible_to(AGG, 1, 1)) == [20]
    for start, limit in ((0, 2), (4, 2), (5, 2), (99, 1), (0, 0), (3, 0)):
        assert (await store.end_devices_visible_to(AGG, start, limit)).all == 5


async def test_limit_zero_gives_the_count_and_no_items(store):
    await _fleet(store, [3, 2, 1])
    assert await store.end_devices_visible_to(AGG, 0, 0) == Page(3, [])


async def test_a_device_sees_itself_by_its_own_lfdi(store):
    own = await store.create_end_device(device(1))
    await store.create_end_device(device(2))
    page = await store.end_devices_visible_to(own.lFDI, 0, 10)
    assert page == Page(1, [own])


async def test_an_aggregator_sees_the_end_devices_it_owns_only(store):
    mine = await _fleet(store, [5, 6])
    await store.create_end_device(device(10, sfdi=1, owner=OTHER_AGG))
    await store.create_end_device(device(11, sfdi=2))
    page = await store.end_devices_visible_to(AGG, 0, 10)
    assert page == Page(2, mine)


async def test_an_access_grant_makes_an_end_device_visible_and_its_removal_hides_it(store):
    other = await store.create_end_device(device(1, sfdi=9, owner=OTHER_AGG))
    mine = await store.create_end_device(device(2, sfdi=3, owner=AGG))
    await store.set_access(other.id, AGG, True)
    assert await store.has_access(other.id, AGG)
    assert await store.access_grants(other.id) == [AGG]
    assert await store.end_devices_visible_to(AGG, 0, 10) == Page(2, [mine, other])
    await store.set_access(other.id, AGG, True)  # granting twice changes nothing
    assert (await store.end_devices_visible_to(AGG, 0, 10)).all == 2
    await store.set_access(other.id, AGG, False)
    assert not await store.has_access(other.id, AGG)
    assert await store.end_devices_visible_to(AGG, 0, 10) == Page(1, [mine])
    assert await store.end_devices_visible_to(OTHER_AGG, 0, 10) == Page(1, [other])


async def test_a_grant_to_an_owned_device_does_not_count_it_twice(store):
    mine = await store.create_end_device(device(1, owner=AGG))
    await store.set_access(mine.id, AGG, True)
    assert await store.end_devices_visible_to(AGG, 0, 10) == Page(1, [mine])


async def test_access_grants_are_listed_by_client(store):
    edev = await store.create_end_device(device(1))
    for client in (OTHER_AGG, AGG, lfdi_of(3)):
        await store.set_access(edev.id, client, True)
    assert await store.access_grants(edev.id) == sorted([OTHER_AGG, AGG, lfdi_of(3)])


async def test_a_stranger_sees_nothing(store):
    await _fleet(store, [1, 2])
    assert await store.end_devices_visible_to(lfdi_of(0xBEEF), 0, 10) == Page(0, [])


async def test_changed_after_keeps_those_changed_at_or_after_it(store):
    times = {1: 100, 2: 200, 3: 300, 4: 200}
    made = {n: await store.create_end_device(device(n, sfdi=10 * n, owner=AGG, changed=t)) for n, t in times.items()}
    page = await store.end_devices_visible_to(AGG, 0, 10, changed_after=200)
    assert page == Page(3, [made[2], made[3], made[4]])
    assert await store.end_devices_visible_to(AGG, 1, 1, changed_after=200) == Page(3, [made[3]])
    assert (await store.end_devices_visible_to(AGG, 0, 10, changed_after=301)).all == 0
    assert (await store.end_devices_visible_to(AGG, 0, 10, changed_after=0)).all == 4


async def test_an_update_moves_an_end_device_into_a_changed_after_window(store):
    made = await store.create_end_device(device(1, owner=AGG, changed=100))
    assert (await store.end_devices_visible_to(AGG, 0, 10, changed_after=500)).all == 0
    await store.update_end_device(replace(made, changedTime=600))
    assert (await store.end_devices_visible_to(AGG, 0, 10, changed_after=500)).items == [replace(made, changedTime=600)]


async def test_disabled_end_devices_stay_in_the_list(store):
    made = await store.create_end_device(device(1, owner=AGG, enabled=False))
    assert await store.end_devices_visible_to(AGG, 0, 10) == Page(1, [made])


async def test_lfdis_acted_for(store):
    a = await store.create_end_device(device(1, owner=AGG))
    b = await store.create_end_device(device(2, owner=OTHER_AGG))
    await store.create_end_device(device(3, owner=OTHER_AGG))
    await store.set_access(b.id, AGG, True)
    assert await store.lfdis_acted_for(AGG) == sorted({AGG, a.lFDI, b.lFDI})
    assert await store.lfdis_acted_for(lfdi_of(0xBEEF)) == [lfdi_of(0xBEEF)]


async def test_client_revocation(store):
    client = lfdi_of(0xC0)
    assert await store.client_revoked_at(client) is None
    await store.set_client_access(client, False, 1234)
    assert await store.client_revoked_at(client) == 1234
    await store.set_client_access(client, False, 9999)  # revoking again keeps the first time
    assert await store.client_revoked_at(client) == 1234
    await store.set_client_access(client, True, 2000)
    assert await store.client_revoked_at(client) is None
