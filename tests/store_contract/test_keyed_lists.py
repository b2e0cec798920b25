"""Every list paged by index (LogEvents, Responses, SubscriptionLists, MeterReadings, ReadingSets and their
Readings, live DERControls) against a model the test keeps in Python: deep pages past one bucket, ties on the
sort key (many rows in one second, times outside 1970-2106), deletions, and the `a` (after) filter."""

from __future__ import annotations

import random

from .conftest import device, lfdi_of

AGGREGATORS = [lfdi_of(0xA000 + i) for i in range(3)]
STRANGER = lfdi_of(0xFFFF)
READING_TYPE = {"accumulationBehaviour": 12, "commodity": 1, "dataQualifier": 2, "flowDirection": 1,
                "powerOfTenMultiplier": 0, "uom": 38}


async def check_pages(expected: list, fetch, rng: random.Random, windows: int = 25) -> None:
    """Every page of a few sizes walked end to end, random windows, and pages past the end."""
    for limit in (1, 7, 64, 300):
        collected = []
        for start in range(0, len(expected) + limit, limit):
            all_, items = await fetch(start, limit)
            assert all_ == len(expected)
            assert items == expected[start:start + limit], (start, limit)
            collected += items
        assert collected == expected
    for _ in range(windows):
        start, limit = rng.randrange(0, len(expected) + 3), rng.choice([0, 1, 2, 20, 255, 256, 257])
        all_, items = await fetch(start, limit)
        assert (all_, items) == (len(expected), expected[start:start + limit]), (start, limit)


def _time(rng: random.Random) -> int:
    choice = rng.random()
    if choice < 0.45:
        return 1_700_000_000  # one busy second
    if choice < 0.8:
        return 1_700_000_000 + rng.randrange(-3, 4)
    if choice < 0.9:
        return rng.choice([-(1 << 40), -5, -1, 0, 1, (1 << 32) - 1, 1 << 32, (1 << 32) + 7, 1 << 50])
    return rng.randrange(0, 1 << 33)


async def test_log_events_deep_pages_ties_and_after(store):
    rng = random.Random(21)
    edev = (await store.create_end_device(device(1))).id
    other = (await store.create_end_device(device(2))).id
    model = []
    for n in range(700):
        created = _time(rng)
        log_event_id = rng.choice([n, n, 7, 0, (1 << 32) - 1])
        row_id = await store.add_log_event(edev, {"createdDateTime": created, "logEventID": log_event_id, "n": n})
        model.append((created, log_event_id, row_id))
        if n % 50 == 0:
            await store.add_log_event(other, {"createdDateTime": created, "logEventID": 1})
    model.sort(key=lambda m: (-m[0], -m[1], -m[2]))

    async def fetch(after):
        async def page(start, limit):
            found = await store.log_events(edev, start, limit, after)
            return found.all, [(i, d["createdDateTime"]) for i, d in found.items]
        return page

    await check_pages([(m[2], m[0]) for m in model], await fetch(None), rng)
    for after in (-(1 << 41), -5, 0, 1, 1_699_999_999, 1_700_000_000, 1_700_000_001, 1_700_000_004,
                  (1 << 32) - 1, 1 << 32, (1 << 32) + 8, 1 << 60):
        expected = [(m[2], m[0]) for m in model if m[0] >= after]
        await check_pages(expected, await fetch(after), rng, windows=5)
    assert (await store.log_events(other, 0, 100)).all == 14
    await store.delete_end_device(other)
    assert (await store.log_events(other, 0, 100)).all == 0
    assert (await store.log_events(edev, 0, 0)).all == 700


