"""The counts an EndDevice shows, read at once for a page of them, agree with the lists themselves."""

from __future__ import annotations

from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model

from . import documents


async def test_counts_read_at_once_match_each_list(harness, identities):
    agg = harness.client("aggregator")
    store = harness.store
    ids = []
    for n, name in enumerate(("device1", "device2", "device3")):
        reply = await agg.post("/edev", documents.end_device(identities[name].lfdi))
        edev = reply.headers["Location"]
        ids.append(int(edev.rsplit("/", 1)[1]))
        for k in range(n):
            assert (await agg.post(f"{edev}/lel", documents.log_event(k + 1, 1700000000 + k))).status == 201
    groups = [await store.create_group(new_mrid(Pen(40732)), f"g{n}") for n in range(2)]
    await store.set_membership(groups[0], ids[1:], True)
    await store.set_membership(groups[1], ids[2:], True)

    counts = await store.end_device_counts(ids + [999])
    assert set(counts) == set(ids)
    for edev_id in ids:
        c = counts[edev_id]
        assert (c.ders, c.log_events, c.groups, c.subscriptions) == (
            len(await store.der_numbers(edev_id)), (await store.log_events(edev_id, 0, 0)).all,
            len(await store.groups_of(edev_id)), len(await store.subscriptions(edev_id)))
    assert [counts[i].log_events for i in ids] == [0, 1, 2] and [counts[i].groups for i in ids] == [0, 1, 2]

    listed = codec.decode((await agg.get("/edev?l=10")).element, model.EndDeviceList)
    shown = {e.href: (e.LogEventListLink.all, e.FunctionSetAssignmentsListLink.all) for e in listed.EndDevice}
    assert shown == {f"/edev/{i}": (counts[i].log_events, counts[i].groups) for i in ids}
