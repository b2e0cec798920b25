"""Subscriptions and Notifications end to end, to a real local receiver."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web
from lxml import etree

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import der_controls
from der_gateway.xsd import load_schemas

from . import documents
from .test_control_plane import T0, control

PEN = Pen(40732)

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


class Receiver:
    """A notificationURI endpoint: an aiohttp server on loopback recording what it is sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[tuple[str, bytes]] = []
        self.runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            assert request.content_type == "application/sep+xml"
            self.received.append((request.path, await request.read()))
            self.arrived.set()
            return web.Response(status=201)

        app = web.Application()
        app.router.add_post("/notify", handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()

    def notifications(self) -> list[model.Notification]:
        result = []
        for _, body in self.received:
            element = etree.fromstring(body)
            assert load_schemas("csip").errors(element) == []
            result.append(codec.decode(element, model.Notification))
        return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def receiver():
    r = Receiver(free_port())
    await r.start()
    yield r
    if r.runner is not None:
        await r.stop()


@pytest.fixture
async def world(make_harness, identities):
    clock = ManualClock(T0)
    h = make_harness(clock=clock, notification_allow=("http://127.0.0.1:",),
                     notification_allow_addresses=("127.0.0.1/32",), max_subscriptions_per_client=3)
    await h.start()
    device = h.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    edev_id = int(edev.rsplit("/", 1)[1])
    group = await h.store.create_group(new_mrid(PEN), "feeder")
    await h.store.set_membership(group, [edev_id], True)
    program = await h.store.create_program(new_mrid(PEN), "export limits", 1)
    await h.store.set_group_program(group, program, True)
    yield h, device, edev, program, clock
    await h.stop()


def subscription(resource: str, uri: str, limit: int = 10) -> bytes:
    return codec.encode(model.Subscription(subscribedResource=resource, encoding=0, level="-S1", limit=limit,
                                           notificationURI=uri))


async def test_a_new_event_is_pushed_to_subscribers(world, receiver):
    h, device, edev, program, clock = world
    reply = await device.post(f"{edev}/sub", subscription(f"/derp/{program}/derc", receiver.uri))
    assert reply.status == 201
    sub_href = reply.headers["Location"]
    listed = codec.decode((await device.get(f"{edev}/sub?l=10")).element, model.SubscriptionList)
    assert [s.href for s in listed.Subscription] == [sub_href]

    event = await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 60, 300))
    await h.server.background.settle()
    (note,) = receiver.notifications()
    assert note.subscriptionURI == sub_href and note.status == 0
    assert isinstance(note.Resource, model.DERControlList)
    assert [c.mRID for c in note.Resource.DERControl] == [event.mRID]
    assert etree.fromstring(receiver.received[0][1]).find("{*}Resource").get(XSI_TYPE) == "DERControlList"

    # the start of the event is a change too
    clock.set(T0 + 60)
    await h.server.background.settle()
    started = receiver.notifications()[-1]
    assert started.Resource.DERControl[0].EventStatus.currentStatus == 1

    # unsubscribing says goodbye, and nothing more follows
    assert (await device.delete(sub_href)).status == 204
    await h.server.background.settle()
    farewell = receiver.notifications()[-1]
    assert (farewell.status, farewell.Resource) == (1, None)
    count = len(receiver.received)
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 600, 300))
    await h.server.background.settle()
    assert len(receiver.received) == count


async def test_limit_zero_sends_an_empty_list(world, receiver):
    h, device, edev, program, clock = world
    await device.post(f"{edev}/sub", subscription(f"/derp/{program}/derc", receiver.uri, limit=0))
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 60, 300))
    await h.server.background.settle()
    (note,) = receiver.notifications()
    assert (note.Resource.all, note.Resource.results, note.Resource.DERControl) == (1, 0, [])


async def test_end_device_and_membership_changes_are_pushed(world, receiver):
    h, device, edev, program, clock = world
    edev_id = int(edev.rsplit("/", 1)[1])
    await device.post(f"{edev}/sub", subscription(f"{edev}/fsa", receiver.uri))
    group2 = await h.store.create_group(new_mrid(PEN), "second")
    await h.store.set_membership(group2, [edev_id], True, changed=[f"{edev}/fsa"])
    await h.server.background.settle()
    (note,) = receiver.notifications()
    assert note.Resource.all == 2

    await device.post(f"{edev}/sub", subscription(edev, receiver.uri))
    assert (await device.delete(edev)).status == 204
    await h.server.background.settle()
    statuses = sorted(n.status for n in receiver.notifications()[1:])
    assert statuses == [4, 4]  # both watched resources are gone


