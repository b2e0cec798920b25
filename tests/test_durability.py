"""What is written stays written: across a restart, a kill -9, and store schema versions."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from der_gateway.sep import codec, model
from der_gateway.store.migrations import MIGRATIONS
from der_gateway.store.sqlite import SQLiteStore
from der_gateway.tls import client_context

from . import documents
from .conftest import SepClient


def decoded(reply, cls):
    return codec.decode(reply.element, cls)


MMR_MRID = "00" * 12 + "000D8C5E"  # the first MirrorMeterReading of documents.mirror_usage_point


async def populate(device: SepClient, lfdi: str) -> tuple[list[str], str, str]:
    """Register device1 and write one of everything; return the paths that read it back, the EndDevice
    and the MirrorUsagePoint."""
    posted = await device.post("/edev", documents.end_device(lfdi))
    assert posted.status == 201, posted.reason
    edev = posted.headers["Location"]
    der = f"{edev}/der/1"
    for kind, document in [("dercap", documents.der_capability()), ("derg", documents.der_settings()),
                           ("ders", documents.der_status()), ("dera", documents.der_availability())]:
        reply = await device.put(f"{der}/{kind}", codec.encode(document))
        assert reply.status == 204, (kind, reply.reason)

    mup_reply = await device.post("/mup", documents.mirror_usage_point(lfdi, readings=2))
    assert mup_reply.status == 201, mup_reply.reason
    mup = mup_reply.headers["Location"]
    later = documents.mirror_meter_reading(MMR_MRID, 4500, start=1700000300)
    assert (await device.post(mup, codec.encode(later))).status == 204

    events = []
    for event_id, created in [(1, 1700000000), (2, 1700000500), (3, 1700000200)]:
        reply = await device.post(f"{edev}/lel", documents.log_event(event_id, created))
        assert reply.status == 201, reply.reason
        events.append(reply.headers["Location"])

    paths = ["/dcap", "/edev?l=10", edev, f"{edev}/rg", f"{edev}/fsa", f"{edev}/der?l=5", der,
             f"{der}/dercap", f"{der}/derg", f"{der}/ders", f"{der}/dera",
             "/mup?l=10", mup, f"{edev}/lel?l=10", *events]
    return paths, edev, mup


async def read_all(device: SepClient, paths: list[str]) -> dict[str, tuple[int, bytes]]:
    result = {}
    for path in paths:
        reply = await device.get(path)
        assert reply.status == 200, (path, reply.status, reply.reason)
        result[path] = (reply.status, reply.body)
    return result


async def test_everything_survives_a_restart(harness, identities):
    lfdi = identities["device1"].lfdi
    paths, edev, mup = await populate(harness.client("device1"), lfdi)
    before = await read_all(harness.client("device1"), paths)
    mup_id = int(mup.rsplit("/", 1)[1])
    history = await harness.server.store.readings(mup_id, MMR_MRID)
    await harness.server.background.settle()  # the registration's change to the EndDeviceList, fanned out
    rows = harness.snapshot()

    await harness.restart()

    after = await read_all(harness.client("device1"), paths)
    for path in paths:
        assert after[path] == before[path], f"{path} changed across the restart"
    assert await harness.server.store.readings(mup_id, MMR_MRID) == history
    assert [r["value"] for r in history] == [3000, 4500]
    assert harness.snapshot() == rows
    # and the restarted server goes on writing after the old rows
    assert (await harness.client("device1").post(f"{edev}/lel", documents.log_event(4, 1700000900))).status == 201


# -- kill -9 ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Subprocess:
    def __init__(self, data_dir: Path, certs_dir: Path, log: Path, config: Path | None = None) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "der_gateway", "serve", "--port", str(self.port),
             "--data-dir", str(data_dir), "--certs-dir", str(certs_dir),
             *(["--config", str(config)] if config is not None else [])],
            stdout=self._log_file, stderr=subprocess.STDOUT)

    async def wait_ready(self, certs_dir: Path, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        ctx = client_context(certs_dir, "device1")
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port, ssl=ctx), 2)
            except (OSError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"server did not accept TLS within {timeout}s:\n{self.log.read_text()}")
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no clean shutdown, no checkpoint
        self.proc.wait(10)
        self._log_file.close()


async def test_writes_survive_kill_9(tmp_path, certs_dir, identities):
    data_dir = tmp_path / "var"
    lfdi = identities["device1"].lfdi
    ctx = client_context(certs_dir, "device1")
    status = documents.der_status()

    first = Subprocess(data_dir, certs_dir, tmp_path / "first.log")
    try:
        await first.wait_ready(certs_dir)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            device = SepClient(session, f"https://127.0.0.1:{first.port}", "csip")
            posted = await device.post("/edev", documents.end_device(lfdi))
            assert posted.status == 201, posted.reason
            edev = posted.headers["Location"]
            put = await device.put(f"{edev}/der/1/ders", codec.encode(status))
            assert put.status == 204, put.reason
            edev_before = (await device.get(edev)).body
    finally:
        first.kill()
    assert first.proc.returncode == -9

    second = Subprocess(data_dir, certs_dir, tmp_path / "second.log")
    try:
        await second.wait_ready(certs_dir)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            device = SepClient(session, f"https://127.0.0.1:{second.port}", "csip")
            got_edev = await device.get(edev)
            assert got_edev.status == 200 and got_edev.body == edev_before
            assert decoded(got_edev, model.EndDevice).lFDI == lfdi
            listed = decoded(await device.get("/edev?l=10"), model.EndDeviceList)
            assert [e.href for e in listed.EndDevice] == [edev]
            got = await device.get(f"{edev}/der/1/ders")
            assert got.status == 200, got.reason
            back = decoded(got, model.DERStatus)
            back.href = None
            assert back == status
    finally:
        second.kill()


# -- kill -9 in the middle of notification delivery ---------------------------------------------------------


class CountingReceiver:
    """Notification endpoints /u/{n} on loopback recording the sequence number of every POST, in order.

    Once `hold_at` POSTs have arrived, every later one is held unanswered until `release()`: the server is
    then killed with one notification in flight on each URI."""

    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = {}
        self.count = 0
        self.hold_at: int | None = None
        self.held = 0
        self._release = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.setdefault(request.path, []).append(int(re.search(rb"<n>(\d+)</n>", body).group(1)))
        self.count += 1
        if self.hold_at is not None and self.count >= self.hold_at:
            self.held += 1
            await self._release.wait()
        return web.Response(status=201)

    def hold(self, at: int) -> None:
        self.hold_at, self.held = at, 0
        self._release.clear()

    def release(self) -> None:
        self.hold_at = None
        self._release.set()

    async def start(self) -> CountingReceiver:
        app = web.Application()
        app.router.add_post("/u/{n}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self


def repeats_and_regressions(sequence: list[int]) -> tuple[int, int]:
    """(POSTs repeating the one before, POSTs of a number lower than the one before)."""
    pairs = list(zip(sequence, sequence[1:]))
    return sum(b == a for a, b in pairs), sum(b < a for a, b in pairs)


async def test_kill_9_mid_delivery_repeats_at_most_the_item_in_flight_per_uri(tmp_path, certs_dir):
    """Each acknowledged notification is committed before the next to its URI goes: after each kill -9 a URI
    hears again at most the one notification it was sent when the server died, and never an older one."""
    uris, per_uri, kills = 6, 250, 3
    receiver = await CountingReceiver().start()
    data_dir = tmp_path / "var"
    store = await SQLiteStore.open(data_dir)
    await store.fan_out([], [(u + 1, f"http://127.0.0.1:{receiver.port}/u/{u}",
                              f'<Notification xmlns="urn:ieee:std:2030.5:ns"><n>{n}</n></Notification>'.encode())
                             for n in range(per_uri) for u in range(uris)])
    await store.close()
    config = tmp_path / "server.toml"
    config.write_text('admin_port = 0\nnotification_allow = ["http://127.0.0.1:"]\n'
                      'notification_allow_addresses = ["127.0.0.1/32"]\n')
    total = uris * per_uri
    try:
        for run in range(kills + 1):
            server = Subprocess(data_dir, certs_dir, tmp_path / f"run{run}.log", config)
            try:
                if run < kills:
                    receiver.hold(at=receiver.count + total // (kills + 2))
                    deadline = time.monotonic() + 60
                    # every URI has a POST held (or has nothing left to send): then the server dies
                    while receiver.held < uris:
                        assert server.proc.poll() is None, server.log.read_text()
                        assert time.monotonic() < deadline, f"stuck at {receiver.count} POSTs"
                        await asyncio.sleep(0.01)
                else:
                    deadline = time.monotonic() + 60
                    while any(len(set(receiver.seen.get(f"/u/{u}", []))) < per_uri for u in range(uris)):
                        assert server.proc.poll() is None, server.log.read_text()
                        assert time.monotonic() < deadline, f"stuck at {receiver.count} POSTs"
                        await asyncio.sleep(0.02)
            finally:
                server.kill()
                receiver.release()
    finally:
        await receiver.runner.cleanup()

    assert sorted(receiver.seen) == [f"/u/{u}" for u in range(uris)]
    for path, sequence in receiver.seen.items():
        assert sorted(set(sequence)) == list(range(per_uri)), f"{path} lost notifications"
        repeats, regressions = repeats_and_regressions(sequence)
        assert regressions == 0, f"{path} went back in time: {sequence}"
        assert repeats <= kills, f"{path} heard {repeats} repeats after {kills} kills: {sequence}"
    store = await SQLiteStore.open(data_dir)
    try:
        assert await store.outbox_size() == 0
    finally:
        await store.close()


# -- store schema versions ---------------------------------------------------------------------------------------


async def test_fresh_store_is_migrated_with_wal_and_full_sync(tmp_path):
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        def pragmas(conn: sqlite3.Connection) -> tuple:
            return tuple(conn.execute(f"PRAGMA {p}").fetchone()[0]
                         for p in ("user_version", "journal_mode", "synchronous"))

        expected = (len(MIGRATIONS), "wal", 2)
        assert pragmas(store._reader) == expected
        assert await store._write(lambda: pragmas(store._writer)) == expected
    finally:
        await store.close()

    # reopening an up-to-date store changes nothing
    store = await SQLiteStore.open(tmp_path / "var")
    try:
        assert store._reader.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        await store.close()
    conn = sqlite3.connect(tmp_path / "var" / "der-gateway.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    finally:
        conn.close()


async def test_store_newer_than_the_code_is_refused(tmp_path):
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    path = data_dir / "der-gateway.sqlite3"
    future = len(MIGRATIONS) + 1
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={future}")
    conn.close()

    with pytest.raises(RuntimeError) as excinfo:
        await SQLiteStore.open(data_dir)
    message = str(excinfo.value)
    assert f"version {future}" in message and str(len(MIGRATIONS)) in message and "upgrade" in message

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == future
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()


async def test_readings_stored_before_the_usage_point_view_are_served_by_it(tmp_path):
    """Schema 7 sorts readings written under schema 6 into ReadingSets (by set mRID) and marks the current ones:
    each set's latest posting, and the latest Reading posted alone; every reading stays in the history."""
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "der-gateway.sqlite3", isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:6], start=1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
    conn.execute("INSERT INTO mirror_usage_points (owner_lfdi, mrid, body) VALUES ('AA', 'M', '{}')")
    conn.execute("INSERT INTO mirror_meter_readings (mup_id, mrid, body) VALUES (1, 'R', '{\"mRID\": \"R\"}')")
    rows = [("S", 100, 300, 1, 10), ("S", 400, 300, 2, 10), ("S", 100, 300, 3, 20), ("T", 900, 60, 4, 20),
            (None, 50, 60, 5, 10), (None, 40, 60, 6, 30)]  # (set mRID, start, duration, value, received)
    for set_mrid, start, duration, value, received in rows:
        body = json.dumps({"value": value, "timePeriod": {"duration": duration, "start": start}})
        conn.execute("INSERT INTO readings (mmr_id, reading_set_mrid, start, duration, value, body, received) "
                     "VALUES (1, ?, ?, ?, ?, ?, ?)", (set_mrid, start, duration, value, body, received))
    conn.close()

    store = await SQLiteStore.open(data_dir)
    try:
        sets = (await store.reading_sets(1, 0, 10)).items
        assert [(s.mRID, s.data) for s in sets] == [
            ("T", {"mRID": "T", "timePeriod": {"duration": 60, "start": 900}}),
            ("S", {"mRID": "S", "timePeriod": {"duration": 600, "start": 100}})]
        assert [[r.data["value"] for r in (await store.set_readings(s.id, 0, 10)).items] for s in sets] == [[4], [3]]
        assert (await store.latest_reading(1)).data["value"] == 6  # posted last, though earlier in time
        assert [r["value"] for r in await store.readings(1, "R")] == [6, 5, 1, 3, 2, 4]
    finally:
        await store.close()
