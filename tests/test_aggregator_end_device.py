"""CSIP-AUS: an aggregator's own EndDevice (/edev/0), which carries its SubscriptionList."""

from __future__ import annotations

import sqlite3

import pytest
from lxml import etree

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import der_controls
from der_gateway.store.migrations import MIGRATIONS
from der_gateway.store.sqlite import SQLiteStore
from der_gateway.xsd import load_schemas

from . import documents
from .test_control_plane import T0, control
from .test_notifications import Receiver, free_port, subscription


def decoded(reply, cls):
    assert reply.status == 200, (reply.status, reply.reason)
    return codec.decode(reply.element, cls)


def aus_notifications(receiver: Receiver) -> list[model.Notification]:
    result = []
    for _, body in receiver.received:
        element = etree.fromstring(body)
        assert load_schemas("csip-aus").errors(element) == []
        result.append(codec.decode(element, model.Notification))
    return result


async def register(client, lfdi: str) -> str:
    reply = await client.post("/edev", documents.end_device(lfdi))
    assert reply.status == 201, reply.reason
    return reply.headers["Location"]


@pytest.fixture
async def receiver():
    r = Receiver(free_port())
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def aus(make_harness, identities):
    """csip-aus, the aggregator having registered device1 and device2; device1 is in a group with a program."""
    clock = ManualClock(T0)
    h = make_harness(clock=clock, profile="csip-aus", notification_allow=("http://127.0.0.1:",),
                     notification_allow_addresses=("127.0.0.1/32",),
                     max_subscriptions_per_client=2)
    await h.start()
    aggregator = h.client("aggregator")
    dev1 = await register(aggregator, identities["device1"].lfdi)
    dev2 = await register(aggregator, identities["device2"].lfdi)
    group = await h.store.create_group(new_mrid(Pen(40732, decimal=True)), "feeder")
    await h.store.set_membership(group, [int(dev1.rsplit("/", 1)[1])], True)
    program = await h.store.create_program(new_mrid(Pen(40732, decimal=True)), "export limits", 1)
    await h.store.set_group_program(group, program, True)
    yield h, aggregator, dev1, dev2, program, clock
    await h.stop()


async def test_the_aggregator_sees_its_own_end_device_first(aus, identities):
    h, aggregator, dev1, dev2, program, clock = aus
    me = identities["aggregator"]
    listed = decoded(await aggregator.get("/edev?l=10"), model.EndDeviceList)
    assert (listed.all, listed.results) == (3, 3)
    own, *registered = listed.EndDevice
    assert own.href == "/edev/0"
    assert (own.lFDI, own.sFDI) == (me.lfdi, me.sfdi)
    assert own.SubscriptionListLink == model.ListLink(href="/edev/0/sub", all=0)
    # it is the aggregator, not a DER: nothing but its identity and its SubscriptionList
    assert (own.FunctionSetAssignmentsListLink, own.DERListLink, own.RegistrationLink, own.LogEventListLink,
            own.ConnectionPointLink, own.subscribable) == (None, None, None, None, None, 0)
    assert own.changedTime == await h.store.aggregator_created(me.lfdi)
    # the EndDevices it registered carry no SubscriptionList: it subscribes through its own
    assert sorted(e.href for e in registered) == sorted([dev1, dev2])
    assert all(e.SubscriptionListLink is None and e.FunctionSetAssignmentsListLink is not None for e in registered)
    assert decoded(await aggregator.get("/edev/0"), model.EndDevice) == own
    assert decoded(await aggregator.get(dev1), model.EndDevice).SubscriptionListLink is None

    # paging counts it: first on the first page, and the stored EndDevices follow
    first = decoded(await aggregator.get("/edev"), model.EndDeviceList)
    assert (first.all, first.results, first.EndDevice[0].href) == (3, 1, "/edev/0")
    pages = [decoded(await aggregator.get(f"/edev?s={s}&l=1"), model.EndDeviceList).EndDevice[0].href
             for s in range(3)]
    assert pages == [e.href for e in listed.EndDevice]
    assert [e.href for e in decoded(await aggregator.get("/edev?s=1&l=5"), model.EndDeviceList).EndDevice] \
        == [e.href for e in registered]
    beyond = decoded(await aggregator.get("/edev?s=3&l=5"), model.EndDeviceList)
    assert (beyond.all, beyond.results) == (3, 0)
    later = decoded(await aggregator.get(f"/edev?a={own.changedTime + 10**9}&l=5"), model.EndDeviceList)
    assert (later.all, later.results) == (0, 0)
    dcap = decoded(await aggregator.get("/dcap"), model.DeviceCapability)
    assert dcap.EndDeviceListLink.all == 3

    # another aggregator sees its own at the same place, and none of the first one's
    other = h.client("aggregator2")
    theirs = decoded(await other.get("/edev?l=10"), model.EndDeviceList)
    assert [(e.href, e.lFDI) for e in theirs.EndDevice] == [("/edev/0", identities["aggregator2"].lfdi)]