async def test_subscriptions_are_checked(world, receiver, identities):
    h, device, edev, program, clock = world
    before = h.snapshot()
    outside = await device.post(f"{edev}/sub", subscription("/derp/999/derc", receiver.uri))
    assert outside.status == 400 and "subscribable" in outside.reason
    not_allowed = await device.post(f"{edev}/sub", subscription(f"/derp/{program}/derc", "http://10.1.2.3/n"))
    assert not_allowed.status == 400 and "not allowed" in not_allowed.reason
    assert (await device.post(f"{edev}/sub", subscription("/tm", receiver.uri))).status == 400
    assert h.snapshot() == before
    for _ in range(3):
        assert (await device.post(f"{edev}/sub", subscription(f"/derp/{program}/dderc", receiver.uri))).status == 201
    capped = await device.post(f"{edev}/sub", subscription(f"/derp/{program}/dc", receiver.uri))
    assert capped.status == 400 and codec.decode(capped.element, model.Error).reasonCode == 2


@pytest.mark.parametrize("uri, kind", [
    ("http://169.254.169.254/latest/meta-data", "link-local"), ("http://10.1.2.3:8080/n", "private"),
    ("https://[fd12:3456::1]/n", "private"), ("http://[::ffff:192.168.0.1]/n", "private"),
    ("http://127.1:9000/n", "loopback"), ("http://[::1]/n", "loopback"), ("http://0.0.0.0/n", "unspecified"),
    ("http://224.0.0.1/n", "multicast"), ("http://240.0.0.1/n", "reserved")])
async def test_a_notification_uri_naming_a_refused_address_is_refused_at_subscription(make_harness, identities,
                                                                                     uri, kind):
    h = make_harness(notification_allow=("http://", "https://"))
    await h.start()
    try:
        device = h.client("device1")
        edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
        before = h.snapshot()
        reply = await device.post(f"{edev}/sub", subscription(edev, uri))
        assert reply.status == 400 and f"a {kind} address" in reply.reason, reply.reason
        assert h.snapshot() == before
        # a DNS name is checked when notifications are sent, not here
        assert (await device.post(f"{edev}/sub", subscription(edev, "https://localhost/n"))).status == 201
    finally:
        await h.stop()


async def test_the_server_does_not_notify_its_own_listeners(make_harness, identities):
    """Loopback allowed, a client names the server's own admin port: nothing is POSTed there, and the operator
    sees why in the backlog."""
    h = make_harness(clock=ManualClock(T0), notification_allow=("http://127.0.0.1:",),
                     notification_allow_addresses=("127.0.0.1/32",))
    await h.start()
    try:
        await h.server.stop_background()
        device = h.client("device1")
        edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
        own = f"{h.server.admin_url}/notifications/backlog"
        assert (await device.post(f"{edev}/sub", subscription("/edev", own))).status == 201
        await admin(h, "PUT", "/rates", {"resource": "edev", "pollRate": 30})
        await h.server.background.settle()
        headers = {"Authorization": "Bearer test-admin-token-0123456789"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(h.server.admin_url + "/notifications/backlog") as resp:
                backlog = await resp.json()
        port = h.server.admin_port
        assert backlog["failing"] == [{
            "notificationURI": own, "attempts": 1, "nextAttempt": T0 + 1,
            "lastError": f"RefusedAddress: 127.0.0.1 port {port} is this server's own listener"}]
    finally:
        await h.stop()


async def test_a_receiver_that_is_down_gets_everything_later_even_across_a_restart(world):
    h, device, edev, program, clock = world
    receiver = Receiver(free_port())  # not started: nothing listens yet
    await device.post(f"{edev}/sub", subscription(f"/derp/{program}/derc", receiver.uri))
    first = await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 60, 300))
    await h.server.background.settle()
    clock.advance(5)
    second = await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 900, 300))
    await h.server.background.settle()
    assert await h.store.outbox_size() == 2

    await h.restart()
    await h.server.stop_background()  # settle() alone drives the restarted server, so each step is the test's
    await receiver.start()
    try:
        clock.advance(600)  # past any backoff
        await h.server.background.settle()
        notes = receiver.notifications()
        # both queued notifications, in order; then the list as it is now, the first event having
        # started and ended while the receiver was away
        assert [[c.mRID for c in n.Resource.DERControl] for n in notes] == [
            [first.mRID], [first.mRID, second.mRID], [second.mRID]]
        assert await h.store.outbox_size() == 0
    finally:
        await receiver.stop()


