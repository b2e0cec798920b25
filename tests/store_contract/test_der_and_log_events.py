"""DER documents (DERCapability, DERSettings, DERStatus, DERAvailability) and LogEvents."""

from __future__ import annotations

import pytest

from der_gateway.store.base import DER_DOCUMENT_KINDS

from .conftest import device


@pytest.fixture
async def edev(store):
    return (await store.create_end_device(device(1))).id


async def test_a_document_never_put_is_none(store, edev):
    for kind in DER_DOCUMENT_KINDS:
        assert await store.der_document(edev, 1, kind) is None


async def test_put_creates_then_replaces(store, edev):
    first = {"type": 4, "rtgMaxW": {"value": 5000, "multiplier": 0}, "modesSupported": "00000001"}
    assert await store.put_der_document(edev, 1, "dercap", first) is True
    assert await store.der_document(edev, 1, "dercap") == first
    second = {"type": 83, "rtgMaxW": {"value": 6, "multiplier": 3}}
    assert await store.put_der_document(edev, 1, "dercap", second) is False
    assert await store.der_document(edev, 1, "dercap") == second


async def test_each_kind_is_its_own_document(store, edev):
    bodies = {kind: {"kind": kind, "n": i} for i, kind in enumerate(DER_DOCUMENT_KINDS)}
    for kind, body in bodies.items():
        assert await store.put_der_document(edev, 1, kind, body) is True
    for kind, body in bodies.items():
        assert await store.der_document(edev, 1, kind) == body


async def test_documents_of_one_end_device_are_not_another_s(store, edev):
    other = (await store.create_end_device(device(2))).id
    await store.put_der_document(edev, 1, "ders", {"genConnectStatus": {"value": "01", "dateTime": 1}})
    assert await store.der_document(other, 1, "ders") is None


async def test_nested_json_round_trips_exactly(store, edev):
    body = {"a": [1, 2, {"b": None, "c": "é"}], "d": True, "e": -2**40, "f": "0x00"}
    await store.put_der_document(edev, 1, "dera", body)
    assert await store.der_document(edev, 1, "dera") == body


# -- LogEvents -------------------------------------------------------------------------------

def log(created: int, event_id: int, **extra) -> dict:
    return {"createdDateTime": created, "logEventID": event_id, "logEventCode": 1, "logEventPEN": 40732,
            "functionSet": 0, "profileID": 0, **extra}


async def test_a_log_event_reads_back_by_its_id(store, edev):
    body = log(100, 7, details="hello")
    lid = await store.add_log_event(edev, body)
    assert await store.log_event(edev, lid) == body


async def test_a_log_event_is_not_found_under_another_end_device(store, edev):
    other = (await store.create_end_device(device(2))).id
    lid = await store.add_log_event(edev, log(100, 1))
    assert await store.log_event(other, lid) is None
    assert await store.log_event(edev, lid + 1000) is None


async def test_log_events_newest_first_then_by_log_event_id_descending(store, edev):
    """2030.5 LogEventList: createdDateTime descending, then logEventID descending."""
    ids = {}
    for created, event_id in ((100, 1), (300, 1), (200, 5), (200, 9), (200, 2), (50, 99)):
        ids[(created, event_id)] = await store.add_log_event(edev, log(created, event_id))
    page = await store.log_events(edev, 0, 10)
    assert page.all == 6
    assert [(d["createdDateTime"], d["logEventID"]) for _, d in page.items] == [
        (300, 1), (200, 9), (200, 5), (200, 2), (100, 1), (50, 99)]
    assert [i for i, _ in page.items] == [ids[(d["createdDateTime"], d["logEventID"])] for _, d in page.items]


async def test_equal_log_events_come_newest_posted_first(store, edev):
    first = await store.add_log_event(edev, log(100, 1, details="first"))
    second = await store.add_log_event(edev, log(100, 1, details="second"))
    assert [i for i, _ in (await store.log_events(edev, 0, 10)).items] == [second, first]


async def test_log_event_paging(store, edev):
    for created in range(1, 8):
        await store.add_log_event(edev, log(created, 0))
    times = lambda page: [d["createdDateTime"] for _, d in page.items]  # noqa: E731
    assert times(await store.log_events(edev, 0, 3)) == [7, 6, 5]
    assert times(await store.log_events(edev, 3, 3)) == [4, 3, 2]
    assert times(await store.log_events(edev, 6, 3)) == [1]
    assert times(await store.log_events(edev, 7, 3)) == []
    assert (await store.log_events(edev, 7, 3)).all == 7
    assert (await store.log_events(edev, 0, 0)).items == []
    assert (await store.log_events(edev, 0, 0)).all == 7


async def test_after_keeps_those_created_at_or_after_it(store, edev):
    for created in (10, 20, 30, 40):
        await store.add_log_event(edev, log(created, 0))
    page = await store.log_events(edev, 0, 10, after=20)
    assert page.all == 3
    assert [d["createdDateTime"] for _, d in page.items] == [40, 30, 20]
    assert [d["createdDateTime"] for _, d in (await store.log_events(edev, 1, 1, after=20)).items] == [30]
    assert (await store.log_events(edev, 0, 10, after=41)).all == 0


async def test_log_events_of_another_end_device_are_not_listed(store, edev):
    other = (await store.create_end_device(device(2))).id
    await store.add_log_event(other, log(1, 1))
    assert (await store.log_events(edev, 0, 10)).all == 0