async def test_it_cannot_be_registered_changed_or_deleted(aus, identities):
    h, aggregator, dev1, dev2, program, clock = aus
    before = h.snapshot()
    again = await aggregator.post("/edev", documents.end_device(identities["aggregator"].lfdi))
    assert again.status == 409 and "/edev/0" in again.reason
    changed = await aggregator.put("/edev/0", documents.end_device(identities["aggregator"].lfdi))
    assert changed.status == 403 and "own EndDevice" in changed.reason
    deleted = await aggregator.delete("/edev/0")
    assert deleted.status == 403 and "own EndDevice" in deleted.reason
    for path in ("/edev/0/fsa", "/edev/0/der", "/edev/0/rg", "/edev/0/lel", "/edev/0/cp"):
        assert (await aggregator.get(path)).status == 404, path
    assert h.snapshot() == before


async def test_a_device_keeps_its_own_subscription_list(aus, identities, receiver):
    h, aggregator, dev1, dev2, program, clock = aus
    device = h.client("device1")
    assert (await device.get("/edev/0")).status == 404
    mine = decoded(await device.get("/edev?l=10"), model.EndDeviceList)
    assert [(e.href, e.SubscriptionListLink.href) for e in mine.EndDevice] == [(dev1, f"{dev1}/sub")]
    reply = await device.post(f"{dev1}/sub", subscription(f"/derp/{program}/derc", receiver.uri))
    assert reply.status == 201 and reply.headers["Location"].startswith(f"{dev1}/sub/")
    assert (await device.post("/edev/0/sub", subscription(f"/derp/{program}/derc", receiver.uri))).status == 404


async def test_the_aggregator_subscribes_through_its_own_end_device(aus, identities, receiver):
    h, aggregator, dev1, dev2, program, clock = aus
    reply = await aggregator.post("/edev/0/sub", subscription(f"/derp/{program}/derc", receiver.uri))
    assert reply.status == 201
    sub_href = reply.headers["Location"]
    assert sub_href.startswith("/edev/0/sub/")
    listed = decoded(await aggregator.get("/edev/0/sub?l=10"), model.SubscriptionList)
    assert (listed.href, [s.href for s in listed.Subscription]) == ("/edev/0/sub", [sub_href])
    assert decoded(await aggregator.get(sub_href), model.Subscription).subscribedResource == f"/derp/{program}/derc"
    assert decoded(await aggregator.get("/edev/0"), model.EndDevice).SubscriptionListLink.all == 1
    # the lists of the EndDevices it acts for are not where it subscribes
    assert (await store_subscriptions(h, dev1)) == []

    event = await der_controls.create_event(h.store, clock, Pen(40732, decimal=True), program, control(T0 + 60, 300))
    await h.server.background.settle()
    (note,) = aus_notifications(receiver)
    assert (note.subscriptionURI, note.subscribedResource, note.status) == (sub_href, f"/derp/{program}/derc", 0)
    assert [c.mRID for c in note.Resource.DERControl] == [event.mRID]

    # a device's FSA list and the device itself, through the same list
    for resource in (f"{dev1}/fsa", dev2):
        assert (await aggregator.post("/edev/0/sub", subscription(resource, receiver.uri))).status == 201
    group2 = await h.store.create_group(new_mrid(Pen(40732, decimal=True)), "second")
    await h.store.set_membership(group2, [int(dev1.rsplit("/", 1)[1])], True, changed=[f"{dev1}/fsa"])
    await h.server.background.settle()
    fsa_note = aus_notifications(receiver)[-1]
    assert (fsa_note.subscribedResource, fsa_note.Resource.all) == (f"{dev1}/fsa", 2)
    assert fsa_note.subscriptionURI.startswith("/edev/0/sub/")

    # deleting a device it subscribed to ends that subscription, with status 4
    assert (await aggregator.delete(dev2)).status == 204
    await h.server.background.settle()
    gone = aus_notifications(receiver)[-1]
    assert (gone.subscribedResource, gone.status) == (dev2, 4)
    assert len(decoded(await aggregator.get("/edev/0/sub?l=10"), model.SubscriptionList).Subscription) == 2

    # unsubscribing says goodbye
    assert (await aggregator.delete(sub_href)).status == 204
    await h.server.background.settle()
    farewell = aus_notifications(receiver)[-1]
    assert (farewell.subscriptionURI, farewell.status, farewell.Resource) == (sub_href, 1, None)
    assert (await aggregator.get(sub_href)).status == 404


