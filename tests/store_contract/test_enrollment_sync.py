"""Enrollment sync: operational endpoints, messages queued with the change they report, their send order,
and acknowledgements that move an enrollment's sync status."""

from __future__ import annotations

import pytest

from der_gateway.store.base import AckConflict, SyncEndpointRecord

from .conftest import lfdi_of
from .utility_world import NOW, build, enrolled

AGG = lfdi_of(0xA66)


async def test_endpoints_created_listed_updated_and_deleted(store):
    a = await store.create_sync_endpoint("ops", "https://ops.example/sync")
    b = await store.create_sync_endpoint("billing", "https://billing.example/sync")
    assert await store.sync_endpoints() == [SyncEndpointRecord(a, "ops", "https://ops.example/sync"),
                                            SyncEndpointRecord(b, "billing", "https://billing.example/sync")]
    await store.update_sync_endpoint(a, "ops2", "https://ops2.example/")
    assert await store.sync_endpoint(a) == SyncEndpointRecord(a, "ops2", "https://ops2.example/")
    await store.delete_sync_endpoint(b)
    assert await store.sync_endpoint(b) is None
    assert [e.id for e in await store.sync_endpoints()] == [a]


async def test_an_endpoint_name_is_unique(store):
    await store.create_sync_endpoint("ops", "https://a/")
    with pytest.raises(Exception):
        await store.create_sync_endpoint("ops", "https://b/")
    assert len(await store.sync_endpoints()) == 1


async def test_ensure_sync_endpoints_creates_or_repoints(store):
    a = await store.create_sync_endpoint("ops", "https://old/")
    await store.ensure_sync_endpoints({"ops": "https://new/", "dms": "https://dms/"})
    endpoints = {e.name: e for e in await store.sync_endpoints()}
    assert endpoints["ops"] == SyncEndpointRecord(a, "ops", "https://new/")
    assert endpoints["dms"].url == "https://dms/"


async def test_no_endpoint_no_message(store):
    await store.save_aggregator(AGG, {"name": "x"}, NOW, True)
    assert await store.sync_messages() == (0, [])


async def test_each_change_queues_one_message_per_endpoint(store):
    e1 = await store.create_sync_endpoint("a", "https://a/")
    e2 = await store.create_sync_endpoint("b", "https://b/")
    await store.save_aggregator(AGG, {"name": "x"}, NOW, True)
    total, messages = await store.sync_messages()
    assert total == 2 and sorted(m.endpoint_id for m in messages) == [e1, e2]
    for m in messages:
        assert (m.kind, m.state, m.attempts, m.created, m.enrollment_id) == ("aggregator", "queued", 0, NOW, None)
        assert m.body["kind"] == "aggregator" and m.body["aggregator"]["lFDI"] == AGG
        assert await store.sync_message(m.id) == m
    assert await store.sync_counts() == {e1: {"queued": 1}, e2: {"queued": 1}}


async def test_program_rules_are_synced(store):
    await store.create_sync_endpoint("a", "https://a/")
    program = await store.create_program("F" * 32, "p", 1)
    await store.set_program_rules(program, {"code": "P", "eligibility": {}, "constraints": {}}, NOW)
    await store.clear_program_rules(program, NOW)
    _, messages = await store.sync_messages(kind="program-rules")
    assert [m.body["rules"] is None for m in messages] == [False, True]
    assert all(m.body["program"]["id"] == program for m in messages)


async def test_messages_filtered_and_paged_by_id(store):
    e1 = await store.create_sync_endpoint("a", "https://a/")
    await store.create_sync_endpoint("b", "https://b/")
    for i in range(3):
        await store.save_aggregator(lfdi_of(100 + i), {"name": f"agg{i}"}, NOW, True)
    total, page = await store.sync_messages(limit=4)
    assert total == 6 and len(page) == 4 and [m.id for m in page] == sorted(m.id for m in page)
    total, rest = await store.sync_messages(after=page[-1].id, limit=4)
    assert total == 6 and len(rest) == 2 and rest[0].id > page[-1].id
    total, mine = await store.sync_messages(endpoint_id=e1)
    assert total == 3 and all(m.endpoint_id == e1 for m in mine)
    assert (await store.sync_messages(state="sent"))[0] == 0


