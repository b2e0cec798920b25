"""Several `der-gateway serve --store postgresql://...` replicas on one real PostgreSQL database, over real TLS:
a write through one is served by the other at once, one of them leads (runs the outboxes), each notification is
sent once, and when the leader is killed the other takes over with nothing lost."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from lxml import etree

from der_gateway.sep import codec, model
from der_gateway.store.postgres.coordination import APPLICATION, LEADER_KEY
from der_gateway.tls import client_context

from . import documents
from .test_notifications import Receiver, receiver, subscription  # noqa: F401 (a fixture)
from .test_workers import ADMIN_TOKEN, JSON, Pinned, eventually, new_lfdi, status_at


@dataclass
class Replica:
    """`der-gateway serve --workers 1 --store DSN` in a process of its own, on ports it chose itself."""

    proc: subprocess.Popen
    log: Path
    port: int
    admin_port: int
    pinned: list[Pinned] = field(default_factory=list)

    @classmethod
    async def start(cls, home: Path, certs_dir: Path, dsn: str) -> Replica:
        home.mkdir()
        config = home / "server.toml"
        config.write_text(f'admin_port = 0\nadmin_token = "{ADMIN_TOKEN}"\n'
                          'notification_allow = ["http://127.0.0.1:"]\n'
                          'notification_allow_addresses = ["127.0.0.1/32"]\n')
        out, log = home / "serve.out", home / "serve.log"
        proc = subprocess.Popen([sys.executable, "-m", "der_gateway", "serve", "--workers", "1", "--port", "0",
                                 "--config", str(config), "--data-dir", str(home / "var"), "--certs-dir",
                                 str(certs_dir), "--store", dsn], stdout=out.open("wb"), stderr=log.open("wb"))
        deadline = time.monotonic() + 60
        while "admin API at" not in (text := out.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"serve did not start ({proc.poll()}):\n{text}\n{log.read_text()}")
            await asyncio.sleep(0.05)
        port = int(re.search(r"at https://127\.0\.0\.1:([0-9]+)/dcap", text).group(1))
        admin_port = int(re.search(r"admin API at http://127\.0\.0\.1:([0-9]+)", text).group(1))
        return cls(proc, log, port, admin_port)

    async def connect(self, certs_dir: Path, name: str) -> Pinned:
        conn = await Pinned.open(self.port, client_context(certs_dir, name))
        self.pinned.append(conn)
        return conn

    async def admin(self) -> Pinned:
        conn = await Pinned.open(self.admin_port, None)
        self.pinned.append(conn)
        return conn

    async def stop(self) -> int | None:
        for conn in self.pinned:
            await conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def leader_pid(dsn: str) -> int | None:
    """The process id of the replica holding the leader's advisory lock, from its connection's name."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                           "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s",
                           LEADER_KEY).fetchone()
    if row is None or not row[0].startswith(APPLICATION + " "):
        return None
    return int(row[0].rsplit(" ", 1)[1])


@pytest.fixture
async def replicas(tmp_path, certs_dir, postgres_dsn):
    started = [await Replica.start(tmp_path / name, certs_dir, postgres_dsn) for name in ("a", "b")]
    yield started
    for replica in started:
        await replica.stop()


AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_write_through_one_replica_is_served_by_the_other_at_once(replicas, certs_dir, identities):
    a, b = replicas
    through_a, through_b = await a.connect(certs_dir, "device1"), await b.connect(certs_dir, "device1")
    posted = await through_a.request("POST", "/edev", documents.end_device(identities["device1"].lfdi))
    assert posted.status == 201
    edev = posted.headers["location"]
    assert (await through_b.request("GET", edev)).status == 200
    reading_time = 1700000000
    for writer, reader in ((through_a, through_b), (through_b, through_a), (through_a, through_b)):
        reading_time += 1
        assert (await writer.request("PUT", f"{edev}/der/1/ders", status_at(reading_time))).status == 204
        for _ in range(2):  # the second GET may come from the reader's response cache: it must not be stale
            got = await reader.request("GET", f"{edev}/der/1/ders")
            assert got.status == 200
            assert codec.decode(etree.fromstring(got.body), model.DERStatus).readingTime == reading_time

    # the admin API of either replica: the same group asked of both at once is made once
    admins = [await a.admin(), await b.admin()]
    group = json.dumps({"mRID": "CD" * 16, "description": "feeder"}).encode()
    made = await asyncio.gather(*(conn.request("POST", "/groups", group, {**AUTH, "Content-Type": JSON})
                                  for conn in admins))
    assert sorted(r.status for r in made) == [201, 409]
    for conn in admins:
        listed = json.loads((await conn.request("GET", "/groups", headers=AUTH)).body)["items"]
        assert [g["mRID"] for g in listed] == ["CD" * 16]

    assert (await through_b.request("DELETE", edev)).status == 204
    assert (await through_a.request("GET", edev)).status == 404


async def test_a_device_registered_through_one_replica_sees_an_event_made_through_the_other(
        replicas, certs_dir, identities):
    """device1 registers through replica a; the operator makes a group, a program and an event through replica b's
    admin API; device1 walks from its EndDevice to the event through a (and b), cached answers included."""
    a, b = replicas
    device = await a.connect(certs_dir, "device1")
    posted = await device.request("POST", "/edev", documents.end_device(identities["device1"].lfdi))
    assert posted.status == 201
    edev = posted.headers["location"]
    edev_id = int(edev.rsplit("/", 1)[1])
    assert (await device.request("GET", f"{edev}/fsa")).status == 200  # cached before the event exists
    admin = await b.admin()

    async def ok(method: str, path: str, body: dict | None, status: int = 201) -> dict:
        got = await admin.request(method, path, json.dumps(body).encode() if body is not None else None,
                                  {**AUTH, "Content-Type": JSON})
        assert got.status == status, (method, path, got.status, got.body)
        return json.loads(got.body) if got.body else {}
    group = (await ok("POST", "/groups", {"description": "feeder 9"}))["id"]
    await ok("POST", f"/groups/{group}/members", {"endDevices": [edev_id]}, 200)
    program = (await ok("POST", "/programs", {"primacy": 10}))["id"]
    await ok("PUT", f"/groups/{group}/programs/{program}", None, 204)
    start = int(time.time()) + 600
    event = await ok("POST", f"/programs/{program}/controls", {"interval": {"start": start, "duration": 900},
                                                              "DERControlBase": {"opModMaxLimW": 5000}})
    for replica in (a, b):
        conn = device if replica is a else await b.connect(certs_dir, "device1")
        fsas = codec.decode(etree.fromstring((await conn.request("GET", f"{edev}/fsa")).body),
                            model.FunctionSetAssignmentsList)
        assert len(fsas.FunctionSetAssignments) == 1
        programs = codec.decode(etree.fromstring((await conn.request(
            "GET", fsas.FunctionSetAssignments[0].DERProgramListLink.href)).body), model.DERProgramList)
        [derp] = programs.DERProgram
        controls = codec.decode(etree.fromstring((await conn.request("GET", derp.DERControlListLink.href)).body),
                                model.DERControlList)
        assert [c.mRID for c in controls.DERControl] == [event["mRID"]]
        assert controls.DERControl[0].interval.start == start


async def subscribed_aggregator(replica: Replica, certs_dir: Path, receiver: Receiver) -> Pinned:
    """The aggregator on a connection to replica, registered and subscribed to its EndDeviceList."""
    agg = await replica.connect(certs_dir, "aggregator")
    own = await agg.request("POST", "/edev", documents.end_device(_aggregator_lfdi(certs_dir)))
    assert own.status == 201
    subscribed = await agg.request("POST", f"{own.headers['location']}/sub",
                                   subscription("/edev", receiver.uri, limit=100))
    assert subscribed.status == 201, subscribed
    return agg