async def store_subscriptions(h, edev: str) -> list:
    return await h.store.subscriptions(int(edev.rsplit("/", 1)[1]))


async def test_subscriptions_in_the_aggregators_list_are_checked_and_capped(aus, identities, receiver):
    h, aggregator, dev1, dev2, program, clock = aus
    before = h.snapshot()
    # not through the lists of the EndDevices it acts for
    refused = await aggregator.post(f"{dev1}/sub", subscription(f"/derp/{program}/derc", receiver.uri))
    assert refused.status == 403 and "/edev/0/sub" in refused.reason
    # only what it may see
    outside = await aggregator.post("/edev/0/sub", subscription("/derp/999/derc", receiver.uri))
    assert outside.status == 400 and "subscribable" in outside.reason
    assert h.snapshot() == before
    other = h.client("aggregator2")
    foreign = await register(other, identities["device3"].lfdi)
    before = h.snapshot()
    assert (await aggregator.post("/edev/0/sub", subscription(f"{foreign}/fsa", receiver.uri))).status == 400
    assert h.snapshot() == before

    # per EndDevice it acts for, and one for itself: 2 x (2 + 1)
    for n in range(6):
        reply = await aggregator.post("/edev/0/sub", subscription(f"/derp/{program}/dderc", receiver.uri))
        assert reply.status == 201, n
    capped = await aggregator.post("/edev/0/sub", subscription(f"/derp/{program}/dc", receiver.uri))
    assert capped.status == 400 and codec.decode(capped.element, model.Error).reasonCode == 2

    # each aggregator's list is its own
    mine = decoded(await aggregator.get("/edev/0/sub?l=10"), model.SubscriptionList)
    assert mine.all == 6
    theirs = decoded(await other.get("/edev/0/sub?l=10"), model.SubscriptionList)
    assert (theirs.all, theirs.Subscription) == (0, [])
    assert (await other.get(mine.Subscription[0].href)).status == 404
    assert (await other.delete(mine.Subscription[0].href)).status == 404


async def test_under_csip_an_aggregator_has_no_end_device_of_its_own(make_harness, identities, receiver):
    h = make_harness(notification_allow=("http://127.0.0.1:",), notification_allow_addresses=("127.0.0.1/32",))
    await h.start()
    try:
        aggregator = h.client("aggregator")
        dev1 = await register(aggregator, identities["device1"].lfdi)
        assert (await aggregator.get("/edev/0")).status == 404
        listed = decoded(await aggregator.get("/edev?l=10"), model.EndDeviceList)
        assert [(e.href, e.SubscriptionListLink.href) for e in listed.EndDevice] == [(dev1, f"{dev1}/sub")]
        assert decoded(await aggregator.get("/dcap"), model.DeviceCapability).EndDeviceListLink.all == 1
        assert (await aggregator.post("/edev/0/sub", subscription(f"{dev1}/fsa", receiver.uri))).status == 404
        reply = await aggregator.post(f"{dev1}/sub", subscription(f"{dev1}/fsa", receiver.uri))
        assert reply.status == 201 and reply.headers["Location"].startswith(f"{dev1}/sub/")
    finally:
        await h.stop()


async def test_subscriptions_survive_the_schema_upgrade(tmp_path):
    """A store from before aggregator EndDevices keeps its subscriptions and their id sequence."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "der-gateway.sqlite3", isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
    conn.execute("INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at) "
                 "VALUES ('AB', 1, 'AB', 0, 0, 0)")
    conn.executemany("INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body) VALUES (1, 'AB', ?, '{}')",
                     [("/edev/1",), ("/edev/1/fsa",), ("/fsa/1/derp",)])
    conn.execute("DELETE FROM subscriptions WHERE id = 3")
    conn.close()

    store = await SQLiteStore.open(data_dir)
    try:
        assert [(s.id, s.end_device_id, s.resource) for s in await store.subscriptions(1)] == [
            (1, 1, "/edev/1"), (2, 1, "/edev/1/fsa")]
        assert await store.add_subscription(None, "CD", "/edev", {}) == 4  # id 3 is not handed out again
        assert [s.id for s in await store.aggregator_subscriptions("CD")] == [4]
        assert await store.count_subscriptions("CD", None) == 1 and await store.count_subscriptions("AB", 1) == 2
    finally:
        await store.close()