async def test_responses_a_client_sees_follow_grants_owners_and_deletions(store):
    rng = random.Random(22)
    events = []  # (program, control): each event in a program of its own

    async def new_event(n):
        program = await store.create_program(f"{n:032X}", "p", 1)
        events.append((program, await store.add_control(program, f"{n + 1:032X}", 0, 0, 60, {}, 0, 0)))
    for n in (0, 10, 20, 30):
        await new_event(n)
    devices = {}
    for n in range(12):
        record = await store.create_end_device(device(n + 1, owner=rng.choice(AGGREGATORS + [None])))
        devices[record.id] = record
    grants: set[tuple[int, str]] = set()
    responses = []  # (id, sender, created, control)

    def expected(client):
        acted_for = {client} | {d.lFDI for d in devices.values()
                                if d.owner_lfdi == client or (d.id, client) in grants}
        seen = [r for r in responses if r[1] in acted_for]
        return [r[0] for r in sorted(seen, key=lambda r: (-r[2], -r[0]))]

    senders = lambda: [d.lFDI for d in devices.values()] + AGGREGATORS + [STRANGER]  # noqa: E731
    serial = 100
    for step in range(900):
        op = rng.random()
        if op < 0.85:
            sender, created, control = rng.choice(senders()), _time(rng), rng.choice(events)[1]
            response_id = await store.add_response(control, sender, 1, created, step, {"n": step})
            responses.append((response_id, sender, created, control))
        elif op < 0.92:
            target, client = rng.choice(sorted(devices)), rng.choice(AGGREGATORS)
            granted = rng.random() < 0.6
            await store.set_access(target, client, granted)
            (grants.add if granted else grants.discard)((target, client))
        elif op < 0.97:  # a device leaves; later one registers with its LFDI under another owner
            victim = rng.choice(sorted(devices))
            lfdi_n = int(devices[victim].lFDI, 16)
            await store.delete_end_device(victim)
            del devices[victim]
            grants = {g for g in grants if g[0] != victim}
            serial += 1
            record = await store.create_end_device(device(lfdi_n, sfdi=5000 + serial,
                                                          owner=rng.choice(AGGREGATORS + [None])))
            devices[record.id] = record
        if step in (450, 700):  # an event ends and another begins; responses are never deleted (their event's
            events.pop(0)         # participation record), so the first keeps its responses
            await new_event(step * 2 + 100)
    assert len(responses) > 300
    for client in AGGREGATORS + [STRANGER, rng.choice(list(devices.values())).lFDI, lfdi_of(0xBEEF)]:
        want = expected(client)

        async def fetch(start, limit, client=client):
            total, rows = await store.responses_visible_to(client, start, limit)
            return total, [i for i, _ in rows]
        await check_pages(want, fetch, rng, windows=10)
        acted_for = await store.lfdis_acted_for(client)
        assert (await store.response_page(0, 10_000, acted_for))[1] == \
            (await store.responses_visible_to(client, 0, 10_000))[1]


async def test_subscription_lists_page_by_id_across_deletions(store):
    rng = random.Random(23)
    devices = [(await store.create_end_device(device(n + 1, owner=AGGREGATORS[0]))).id for n in range(3)]
    model: dict[tuple[int | None, str], list[int]] = {}
    for step in range(700):
        holder = rng.choice([None, None, None] + devices)
        client = rng.choice(AGGREGATORS[:2])
        key = (holder, client if holder is None else "")
        held = model.setdefault(key, [])
        if held and rng.random() < 0.15:
            victim = held.pop(rng.randrange(len(held)))
            await store.delete_subscriptions([victim])
        else:
            held.append(await store.add_subscription(holder, client, f"/edev/{step}", {"n": step}))
    longest = model[(None, AGGREGATORS[0])]
    assert len(longest) > 100 and longest[-1] - longest[0] > 512  # spans several deepest buckets of ids
    for (holder, client), ids in model.items():
        askers = [client] if holder is None else AGGREGATORS

        for asker in askers:
            async def fetch(start, limit, holder=holder, asker=asker):
                page = await store.subscription_page(holder, asker, start, limit)
                return page.all, [s.id for s in page.items]
            await check_pages(ids, fetch, rng, windows=5)
        if holder is None:
            assert await store.count_subscriptions(client, None) == len(ids)
            assert [s.id for s in await store.aggregator_subscriptions(client)] == ids
        else:
            assert [s.id for s in await store.subscriptions(holder)] == ids
    page = await store.subscription_page(None, STRANGER, 0, 10)
    assert (page.all, page.items) == (0, [])
    await store.delete_end_device(devices[0])
    assert (await store.subscription_page(devices[0], AGGREGATORS[0], 0, 10)).all == 0


