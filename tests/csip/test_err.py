"""CSIP conformance, Error Handling (ERR): the server's side of ERR-002 (ERR-001 has none; see CONFORMANCE.md)."""

from __future__ import annotations

from der_gateway.sep import model

from .support import get, get_all, subscribe, walk


async def test_ERR_002_subscription_errors(csip, identities, receiver):
    """A subscription survives a restart and is notified afterwards, cut to its limit; the server cancels one with
    a status-1 Notification naming it; a Notification the client answers 400 ends that subscription without a
    word, and nothing more is sent for it."""
    op, me = csip.operator, identities["device1"]
    edev_id = await op.end_device(me.lfdi)
    await op.group("feeder", edev_id)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    fsa_href = found.edev.FunctionSetAssignmentsListLink.href
    location = await subscribe(device, found.edev, fsa_href, receiver.uri, limit=1)

    await csip.restart()  # a power reset: subscriptions are kept
    device = csip.client("device1")
    await op.group("second feeder", edev_id)
    await csip.settle()
    (note,) = receiver.take()
    assert (note.subscriptionURI, note.subscribedResource, note.status) == (location, fsa_href, 0)
    assert (note.Resource.all, note.Resource.results) == (2, 1)
    assert note.Resource == await get(device, f"{fsa_href}?l=1", model.FunctionSetAssignmentsList)

    sub_id = int(location.rsplit("/", 1)[1])
    await op.ok("DELETE", f"/end-devices/{edev_id}/subscriptions/{sub_id}")
    await csip.settle()
    (farewell,) = receiver.take()
    assert (farewell.status, farewell.subscriptionURI, farewell.Resource) == (1, location, None)

    again = await subscribe(device, found.edev, fsa_href, receiver.uri)
    receiver.status = 400  # the client refuses what it is sent
    third = await op.group("third feeder", edev_id)
    await csip.settle()
    assert len(receiver.take()) == 1
    assert (await device.get(again)).status == 404
    assert (await get_all(device, found.edev.SubscriptionListLink.href, model.SubscriptionList)).all == 0
    receiver.status = 201
    await op.ok("DELETE", f"/groups/{third}/members/{edev_id}")
    await csip.settle()
    assert receiver.take() == [] and await csip.harness.store.outbox_size() == 0
