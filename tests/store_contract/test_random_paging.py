"""Randomized paging: random inserts, deletes and access grants, then every page of the EndDeviceList and the
MirrorUsagePointList compared with what the test itself wrote, worked out in Python."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from der_gateway.store.base import EndDeviceRecord

from .conftest import device, lfdi_of

AGGREGATORS = [lfdi_of(0xA000 + i) for i in range(3)]
SEEDS = [1, 2, 3]


def visible(model: dict[int, EndDeviceRecord], grants: set[tuple[int, str]], client: str,
            changed_after: int | None) -> list[EndDeviceRecord]:
    seen = [r for r in model.values()
            if (r.lFDI == client or r.owner_lfdi == client or (r.id, client) in grants)
            and (changed_after is None or r.changedTime >= changed_after)]
    return sorted(seen, key=lambda r: r.sFDI)


async def check_pages(store, expected: list, fetch) -> None:
    for limit in (1, 3, 7, 50):
        collected = []
        for start in range(0, len(expected) + limit, limit):
            page = await fetch(start, limit)
            assert page.all == len(expected)
            assert page.items == expected[start:start + limit], (start, limit)
            collected += page.items
        assert collected == expected
    assert (await fetch(0, 0)).items == []


@pytest.mark.parametrize("seed", SEEDS)
async def test_end_device_list_pages_match_a_brute_force_model(store, seed):
    rng = random.Random(seed)
    model: dict[int, EndDeviceRecord] = {}
    grants: set[tuple[int, str]] = set()
    sfdis = rng.sample(range(1, 10**6), 400)
    serial = 0
    for _ in range(160):
        op = rng.random()
        if op < 0.5 or not model:
            serial += 1
            owner = rng.choice(AGGREGATORS + [None])
            record = await store.create_end_device(device(serial, sfdi=sfdis[serial], owner=owner,
                                                          changed=rng.randrange(1000, 1100)))
            model[record.id] = record
        elif op < 0.65:
            victim = rng.choice(sorted(model))
            await store.delete_end_device(victim)
            del model[victim]
            grants = {g for g in grants if g[0] != victim}
        elif op < 0.85:
            target, client = rng.choice(sorted(model)), rng.choice(AGGREGATORS)
            granted = rng.random() < 0.7
            await store.set_access(target, client, granted)
            (grants.add if granted else grants.discard)((target, client))
        else:
            target = rng.choice(sorted(model))
            model[target] = replace(model[target], changedTime=rng.randrange(1000, 1100))
            await store.update_end_device(model[target])

    clients = AGGREGATORS + [r.lFDI for r in rng.sample(sorted(model.values(), key=lambda r: r.id), 3)]
    clients.append(lfdi_of(0xFFFF))  # a stranger
    for client in clients:
        for changed_after in (None, 1000, 1050, 1099, 1100):
            expected = visible(model, grants, client, changed_after)
            await check_pages(store, expected, lambda start, limit: store.end_devices_visible_to(
                client, start, limit, changed_after=changed_after))
        for _ in range(20):  # random windows
            start, limit = rng.randrange(0, 80), rng.randrange(0, 20)
            expected = visible(model, grants, client, None)
            page = await store.end_devices_visible_to(client, start, limit)
            assert (page.all, page.items) == (len(expected), expected[start:start + limit])


@pytest.mark.parametrize("seed", SEEDS)
async def test_mirror_usage_point_list_pages_match_a_brute_force_model(store, seed):
    rng = random.Random(seed)
    owners = [lfdi_of(0xB000 + i) for i in range(3)]
    model: dict[int, tuple[str, str, dict]] = {}  # id -> (owner, mRID, body)
    taken: dict[str, str] = {}  # mRID -> owner
    for _ in range(150):
        op = rng.random()
        if op < 0.7 or not model:
            owner = rng.choice(owners)
            mrid = f"{rng.randrange(0, 60):04X}"
            body = {"mRID": mrid, "description": f"v{rng.randrange(1000)}", "roleFlags": "01",
                    "serviceCategoryKind": 0, "status": 1}
            if taken.get(mrid, owner) != owner:
                continue
            mup_id, created = await store.upsert_mirror_usage_point(owner, body, [])
            assert created == (mup_id not in model)
            model[mup_id] = (owner, mrid, body)
            taken[mrid] = owner
        else:
            victim = rng.choice(sorted(model))
            await store.delete_mirror_usage_point(victim)
            del taken[model.pop(victim)[1]]

    for owner in owners + [lfdi_of(0xFFFF)]:
        expected = sorted(((i, o, m, b) for i, (o, m, b) in model.items() if o == owner), key=lambda x: x[2])

        async def fetch(start, limit, owner=owner):
            page = await store.mirror_usage_points(owner, start, limit)
            return type(page)(page.all, [(r.id, r.owner_lfdi, r.mRID, r.data) for r in page.items])

        await check_pages(store, expected, fetch)