async def test_each_endpoint_sends_in_order_and_a_retry_holds_it_back(store):
    e1 = await store.create_sync_endpoint("a", "https://a/")
    e2 = await store.create_sync_endpoint("b", "https://b/")
    for i in range(2):
        await store.save_aggregator(lfdi_of(100 + i), {"name": f"agg{i}"}, NOW, True)
    queue1 = await store.sync_queue(e1, 10)
    assert len(queue1) == 2 and queue1[0].id < queue1[1].id
    heads = await store.sync_heads(NOW)
    assert [(h.endpoint_id, h.id) for h in heads] == [(e1, queue1[0].id), (e2, (await store.sync_queue(e2, 1))[0].id)]
    await store.sync_sent(queue1[0].id)
    sent = await store.sync_message(queue1[0].id)
    assert (sent.state, sent.attempts) == ("sent", 1)
    assert {h.endpoint_id: h.id for h in await store.sync_heads(NOW)}[e1] == queue1[1].id
    await store.sync_retry(e1, NOW + 60, "503")
    assert [h.endpoint_id for h in await store.sync_heads(NOW)] == [e2]
    heads = await store.sync_heads(NOW + 60)
    assert sorted(h.endpoint_id for h in heads) == [e1, e2] and [h.id for h in heads] == sorted(h.id for h in heads)
    head = await store.sync_message(queue1[1].id)
    assert (head.attempts, head.last_error, head.next_attempt) == (1, "503", NOW + 60)
    assert await store.next_sync_attempt() == 0  # e2's head is due
    assert await store.sync_counts() == {e1: {"sent": 1, "queued": 1}, e2: {"queued": 2}}


async def test_deleting_an_endpoint_deletes_its_messages(store):
    e1 = await store.create_sync_endpoint("a", "https://a/")
    await store.save_aggregator(AGG, {"name": "x"}, NOW, True)
    await store.delete_sync_endpoint(e1)
    assert await store.sync_messages() == (0, [])
    assert await store.next_sync_attempt() is None


async def test_an_enrollment_is_synchronized_once_every_endpoint_acknowledges(store):
    e1 = await store.create_sync_endpoint("a", "https://a/")
    e2 = await store.create_sync_endpoint("b", "https://b/")
    await build(store)
    enrollment = (await enrolled(store, 1)).enrollment.id
    assert await store.enrollment_sync_status(enrollment) == ("Pending", None)
    _, messages = await store.sync_messages(kind="enrollment", enrollment_id=enrollment)
    assert sorted(m.endpoint_id for m in messages) == [e1, e2]
    assert messages[0].body["enrollment"]["id"] == enrollment and messages[0].body["enrollment"]["status"] == "Enrolled"
    first = await store.acknowledge_sync_message(messages[0].id, True, None, NOW + 5)
    assert first.changed and first.message.state == "acknowledged"
    assert first.enrollment == (enrollment, "Pending", None)
    second = await store.acknowledge_sync_message(messages[1].id, True, None, NOW + 6)
    assert second.enrollment == (enrollment, "Synchronized", None)
    assert await store.enrollment_sync_status(enrollment) == ("Synchronized", None)
    assert (await store.enrollment(enrollment)).sync_status == "Synchronized"


async def test_acknowledging_again_is_idempotent_and_the_other_way_conflicts(store):
    await store.create_sync_endpoint("a", "https://a/")
    await build(store)
    enrollment = (await enrolled(store, 1)).enrollment.id
    [message] = (await store.sync_messages(enrollment_id=enrollment))[1]
    await store.acknowledge_sync_message(message.id, True, None, NOW + 5)
    again = await store.acknowledge_sync_message(message.id, True, None, NOW + 6)
    assert again.changed is False and again.message.state == "acknowledged"
    with pytest.raises(AckConflict):
        await store.acknowledge_sync_message(message.id, False, "no", NOW + 7)
    assert (await store.sync_message(message.id)).state == "acknowledged"
    assert await store.acknowledge_sync_message(message.id + 1000, True, None, NOW) is None