async def admin(h, method: str, path: str, body: dict | None = None) -> int:
    """A call to the server's admin API (conftest's make_harness sets its token)."""
    headers = {"Authorization": "Bearer test-admin-token-0123456789"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.request(method, h.server.admin_url + path, json=body) as resp:
            assert resp.status < 300, (method, path, resp.status, await resp.text())
            return resp.status


@pytest.fixture
async def aggregator_world(make_harness, identities, receiver):
    """An aggregator with its own EndDevice, subscribed to its EndDeviceList (/edev)."""
    h = make_harness(clock=ManualClock(T0), notification_allow=("http://127.0.0.1:",),
                     notification_allow_addresses=("127.0.0.1/32",))
    await h.start()
    await h.server.stop_background()  # settle() alone fans out and delivers, so each test sees every step
    agg = h.client("aggregator")
    own = (await agg.post("/edev", documents.end_device(identities["aggregator"].lfdi))).headers["Location"]
    reply = await agg.post(f"{own}/sub", subscription("/edev", receiver.uri, limit=10))
    assert reply.status == 201
    yield h, agg, own, reply.headers["Location"]
    await h.stop()


def listed(receiver, subscription_href: str) -> list[str]:
    """The EndDevice hrefs of the latest EndDeviceList notification for that subscription."""
    note = [n for n in receiver.notifications() if n.subscriptionURI == subscription_href][-1]
    assert note.subscribedResource == "/edev" and note.status == 0
    assert isinstance(note.Resource, model.EndDeviceList) and note.Resource.results == len(note.Resource.EndDevice)
    return sorted(e.href for e in note.Resource.EndDevice)


async def test_a_subscription_hears_only_of_changes_made_after_it(aggregator_world, receiver, identities):
    """S-ALL-25: a change logged, but not yet fanned out, before a subscription was made is already in what its
    client reads next; that subscription is told of later changes only."""
    h, agg, own, first = aggregator_world
    await h.server.background.settle()
    count = len(receiver.received)
    assert (await agg.post("/edev", documents.end_device(identities["device1"].lfdi))).status == 201
    second = (await agg.post(f"{own}/sub", subscription("/edev", receiver.uri, limit=10))).headers["Location"]
    await h.server.background.settle()
    assert [n.subscriptionURI for n in receiver.notifications()[count:]] == [first]
    await admin(h, "PUT", "/rates", {"resource": "edev", "pollRate": 30})
    await h.server.background.settle()
    told = receiver.notifications()[count + 1:]
    assert sorted(n.subscriptionURI for n in told) == sorted([first, second])
    assert {n.Resource.pollRate for n in told} == {30}


async def test_the_operator_sees_what_is_still_owed_to_subscribers(aggregator_world, receiver, identities):
    h, agg, own, sub = aggregator_world

    async def backlog() -> dict:
        headers = {"Authorization": "Bearer test-admin-token-0123456789"}
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.get(h.server.admin_url + "/notifications/backlog") as resp:
                assert resp.status == 200
                return await resp.json()

    await h.server.background.settle()
    assert await backlog() == {"pendingChanges": 0, "queued": 0, "due": 0, "failing": []}
    assert (await agg.post("/edev", documents.end_device(identities["device1"].lfdi))).status == 201
    assert (await backlog())["pendingChanges"] >= 1
    while await h.server.background.notifier.fan_out_pending():
        pass
    assert await backlog() == {"pendingChanges": 0, "queued": 1, "due": 1, "failing": []}
    await h.server.background.delivery.deliver_due()
    assert await backlog() == {"pendingChanges": 0, "queued": 0, "due": 0, "failing": []}
    assert [n.subscriptionURI for n in receiver.notifications()][-1] == sub


async def test_the_end_device_list_is_subscribable_and_tells_each_client_of_its_own(aggregator_world, receiver,
                                                                                   identities):
    h, agg, own, sub = aggregator_world
    got = codec.decode((await agg.get("/edev")).element, model.EndDeviceList)
    assert got.subscribable == 1

    dev1 = (await agg.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    await h.server.background.settle()
    assert listed(receiver, sub) == sorted([own, dev1])

    # another client registering its own EndDevice changes nothing the aggregator sees
    count = len(receiver.received)
    device2 = h.client("device2")
    dev2 = (await device2.post("/edev", documents.end_device(identities["device2"].lfdi))).headers["Location"]
    await h.server.background.settle()
    assert len(receiver.received) == count

    # S-ALL-25: the operator sets the list's pollRate
    await admin(h, "PUT", "/rates", {"resource": "edev", "pollRate": 30})
    await h.server.background.settle()
    assert receiver.notifications()[-1].Resource.pollRate == 30
    count = len(receiver.received)
    await admin(h, "PUT", "/rates", {"resource": "edev", "pollRate": 30})  # no change, nothing to tell
    await h.server.background.settle()
    assert len(receiver.received) == count

    # a change to an EndDevice in the list
    assert (await agg.put(dev1, documents.end_device(identities["device1"].lfdi, changed=T0 + 5))).status == 204
    await h.server.background.settle()
    changed = [e for e in receiver.notifications()[-1].Resource.EndDevice if e.href == dev1]
    assert changed[0].changedTime == T0 + 5

    # an operator's grant puts another client's EndDevice in the list, and taking it back removes it
    dev2_id, agg_lfdi = dev2.rsplit("/", 1)[1], identities["aggregator"].lfdi
    await admin(h, "PUT", f"/end-devices/{dev2_id}/access/{agg_lfdi}")
    await h.server.background.settle()
    assert listed(receiver, sub) == sorted([own, dev1, dev2])
    await admin(h, "DELETE", f"/end-devices/{dev2_id}/access/{agg_lfdi}")
    await h.server.background.settle()
    assert listed(receiver, sub) == sorted([own, dev1])

    # deleting an EndDevice takes it out
    assert (await agg.delete(dev1)).status == 204
    await h.server.background.settle()
    assert listed(receiver, sub) == [own]


async def test_the_operator_deletes_an_end_device_as_its_client_would(aggregator_world, receiver, identities):
    h, agg, own, sub = aggregator_world
    device = h.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    edev_id = int(edev.rsplit("/", 1)[1])
    await device.put(f"{edev}/der/1/ders", codec.encode(documents.der_status()))
    await device.post(f"{edev}/lel", documents.log_event(1, 1700000000))
    assert (await device.post(f"{edev}/sub", subscription(edev, receiver.uri))).status == 201
    assert (await device.post(f"{edev}/sub", subscription("/edev", receiver.uri))).status == 201
    await admin(h, "PUT", f"/end-devices/{edev_id}/access/{identities['aggregator'].lfdi}")
    await h.server.background.settle()
    assert listed(receiver, sub) == sorted([own, edev])
    count = len(receiver.received)

    assert await admin(h, "DELETE", f"/end-devices/{edev_id}") == 204
    await h.server.background.settle()
    notes = receiver.notifications()[count:]
    assert sorted((n.subscribedResource, n.status) for n in notes) == [
        ("/edev", 0), ("/edev", 1), (edev, 4)]  # the aggregator's list; device1's two subscriptions end
    (aggregator_list,) = [n for n in notes if n.status == 0]
    assert [e.href for e in aggregator_list.Resource.EndDevice] == [own]
    assert await h.store.end_device(edev_id) is None
    assert await h.store.subscriptions(edev_id) == [] and (await h.store.log_events(edev_id, 0, 10)).all == 0
    assert await h.store.der_document(edev_id, 1, "ders") is None
    assert (await device.get(edev)).status == 404


async def test_a_revoked_client_is_sent_nothing(aggregator_world, receiver, identities):
    h, agg, own, sub = aggregator_world
    device2 = h.client("device2")
    dev2_id = (await device2.post("/edev", documents.end_device(identities["device2"].lfdi))).headers["Location"]
    dev2_id = dev2_id.rsplit("/", 1)[1]
    agg_lfdi = identities["aggregator"].lfdi
    await h.server.background.settle()
    count = len(receiver.received)
    await admin(h, "PUT", f"/clients/{agg_lfdi}/access", {"granted": False})
    await admin(h, "PUT", f"/end-devices/{dev2_id}/access/{agg_lfdi}")
    await h.server.background.settle()
    assert len(receiver.received) == count and await h.store.outbox_size() == 0
    await admin(h, "PUT", f"/clients/{agg_lfdi}/access", {"granted": True})
    await admin(h, "DELETE", f"/end-devices/{dev2_id}/access/{agg_lfdi}")
    await h.server.background.settle()
    assert listed(receiver, sub) == [own]