def _aggregator_lfdi(certs_dir: Path) -> str:
    manifest = json.loads((certs_dir / "manifest.json").read_text())
    return next(c["lfdi"] for c in manifest["certificates"] if c["name"] == "aggregator")


async def register_and_hear(agg: Pinned, receiver: Receiver, heard_before: int) -> None:
    posted = await agg.request("POST", "/edev", documents.end_device(new_lfdi()))
    assert posted.status == 201
    await eventually(lambda: len(receiver.received) > heard_before, what="the notification")
    note = receiver.notifications()[-1]
    assert note.subscribedResource == "/edev"
    assert posted.headers["location"] in [e.href for e in note.Resource.EndDevice]


async def test_one_replica_leads_notifications_go_once_and_the_other_takes_over_when_it_dies(
        replicas, certs_dir, receiver, postgres_dsn):
    pids = {r.proc.pid: r for r in replicas}
    leader = await eventually(lambda: leader_pid(postgres_dsn), what="a leader")
    assert leader in pids
    (follower,) = set(pids) - {leader}
    agg = await subscribed_aggregator(pids[follower], certs_dir, receiver)
    await asyncio.sleep(0.5)
    assert receiver.received == []
    for heard in range(3):  # written through the follower, sent by the leader, once each
        await register_and_hear(agg, receiver, heard)
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 3

    os.kill(leader, signal.SIGKILL)
    pids[leader].proc.wait(10)
    assert await eventually(lambda: leader_pid(postgres_dsn) == follower, what="the survivor leading")
    await register_and_hear(agg, receiver, 3)
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 4


@pytest.mark.parametrize("victim", ["leader", "follower"])
async def test_kill_9_of_either_replica_under_load_loses_no_acknowledged_write_and_no_notification(
        replicas, certs_dir, receiver, postgres_dsn, victim):
    """Aggregators register devices through both replicas without pause while one replica (the leader, or the
    other) is killed: every registration acknowledged (201) is there afterwards, and every one reaches the
    subscriber in a notification.  (Stays under the subscription's limit of 100 EndDevices a notification, so each
    shows every device.)"""
    pids = {r.proc.pid: r for r in replicas}
    leader = await eventually(lambda: leader_pid(postgres_dsn), what="a leader")
    (follower,) = set(pids) - {leader}
    killed, survivor = (leader, follower) if victim == "leader" else (follower, leader)
    subscriber = await subscribed_aggregator(pids[survivor], certs_dir, receiver)
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def register(replica: Replica) -> None:
        conn = await replica.connect(certs_dir, "aggregator")
        while not stop.is_set():
            try:
                posted = await conn.request("POST", "/edev", documents.end_device(new_lfdi()))
            except (OSError, asyncio.IncompleteReadError, AssertionError, asyncio.TimeoutError):
                return  # its replica is gone: what it did not acknowledge does not count
            assert posted.status == 201
            acknowledged.append(posted.headers["location"])

    writers = [asyncio.create_task(register(r)) for r in replicas]
    await eventually(lambda: len(acknowledged) >= 20, what="registrations under way")
    os.kill(killed, signal.SIGKILL)
    pids[killed].proc.wait(10)
    await eventually(lambda: leader_pid(postgres_dsn) == survivor, what="the survivor leading")
    await eventually(lambda: len(acknowledged) >= 60, what="registrations after the kill")
    stop.set()
    await asyncio.gather(*writers)

    listed = await subscriber.request("GET", f"/edev?l={len(acknowledged) + 10}")
    shown = {e.href for e in codec.decode(etree.fromstring(listed.body), model.EndDeviceList).EndDevice}
    assert set(acknowledged) <= shown

    def notified() -> set[str]:
        return {e.href for n in receiver.notifications() for e in (n.Resource.EndDevice if n.Resource else [])}
    await eventually(lambda: set(acknowledged) <= notified(), timeout=30, what="every registration notified")
    assert "Traceback" not in pids[survivor].log.read_text()
