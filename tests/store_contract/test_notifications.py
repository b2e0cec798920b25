"""Subscriptions, the change log written with each change, and the outbox of notifications."""

from __future__ import annotations

from der_gateway.store.base import OutboxFailure, OutboxItem, SubscriptionRecord

from .conftest import device, lfdi_of

AGG = lfdi_of(0xA66)


async def test_a_subscription_reads_back(store):
    edev = await store.create_end_device(device(1))
    sid = await store.add_subscription(edev.id, edev.lFDI, "/edev/1/der/1/ders", {"limit": 1, "x": [1]})
    record = await store.subscription(sid)
    assert record == SubscriptionRecord(sid, edev.id, edev.lFDI, "/edev/1/der/1/ders", {"limit": 1, "x": [1]},
                                        record.after_change)
    assert await store.subscriptions(edev.id) == [record]
    assert await store.subscriptions_to("/edev/1/der/1/ders") == [record]
    assert await store.subscription(sid + 1) is None


async def test_an_aggregator_s_own_subscription_list(store):
    sid = await store.add_subscription(None, AGG, "/edev", {})
    edev = await store.create_end_device(device(1, owner=AGG))
    other = await store.add_subscription(edev.id, AGG, "/edev/1", {})
    assert [s.id for s in await store.aggregator_subscriptions(AGG)] == [sid]
    assert (await store.subscription(sid)).end_device_id is None
    assert await store.count_subscriptions(AGG, None) == 1
    assert await store.count_subscriptions(AGG, edev.id) == 1
    assert await store.count_subscriptions(lfdi_of(1), None) == 0
    assert [s.id for s in await store.subscriptions(edev.id)] == [other]


async def test_subscribed_resources_are_distinct_and_sorted(store):
    edev = await store.create_end_device(device(1))
    for resource in ("/b", "/a", "/b"):
        await store.add_subscription(edev.id, edev.lFDI, resource, {})
    assert await store.subscribed_resources() == ["/a", "/b"]
    assert [s.resource for s in await store.subscriptions_to("/b")] == ["/b", "/b"]


async def test_writes_log_the_changes_they_name_in_order(store):
    edev = await store.create_end_device(device(1), changed=["/edev"])
    pid = await store.create_program("A" * 32, "p", 1, changed=[("/derp/1", 4)])
    await store.update_end_device(edev, changed=[("/edev", 0, ("BB", "AA", "BB"))])
    await store.set_rate("/dcap", 1, 1, changed=["/dcap"])
    await store.update_program(pid, "q", 1)  # names no change
    pending = await store.pending_changes()
    assert [(href, status, audience) for _, href, status, audience in pending] == [
        ("/edev", 0, None), ("/derp/1", 4, None), ("/edev", 0, ("AA", "BB")), ("/dcap", 0, None)]
    ids = [i for i, *_ in pending]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert len(await store.pending_changes(limit=2)) == 2


async def test_a_subscription_hears_only_of_changes_after_it(store):
    edev = await store.create_end_device(device(1), changed=["/edev/1"])
    before = await store.pending_changes()
    sid = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    await store.update_end_device(edev, changed=["/edev/1"])
    after = [c for c in await store.pending_changes() if c[0] not in {b[0] for b in before}]
    record = await store.subscription(sid)
    assert all(c[0] <= record.after_change for c in before)
    assert all(c[0] > record.after_change for c in after) and len(after) == 1


async def test_fan_out_replaces_changes_by_notifications(store):
    edev = await store.create_end_device(device(1), changed=["/edev/1", "/edev/1/fsa"])
    sid = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    ended = await store.add_subscription(edev.id, edev.lFDI, "/edev/1/fsa", {})
    changes = await store.pending_changes()
    await store.fan_out([changes[0][0]], [(sid, "http://a/n", b"<one/>"), (sid, "http://a/n", b"<two/>")],
                        ended_subscriptions=[ended])
    assert [c[0] for c in await store.pending_changes()] == [changes[1][0]]
    assert await store.subscription(ended) is None
    assert await store.outbox_size() == 2
    queue = await store.outbox_queue("http://a/n", 10)
    assert [(q.subscription_id, q.uri, q.body, q.attempts) for q in queue] == [
        (sid, "http://a/n", b"<one/>", 0), (sid, "http://a/n", b"<two/>", 0)]
    assert queue[0].id < queue[1].id
    assert await store.notification_backlog(0) == (1, 2, 2)