async def test_a_negative_acknowledgement_puts_the_enrollment_in_error(store):
    await store.create_sync_endpoint("a", "https://a/")
    await build(store)
    enrollment = (await enrolled(store, 1)).enrollment.id
    [message] = (await store.sync_messages(enrollment_id=enrollment))[1]
    result = await store.acknowledge_sync_message(message.id, False, "unknown NMI", NOW + 5)
    assert result.message.state == "rejected" and result.message.ack_reason == "unknown NMI"
    assert result.enrollment == (enrollment, "Error", "unknown NMI")
    assert await store.enrollment_sync_status(enrollment) == ("Error", "unknown NMI")
    assert await store.enrollment_sync_status(enrollment + 1000) is None


async def test_an_acknowledgement_before_the_send_is_recorded_stands(store):
    await store.create_sync_endpoint("a", "https://a/")
    await store.save_aggregator(AGG, {"name": "x"}, NOW, True)
    [message] = (await store.sync_messages())[1]
    await store.acknowledge_sync_message(message.id, True, None, NOW)
    await store.sync_sent(message.id)
    assert (await store.sync_message(message.id)).state == "acknowledged"


# -- network locations: substations, feeders and transformers, each an FSA group ------------------------------

def _row(sp: str, transformer: str, feeder: str, substation: str, i: int = 0):
    from der_gateway.domain.network import LocationRow
    return LocationRow(sp, transformer, feeder, substation, f"[{i}]")


async def test_an_import_creates_the_hierarchy_and_puts_enrolled_end_devices_in_its_groups(store):
    from der_gateway.domain.identifiers import Pen
    world = await build(store)
    edev = (await enrolled(store, 1)).end_device.id  # on SP1: S1 / F1 / T1
    await store.create_customer({"externalId": "C2", "name": "n", "status": "active", "accounts": [
        {"externalId": "A2", "servicePoints": [{"externalId": "SP2"}]}]})
    assert await store.unknown_service_points(["SP1", "SP2", "SPX"]) == {"SPX"}
    summary = await store.import_network_locations(
        [_row("SP1", "T7", "F7", "S7", 0), _row("SP2", "T8", "F7", "S7", 1)], "initial", Pen(40732))
    assert (summary.rows, summary.locations_created, summary.end_devices_moved) == (2, 4, 1)
    locations = await store.network_locations()
    assert [(x.kind, x.name) for x in locations] == [("substation", "S7"), ("feeder", "F7"), ("transformer", "T7"),
                                                     ("transformer", "T8")]
    by_name = {x.name: x for x in locations}
    assert by_name["F7"].parent_id == by_name["S7"].id and by_name["T8"].parent_id == by_name["F7"].id
    assert (by_name["T7"].end_device_count, by_name["T7"].service_point_count) == (1, 1)
    assert (by_name["T8"].end_device_count, by_name["T8"].service_point_count) == (0, 1)
    assert [x.name for x in await store.network_locations("transformer")] == ["T7", "T8"]
    in_groups = {g.id for g in await store.groups_of(edev)}
    assert {by_name[n].group_id for n in ("S7", "F7", "T7")} <= in_groups
    assert by_name["T8"].group_id not in in_groups
    assert (await store.service_point(world.service_point)).transformer == "T7"


async def test_an_import_naming_an_unknown_service_point_applies_nothing(store):
    from der_gateway.domain.identifiers import Pen
    from der_gateway.store.base import NetworkImportRejected
    world = await build(store)
    with pytest.raises(NetworkImportRejected) as refused:
        await store.import_network_locations([_row("SP1", "T7", "F7", "S7", 0), _row("NOPE", "T7", "F7", "S7", 1)],
                                             "initial", Pen(40732))
    assert [e["field"] for e in refused.value.errors] == ["[1].servicePoint"]
    assert await store.network_locations() == []
    assert (await store.service_point(world.service_point)).transformer == "T1"