async def test_meter_readings_reading_sets_and_readings_deep_and_tied(store):
    rng = random.Random(24)
    mup_id, _ = await store.upsert_mirror_usage_point(AGGREGATORS[0], {"mRID": "AA" * 16}, [])
    mmr_mrids = sorted({f"{rng.getrandbits(rng.choice([8, 128])):X}" for _ in range(300)})
    shuffled = rng.sample(mmr_mrids, len(mmr_mrids))
    for chunk in range(0, len(shuffled), 50):
        await store.add_mirror_meter_readings(mup_id, [{"mRID": m, "ReadingType": READING_TYPE}
                                                       for m in shuffled[chunk:chunk + 50]])

    async def meter_readings(start, limit):
        page = await store.meter_readings(mup_id, start, limit)
        return page.all, [m.mRID for m in page.items]
    await check_pages(mmr_mrids, meter_readings, rng)

    holder = (await store.meter_readings(mup_id, 0, 1)).items[0]
    sets: dict[str, int] = {}
    for n in range(320):
        mrid = f"{rng.getrandbits(16):04X}"
        start = rng.choice([1_700_000_000, 1_700_000_000 + rng.randrange(0, 600), -7, 1 << 33])
        sets[mrid] = start
        await store.add_mirror_meter_readings(mup_id, [{"mRID": holder.mRID, "MirrorReadingSet": [
            {"mRID": mrid, "timePeriod": {"duration": 300, "start": start}, "Reading": []}]}])
    expected_sets = [m for m, _ in sorted(sets.items(), key=lambda kv: (-kv[1], [-b for b in kv[0].encode()]))]

    async def reading_sets(start, limit):
        page = await store.reading_sets(holder.id, start, limit)
        return page.all, [s.mRID for s in page.items]
    await check_pages(expected_sets, reading_sets, rng)

    # a set posted twice: the second posting's Readings replace the first's; Readings without their own
    # timePeriod share the set's start (ties broken by id), others have their own, some before 1970
    readings = [{"value": n} if rng.random() < 0.5 else
                {"value": n, "timePeriod": {"duration": 1, "start": rng.choice([-3, 0, 5, 1 << 40])}}
                for n in range(600)]
    for posting in (readings[:100], readings):
        await store.add_mirror_meter_readings(mup_id, [{"mRID": holder.mRID, "MirrorReadingSet": [
            {"mRID": "SET", "timePeriod": {"duration": 300, "start": 1_700_000_000}, "Reading": posting}]}])
    set_id = next(s.id for s in (await store.reading_sets(holder.id, 0, 1000)).items if s.mRID == "SET")
    keyed = [((r.get("timePeriod") or {"start": 1_700_000_000})["start"], n, r["value"]) for n, r in enumerate(readings)]
    expected_readings = [v for _, _, v in sorted(keyed)]

    async def set_readings(start, limit):
        page = await store.set_readings(set_id, start, limit)
        return page.all, [r.data["value"] for r in page.items]
    await check_pages(expected_readings, set_readings, rng)


async def test_controls_still_listed_are_those_a_brute_force_filter_keeps(store):
    rng = random.Random(25)
    program = await store.create_program("33" * 16, "p", 1)
    other = await store.create_program("44" * 16, "q", 2)
    events = []
    for n in range(300):
        start, duration = rng.randrange(0, 10_000), rng.choice([60, 600, 3600, 7200])
        owner = program if n % 5 else other
        cid = await store.add_control(owner, f"{n + 1:032X}", rng.randrange(0, 50), start, duration, {}, 0, 0)
        events.append((cid, owner, start, duration))
    for ending_after in (-1, 0, 500, 5000, 9000, 12_000, 20_000):
        for pid in (program, other):
            mine = [e for e in events if e[1] == pid]
            live = [e for e in mine if e[2] + e[3] > ending_after]
            floor = min((e[2] for e in live), default=ending_after)
            kept = {e[0] for e in mine if e[2] + e[3] > floor}
            got = await store.controls(pid, ending_after=ending_after)
            assert {r.id for r in got} == kept
            assert [r.id for r in got] == [r.id for r in await store.controls(pid) if r.id in kept]
        everywhere = await store.all_controls(ending_after=ending_after)
        assert {r.id for r in everywhere} == {e[0] for e in events if e[2] + e[3] > ending_after}
