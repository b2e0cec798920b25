"""PostgresStore.bulk_add_end_devices on a real server: the list counts it adds in one statement are those the
row triggers would have kept, the change counters it bumps once are bumped, the triggers it turns off for the
load are on again after it, and the lists page as they do after registrations one by one."""

from __future__ import annotations

import random
from collections import Counter

import psycopg

from der_gateway.store import EndDeviceRecord, list_index
from der_gateway.store.postgres import generations
from der_gateway.store.postgres.store import PostgresStore

OWNERS = [f"{0xA0 + n:040X}" for n in range(2)]
SFDI_MAX = (1 << 36) * 10


def expected_counts(devices: list[tuple[str, int, str]]) -> Counter:
    """list_counts of the 'edev' list as the triggers keep them: (viewer, level, bucket) -> n."""
    counts: Counter = Counter()
    for lfdi, sfdi, owner in devices:
        if owner == lfdi:
            continue
        counts[(owner, 0, 0)] += 1
        for level in range(1, list_index.LEVELS + 1):
            counts[(owner, level, list_index.SFDI.bucket(sfdi, level))] += 1
    return counts


async def test_a_bulk_load_keeps_the_list_counts_the_row_triggers_keep(postgres_dsn: str) -> None:
    rng = random.Random(21)
    sfdis = rng.sample(range(SFDI_MAX), 541)
    devices = [(f"{n:040X}", sfdi, OWNERS[n % 2]) for n, sfdi in enumerate(sfdis)]
    store = await PostgresStore.open_dsn(postgres_dsn)
    try:
        group = await store.create_group("00" * 16, "feeder")
        for lfdi, sfdi, owner in devices[:20]:  # one by one, through the row triggers
            await store.create_end_device(EndDeviceRecord(id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=owner,
                                                          changedTime=0, pIN=111115, dateTimeRegistered=0))
        records = [EndDeviceRecord(id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=owner, changedTime=0, pIN=111115,
                                   dateTimeRegistered=0) for lfdi, sfdi, owner in devices[20:540]]
        before = await store.generations(["global", "der:30"])
        first = await store.bulk_add_end_devices(records[:300], {"ders": {"readingTime": 5}}, group)
        loaded = await store.generations(["global", "der:30"])
        second = await store.bulk_add_end_devices(records[300:])
        assert loaded[0] > before[0] and loaded[1] > before[1] == 0  # what caches of those topics hold is stale
        assert list(first) + list(second) == list(range(21, 541))
        lfdi, sfdi, owner = devices[540]  # after the loads: the trigger counts it again
        await store.create_end_device(EndDeviceRecord(id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=owner, changedTime=0,
                                                      pIN=111115, dateTimeRegistered=0))
        assert await store.der_document(320, 1, "ders") == {"readingTime": 5}
        assert await store.group_members(group) == list(first)

        with psycopg.connect(postgres_dsn) as conn:
            stored = Counter({(owner, level, bucket): n for owner, level, bucket, n in conn.execute(
                "SELECT owner, level, bucket, n FROM list_counts WHERE list = 'edev'").fetchall()})
            enabled = dict(conn.execute("SELECT tgname, tgenabled FROM pg_trigger WHERE tgname = ANY(%s)", ([
                "end_device_views_counted"] + [generations.PREFIX + t for t in ("end_devices", "ders", "der_documents",
                                                                                "group_members")],)).fetchall())
            kept = conn.execute("SELECT n FROM list_counts WHERE list = 'kept' AND owner = 'end_devices'").fetchone()
            counting = conn.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = 'kept_end_devices'").fetchone()
        assert stored == expected_counts(devices)
        assert set(enabled.values()) == {"O"} and len(enabled) == 5
        assert kept == (541,) and counting == ("O",)  # the EndDevices /metrics counts: added once per load

        ids = {lfdi: n for n, (lfdi, _, _) in enumerate(devices, start=1)}
        for owner in OWNERS:
            listed = [ids[lfdi] for lfdi, sfdi, o in sorted(devices, key=lambda d: d[1]) if o == owner]
            for start, limit in [(0, 20), (137, 7), (len(listed) - 3, 20)] + [
                    (rng.randrange(len(listed)), 20) for _ in range(5)]:
                page = await store.end_devices_visible_to(owner, start, limit)
                assert page.all == len(listed)
                assert [r.id for r in page.items] == listed[start:start + limit], (owner, start, limit)
    finally:
        await store.close()