async def test_changes_fanned_out_twice_are_notified_once(store):
    """Two passes that read the same pending changes (the background's and one driven beside it): the first
    to commit queues its notifications, the second changes nothing."""
    edev = await store.create_end_device(device(1), changed=["/edev/1"])
    sid = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    await store.update_end_device(edev, changed=["/edev/1"])
    changes = [c[0] for c in await store.pending_changes()]
    assert await store.fan_out(changes, [(sid, "http://a/n", b"<first/>")]) is True
    assert await store.fan_out(changes, [(sid, "http://a/n", b"<again/>")]) is False
    assert [q.body for q in await store.outbox_queue("http://a/n", 10)] == [b"<first/>"]
    assert await store.pending_changes() == []


async def _queued(store, uris: list[str]) -> tuple[int, list[OutboxItem]]:
    edev = await store.create_end_device(device(1))
    sid = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    await store.fan_out([], [(sid, u, f"<n{i}/>".encode()) for i, u in enumerate(uris)])
    return sid, [item for u in dict.fromkeys(uris) for item in await store.outbox_queue(u, 100)]


async def test_outbox_heads_are_the_oldest_of_each_uri(store):
    sid, items = await _queued(store, ["http://a", "http://b", "http://a", "http://b", "http://c"])
    heads = await store.outbox_heads(now=0)
    assert [(h.uri, h.id) for h in heads] == [("http://a", items[0].id), ("http://b", items[2].id),
                                              ("http://c", items[4].id)]
    assert len(await store.outbox_heads(now=0, limit=2)) == 2
    assert await store.next_outbox_attempt() == 0


async def test_delivered_items_leave_and_the_next_becomes_head(store):
    _, items = await _queued(store, ["http://a", "http://a"])
    await store.outbox_delivered([items[0].id])
    assert [h.id for h in await store.outbox_heads(now=0)] == [items[1].id]
    await store.outbox_delivered([items[1].id])
    assert await store.outbox_heads(now=0) == []
    assert await store.outbox_size() == 0
    assert await store.next_outbox_attempt() is None


async def test_retry_holds_back_the_uri_and_counts_an_attempt_on_its_head(store):
    _, items = await _queued(store, ["http://a", "http://a", "http://b"])
    await store.outbox_retry("http://a", 500, "refused")
    assert [h.uri for h in await store.outbox_heads(now=499)] == ["http://b"]
    assert [h.uri for h in await store.outbox_heads(now=500)] == ["http://a", "http://b"]
    queue = await store.outbox_queue("http://a", 10)
    assert [q.attempts for q in queue] == [1, 0]
    assert await store.outbox_failures() == [OutboxFailure("http://a", 1, "refused", 500)]
    await store.outbox_retry("http://a", 900, "x" * 2000)
    [failure] = await store.outbox_failures()
    assert failure.attempts == 2 and failure.next_attempt == 900 and len(failure.last_error) <= 500
    assert await store.notification_backlog(600) == (0, 3, 1)
    assert await store.next_outbox_attempt() == 0  # http://b is due


async def test_outbox_failures_longest_held_first(store):
    await _queued(store, ["http://a", "http://b"])
    await store.outbox_retry("http://a", 10, "one")
    for _ in range(3):
        await store.outbox_retry("http://b", 10, "three")
    assert [(f.uri, f.attempts) for f in await store.outbox_failures()] == [("http://b", 3), ("http://a", 1)]
    assert len(await store.outbox_failures(limit=1)) == 1


async def test_delete_subscriptions_queues_farewells(store):
    edev = await store.create_end_device(device(1))
    sid = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    await store.delete_subscriptions([sid], farewells=[(sid, "http://a", b"<bye/>")])
    assert await store.subscription(sid) is None
    assert [q.body for q in await store.outbox_queue("http://a", 10)] == [b"<bye/>"]


async def test_a_refused_subscription_is_dropped_with_its_queue(store):
    edev = await store.create_end_device(device(1))
    keep = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    drop = await store.add_subscription(edev.id, edev.lFDI, "/edev/1", {})
    await store.fan_out([], [(drop, "http://a", b"1"), (keep, "http://a", b"2"), (drop, "http://b", b"3")])
    await store.drop_refused_subscription(drop)
    assert await store.subscription(drop) is None
    assert [q.body for q in await store.outbox_queue("http://a", 10)] == [b"2"]
    assert await store.outbox_queue("http://b", 10) == []
