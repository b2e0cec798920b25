"""Lists paged by index through list_counts and end_device_views: every page and every `all` equal a brute-force
query over the base tables, across random registrations, deletions, owner changes and access grants."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from der_gateway.store import list_index
from der_gateway.store.base import EndDeviceRecord
from der_gateway.store.migrations import MIGRATIONS
from der_gateway.store.sqlite import SQLiteStore

CLIENTS = [f"{n:040X}" for n in (0xA1, 0xA2, 0xA3)]
SFDI_MAX = (1 << 36) * 10 - 1


def _sfdi(rng: random.Random) -> int:
    # mostly hash-uniform, sometimes packed into one deepest bucket, sometimes tiny
    choice = rng.random()
    if choice < 0.6:
        return rng.randint(0, SFDI_MAX)
    if choice < 0.85:
        return (123 << 22) + rng.randint(0, 40)
    return rng.randint(0, 50)


def _brute_visible(path: Path, viewer: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT id FROM end_devices WHERE lfdi = ? OR owner_lfdi = ? OR id IN "
            "(SELECT end_device_id FROM end_device_access WHERE client_lfdi = ?) ORDER BY sfdi",
            (viewer, viewer, viewer))]
    finally:
        conn.close()


def _brute_mirrors(path: Path, owner: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT id FROM mirror_usage_points WHERE owner_lfdi = ? ORDER BY mrid", (owner,))]
    finally:
        conn.close()


async def _check_end_device_lists(store: SQLiteStore, viewers: list[str], rng: random.Random) -> int:
    checked = 0
    for viewer in viewers:
        expected = _brute_visible(store.path, viewer)
        whole = await store.end_devices_visible_to(viewer, 0, len(expected) + 5)
        assert whole.all == len(expected)
        assert [r.id for r in whole.items] == expected
        for _ in range(6):
            start, limit = rng.randint(0, len(expected) + 2), rng.choice([0, 1, 2, 3, 7, 20])
            page = await store.end_devices_visible_to(viewer, start, limit)
            assert page.all == len(expected)
            assert [r.id for r in page.items] == expected[start:start + limit], (viewer, start, limit)
            checked += 1
        acted_for = await store.lfdis_acted_for(viewer)
        assert acted_for == sorted({viewer, *(r.lFDI for r in whole.items)})
        for lfdi in rng.sample(acted_for, min(3, len(acted_for))) + [f"{rng.getrandbits(160):040X}"]:
            assert await store.acts_for(viewer, lfdi) == (lfdi in acted_for)
    return checked


async def _register(store: SQLiteStore, lfdi: str, sfdi: int, owner: str) -> EndDeviceRecord:
    return await store.create_end_device(EndDeviceRecord(
        id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=owner, changedTime=0, pIN=111115, dateTimeRegistered=0))


async def test_end_device_pages_match_a_brute_force_query_across_random_writes(tmp_path):
    rng = random.Random(10)
    store = await SQLiteStore.open(tmp_path / "var")
    devices: dict[int, str] = {}
    used_sfdis: set[int] = set()
    checked = 0
    try:
        # a client that is itself a registered EndDevice, and owns others: its own device is merged into its list
        own = await _register(store, CLIENTS[0], 55 << 22, CLIENTS[0])
        devices[own.id] = own.lFDI
        used_sfdis.add(own.sFDI)
        for step in range(400):
            op = rng.random()
            if op < 0.45 or not devices:
                sfdi = _sfdi(rng)
                while sfdi in used_sfdis:
                    sfdi = _sfdi(rng)
                used_sfdis.add(sfdi)
                lfdi = f"{rng.getrandbits(160):040X}"
                owner = rng.choice(CLIENTS + [lfdi])
                record = await _register(store, lfdi, sfdi, owner)
                devices[record.id] = lfdi
            elif op < 0.6:
                victim = rng.choice(sorted(devices))
                await store.delete_end_device(victim)
                del devices[victim]
            elif op < 0.75:
                moved = rng.choice(sorted(devices))
                owner = rng.choice(CLIENTS + [devices[moved]])
                await store._in_transaction(lambda c: c.execute(
                    "UPDATE end_devices SET owner_lfdi = ? WHERE id = ?", (owner, moved)))
            elif op < 0.8:
                moved = rng.choice(sorted(devices))
                sfdi = _sfdi(rng)
                while sfdi in used_sfdis:
                    sfdi = _sfdi(rng)
                used_sfdis.add(sfdi)
                await store._in_transaction(lambda c: c.execute(
                    "UPDATE end_devices SET sfdi = ? WHERE id = ?", (sfdi, moved)))
            else:
                target = rng.choice(sorted(devices))
                client = rng.choice(CLIENTS + [devices[target]])
                await store.set_access(target, client, granted=rng.random() < 0.6)
            if step % 20 == 19:
                viewers = CLIENTS + rng.sample(sorted(devices.values()), min(3, len(devices)))
                checked += await _check_end_device_lists(store, viewers, rng)
        assert await store.end_devices_visible_to(CLIENTS[0], 0, 0) is not None
        assert checked > 300
        assert len(_brute_visible(store.path, CLIENTS[1])) > 20  # the lists grew long enough to span buckets
    finally:
        await store.close()


async def test_mirror_usage_point_pages_match_a_brute_force_query_across_random_writes(tmp_path):
    rng = random.Random(11)
    store = await SQLiteStore.open(tmp_path / "var")
    alphabet = "0123456789ABCDEF"
    try:
        for step in range(300):
            owner = rng.choice(CLIENTS)
            if rng.random() < 0.75:
                length = rng.choice([1, 2, 3, 32])
                mrid = "".join(rng.choice(alphabet[:rng.choice([2, 16])]) for _ in range(length))
                try:
                    await store.upsert_mirror_usage_point(owner, {"mRID": mrid, "description": "m"}, [])
                except Exception as error:  # an mRID another client holds is refused, and changes nothing
                    assert type(error).__name__ == "MridTaken"
            else:
                held = _brute_mirrors(store.path, owner)
                if held:
                    await store.delete_mirror_usage_point(rng.choice(held))
            if step % 15 == 14:
                for viewer in CLIENTS:
                    expected = _brute_mirrors(store.path, viewer)
                    for _ in range(6):
                        start, limit = rng.randint(0, len(expected) + 2), rng.choice([0, 1, 3, 10])
                        page = await store.mirror_usage_points(viewer, start, limit)
                        assert page.all == len(expected)
                        assert [m.id for m in page.items] == expected[start:start + limit]
        await store.delete_mirror_usage_points_of(CLIENTS[0])
        assert (await store.mirror_usage_points(CLIENTS[0], 0, 10)).all == 0
    finally:
        await store.close()


async def test_migration_builds_the_lists_from_existing_rows(tmp_path):
    rng = random.Random(12)
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, script in enumerate(MIGRATIONS[:7], start=1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
    for n in range(300):
        lfdi = f"{n:040X}"
        owner = CLIENTS[n % 2] if n % 5 else lfdi
        conn.execute("INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at) "
                     "VALUES (?, ?, ?, 0, 0, 0)", (lfdi, rng.randint(0, SFDI_MAX), owner))
    conn.executemany("INSERT INTO end_device_access (end_device_id, client_lfdi) VALUES (?, ?)",
                     [(n, CLIENTS[2]) for n in range(1, 300, 7)] + [(n, CLIENTS[0]) for n in range(2, 300, 11)])
    conn.executemany("INSERT INTO mirror_usage_points (owner_lfdi, mrid, body) VALUES (?, ?, '{}')",
                     [(CLIENTS[n % 3], f"{rng.getrandbits(128):032X}") for n in range(200)])
    conn.execute("INSERT INTO log_events (end_device_id, created, log_event_id, body) VALUES (1, 5, 1, '{}')")
    conn.close()
    (tmp_path / "var").mkdir()
    path.rename(tmp_path / "var" / "der-gateway.sqlite3")
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        assert await _check_end_device_lists(store, CLIENTS + [f"{5:040X}", f"{6:040X}"], rng) > 0
        for owner in CLIENTS:
            expected = _brute_mirrors(store.path, owner)
            page = await store.mirror_usage_points(owner, 17, 40)
            assert (page.all, [m.id for m in page.items]) == (len(expected), expected[17:57])
        assert (await store.log_events(1, 0, 10)).all == 1
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "var" / "der-gateway.sqlite3")
    try:  # migration 10: an id that owns a list is kept as text, as PostgreSQL keeps it
        assert conn.execute("SELECT DISTINCT typeof(owner) FROM list_counts").fetchall() == [("text",)]
        assert conn.execute("SELECT n FROM list_counts WHERE list = 'log' AND owner = '1' AND level = 0"
                            ).fetchone() == (1,)
    finally:
        conn.close()


def test_text_buckets_keep_binary_order():
    rng = random.Random(13)
    keys = ["", "A", "A0", "AB", "B", "\x00", "é", "z" * 40] + [f"{rng.getrandbits(64):X}" for _ in range(200)]
    for level in range(1, list_index.LEVELS + 1):
        ordered = sorted(keys, key=lambda k: k.encode())
        numbers = [list_index.MRID.bucket(k, level) for k in ordered]
        assert numbers == sorted(numbers)
    for key in keys:
        least = list_index.MRID.least_key(list_index.MRID.bucket(key, list_index.LEVELS))
        assert least.encode() <= key.encode() and key.startswith(least)


async def test_bulk_loaded_end_devices_are_listed_with_their_der_status_and_group(tmp_path):
    rng = random.Random(14)
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        group = await store.create_group("00" * 16, "feeder")
        records = [EndDeviceRecord(id=0, lFDI=f"{n:040X}", sFDI=sfdi, owner_lfdi=CLIENTS[n % 2], changedTime=0,
                                   pIN=111115, dateTimeRegistered=0)
                   for n, sfdi in enumerate(rng.sample(range(SFDI_MAX), 500))]
        first = await store.bulk_add_end_devices(records[:300], {"ders": {"readingTime": 5}}, group)
        second = await store.bulk_add_end_devices(records[300:], {"ders": {"readingTime": 6}})
        assert list(first) + list(second) == list(range(1, 501))
        assert [(await store.end_device(i)).lFDI for i in (1, 300, 301, 500)] == [
            records[0].lFDI, records[299].lFDI, records[300].lFDI, records[499].lFDI]
        assert await store.der_document(300, 1, "ders") == {"readingTime": 5}
        assert await store.der_document(301, 1, "ders") == {"readingTime": 6}
        assert await store.group_members(group) == list(first)
        assert await _check_end_device_lists(store, CLIENTS[:2], rng) > 0
    finally:
        await store.close()


async def test_responses_visible_to_a_client_are_those_of_the_lfdis_it_acts_for(tmp_path):
    rng = random.Random(15)
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        program = await store.create_program("11" * 16, "p", 1)
        control = await store.add_control(program, "22" * 16, 0, 0, 60, {}, 0, 0)
        devices = []
        for n in range(40):
            lfdi = f"{rng.getrandbits(160):040X}"
            devices.append(await _register(store, lfdi, rng.randint(0, SFDI_MAX), rng.choice(CLIENTS + [lfdi])))
        for device in rng.sample(devices, 8):
            await store.set_access(device.id, CLIENTS[2], granted=True)
        senders = [d.lFDI for d in devices] + CLIENTS + [f"{7:040X}"]
        for n in range(150):
            await store.add_response(control, rng.choice(senders), 1, rng.randint(0, 20), n, {"n": n})
        for client in CLIENTS + [devices[0].lFDI, f"{7:040X}"]:
            acted_for = await store.lfdis_acted_for(client)
            for start, limit in ((0, 200), (3, 7), (40, 20), (500, 5), (0, 0)):
                assert (await store.responses_visible_to(client, start, limit)
                        == await store.response_page(start, limit, acted_for)), (client, start, limit)
        assert (await store.responses_visible_to(CLIENTS[1], 0, 200))[0] > 10
    finally:
        await store.close()


async def test_list_links_of_a_page_equal_the_lookups_one_device_at_a_time(tmp_path):
    rng = random.Random(16)
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        groups = [await store.create_group(f"{g:032X}", "g") for g in range(3)]
        devices = [await _register(store, f"{n:040X}", rng.randint(0, SFDI_MAX), CLIENTS[0]) for n in range(30)]
        for device in devices:
            for group in rng.sample(groups, rng.randint(0, 3)):
                await store.set_membership(group, [device.id], True)
            for n in range(rng.randint(0, 3)):
                await store.add_log_event(device.id, {"createdDateTime": n, "logEventID": n})
            for n in range(rng.randint(0, 2)):
                await store.add_subscription(device.id, CLIENTS[0], f"/edev/{device.id}", {"n": n})
        ids = [d.id for d in devices] + [9999]
        links = await store.end_device_counts(ids)
        assert sorted(links) == [d.id for d in devices]
        for device in devices:
            found = links[device.id]
            assert found.ders == len(await store.der_numbers(device.id)) == 1
            assert found.log_events == (await store.log_events(device.id, 0, 0)).all
            assert found.groups == len(await store.groups_of(device.id))
            assert found.subscriptions == len(await store.subscriptions(device.id))
        assert {links[d.id].groups for d in devices} > {0}
        assert await store.end_device_counts([]) == {}
    finally:
        await store.close()


async def test_migration_9_keys_the_other_lists_from_existing_rows(tmp_path):
    """A database at version 8 with rows in every list: after migration 9 each list pages as the old OFFSET
    queries order it, and later writes keep it so."""
    rng = random.Random(17)
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    for number, script in enumerate(MIGRATIONS[:8], start=1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
    times = [1_700_000_000, 1_700_000_001, -4, 1 << 33]
    conn.execute("BEGIN")
    for n in range(1, 21):
        conn.execute("INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at) "
                     "VALUES (?, ?, ?, 0, 0, 0)", (f"{n:040X}", n, CLIENTS[n % 2] if n % 3 else f"{n:040X}"))
    conn.executemany("INSERT INTO log_events (end_device_id, created, log_event_id, body) VALUES (?, ?, ?, ?)",
                     [(1 + n % 2, rng.choice(times), rng.randrange(3), f'{{"n": {n}}}') for n in range(600)])
    conn.execute("INSERT INTO programs (mrid, primacy) VALUES ('P', 1)")
    conn.execute("INSERT INTO controls (program_id, mrid, creation_time, start, duration, body, status, status_time) "
                 "VALUES (1, 'C', 0, 0, 60, '{}', 0, 0)")
    conn.executemany("INSERT INTO responses (control_id, end_device_lfdi, status, created, received, body) "
                     "VALUES (1, ?, 1, ?, 0, ?)",
                     [(f"{rng.randrange(1, 23):040X}", rng.choice(times), f'{{"n": {n}}}') for n in range(700)])
    conn.executemany("INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body) VALUES (?, ?, 'r', '{}')",
                     [(rng.choice([None, 1, 2]), rng.choice(CLIENTS), ) for _ in range(500)])
    conn.execute("INSERT INTO mirror_usage_points (owner_lfdi, mrid, body) VALUES (?, 'M', '{}')", (CLIENTS[0],))
    conn.executemany("INSERT INTO mirror_meter_readings (mup_id, mrid, body) VALUES (1, ?, '{}')",
                     [(f"{n:X}",) for n in rng.sample(range(1 << 20), 300)])
    conn.executemany("INSERT INTO reading_sets (mmr_id, mrid, start, body) VALUES (1, ?, ?, '{}')",
                     [(f"{n:X}", rng.choice(times)) for n in rng.sample(range(1 << 20), 300)])
    conn.executemany("INSERT INTO readings (mmr_id, reading_set_id, start, body, received, current) "
                     "VALUES (1, 1, ?, '{}', 0, ?)", [(rng.choice(times + [None]), n % 5 != 0) for n in range(500)])
    conn.execute("COMMIT")
    old = {
        "log": [r[0] for r in conn.execute("SELECT id FROM log_events WHERE end_device_id = 1 "
                                           "ORDER BY created DESC, log_event_id DESC, id DESC")],
        "mmr": [r[0] for r in conn.execute("SELECT id FROM mirror_meter_readings ORDER BY mrid")],
        "rset": [r[0] for r in conn.execute("SELECT id FROM reading_sets ORDER BY start DESC, mrid DESC")],
        "sread": [r[0] for r in conn.execute("SELECT id FROM readings WHERE current = 1 ORDER BY start, id")],
        "asub": [r[0] for r in conn.execute("SELECT id FROM subscriptions WHERE client_lfdi = ? "
                                            "AND end_device_id IS NULL ORDER BY id", (CLIENTS[1],))],
        "sub": [r[0] for r in conn.execute("SELECT id FROM subscriptions WHERE end_device_id = 2 ORDER BY id")],
    }
    conn.close()
    (tmp_path / "var").mkdir()
    path.rename(tmp_path / "var" / "der-gateway.sqlite3")
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        fetch = {
            "log": lambda s, n: store.log_events(1, s, n),
            "mmr": lambda s, n: store.meter_readings(1, s, n),
            "rset": lambda s, n: store.reading_sets(1, s, n),
            "sread": lambda s, n: store.set_readings(1, s, n),
            "asub": lambda s, n: store.subscription_page(None, CLIENTS[1], s, n),
            "sub": lambda s, n: store.subscription_page(2, CLIENTS[0], s, n),
        }
        for name, expected in old.items():
            for start, limit in ((0, 1000), (0, 1), (255, 20), (len(expected) - 3, 20), (len(expected), 5)):
                page = await fetch[name](start, limit)
                ids = [r[0] if isinstance(r, tuple) else r.id for r in page.items]
                assert (page.all, ids) == (len(expected), expected[start:start + limit]), (name, start, limit)
        for client in CLIENTS + [f"{3:040X}", f"{22:040X}"]:
            acted_for = await store.lfdis_acted_for(client)
            assert (await store.responses_visible_to(client, 0, 1000)
                    == await store.response_page(0, 1000, acted_for)), client
            assert (await store.responses_visible_to(client, 7, 30)
                    == await store.response_page(7, 30, acted_for)), client
        await store.add_log_event(1, {"createdDateTime": 1_700_000_001, "logEventID": 9})
        assert (await store.log_events(1, 0, 0)).all == len(old["log"]) + 1
    finally:
        await store.close()
