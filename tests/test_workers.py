"""der-gateway serve --workers N: real processes on the same listeners, over real TLS, on one SQLite file.

Which worker serves a connection is read from /proc: the worker whose open files include the server end of
that TCP connection.  A connection kept open is served by that worker for every request on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from der_gateway.config import Config
from der_gateway.sep import codec, model
from der_gateway.store.leadership import FileLeadership, leader_pid
from der_gateway.store.process_lock import ProcessLock
from der_gateway.tls import client_context
from der_gateway.xsd import load_schemas

from . import documents
from .test_notifications import Receiver, receiver, subscription  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SEP_XML = "application/sep+xml"
JSON = "application/json"
ADMIN_TOKEN = "test-admin-token-0123456789"


# -- processes, from /proc ----------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(pid: int) -> set[int]:
    """The live processes whose parent is pid."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def server_end_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the accepted socket of the loopback connection from client_port to server_port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], int(parts[9])
            if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                return inode
    return None


def holder(pids: set[int], inode: int) -> int | None:
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


async def eventually(check, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} did not come true within {timeout} s"
        await asyncio.sleep(0.05)


# -- a connection kept open ---------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Pinned:
    """One HTTP/1.1 connection (TLS if ctx), kept open: each request on it goes to the worker that accepted it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    server_port: int
    profile: str = "csip"
    worker: int | None = None

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext | None) -> Pinned:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        return cls(reader, writer, port)

    @property
    def client_port(self) -> int:
        return self.writer.get_extra_info("sockname")[1]

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> Reply:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Accept: {SEP_XML}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            if not any(k.lower() == "content-type" for k in headers or {}):
                lines.append(f"Content-Type: {SEP_XML}")
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        status_line = await asyncio.wait_for(self.reader.readline(), 20)
        assert status_line.startswith(b"HTTP/1.1 "), status_line
        found: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            found[name.strip().lower()] = value.strip()
        assert "chunked" not in found.get("transfer-encoding", "")
        content = await self.reader.readexactly(int(found.get("content-length", "0")))
        if content and found.get("content-type", "").startswith(SEP_XML):
            errors = load_schemas(self.profile).errors(etree.fromstring(content))
            assert errors == [], f"{method} {path} returned a schema-invalid document: {errors}"
        return Reply(int(status_line.split()[1]), found, content)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


# -- the server -----------------------------------------------------------------------------------------------


@dataclass
class Gateway:
    """`der-gateway serve --workers N` in a process of its own, on ports it chose itself."""

    proc: subprocess.Popen
    data_dir: Path
    certs_dir: Path
    log: Path
    output: str
    port: int = 0
    redirect_port: int | None = None
    admin_port: int | None = None
    pinned: list[Pinned] = field(default_factory=list)

    @classmethod
    async def start(cls, tmp_path: Path, certs_dir: Path, workers: int) -> Gateway:
        config = tmp_path / "server.toml"
        config.write_text(f'admin_port = 0\nhttp_redirect_port = 0\nadmin_token = "{ADMIN_TOKEN}"\n'
                          'notification_allow = ["http://127.0.0.1:"]\n'
                          'notification_allow_addresses = ["127.0.0.1/32"]\n')
        log = tmp_path / "serve.log"
        out = tmp_path / "serve.out"
        proc = subprocess.Popen([sys.executable, "-m", "der_gateway", "serve", "--workers", str(workers),
                                 "--port", "0", "--config", str(config), "--data-dir", str(tmp_path / "var"),
                                 "--certs-dir", str(certs_dir)],
                                stdout=out.open("wb"), stderr=log.open("wb"))
        last_line = "worker processes:" if workers > 1 else "admin API at"
        deadline = time.monotonic() + 60
        while last_line not in (text := out.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"serve did not start ({proc.poll()}):\n{text}\n{log.read_text()}")
            await asyncio.sleep(0.05)
        gateway = cls(proc, tmp_path / "var", certs_dir, log, text)
        gateway.port = int(re.search(r"at https://127\.0\.0\.1:([0-9]+)/dcap", text).group(1))
        gateway.redirect_port = int(re.search(r"plain HTTP on http://127\.0\.0\.1:([0-9]+)", text).group(1))
        gateway.admin_port = int(re.search(r"admin API at http://127\.0\.0\.1:([0-9]+)", text).group(1))
        return gateway

    @property
    def workers(self) -> set[int]:
        return children(self.proc.pid)

    @property
    def leader(self) -> int | None:
        pid = leader_pid(self.data_dir / "leader.lock")
        return pid if pid in self.workers else None

    async def connect(self, port: int, ctx: ssl.SSLContext | None, probe: tuple[str, str],
                      headers: dict[str, str] | None = None) -> Pinned:
        """A connection answered once (probe: method and path), with the worker serving it."""
        conn = await Pinned.open(port, ctx)
        self.pinned.append(conn)
        reply = await conn.request(*probe, headers=headers)
        assert reply.status < 400, (probe, reply)
        inode = server_end_inode(port, conn.client_port)
        assert inode is not None
        conn.worker = holder(self.workers, inode)
        assert conn.worker is not None, "no worker holds the connection"
        return conn

    async def connect_to(self, pids: set[int], port: int, ctx: ssl.SSLContext | None, probe: tuple[str, str],
                         headers: dict[str, str] | None = None, tries: int = 64) -> dict[int, Pinned]:
        """A connection served by each of pids, opening connections until each has one."""
        found: dict[int, Pinned] = {}
        for _ in range(tries):
            conn = await self.connect(port, ctx, probe, headers)
            if conn.worker in pids:
                found.setdefault(conn.worker, conn)
            if set(found) == pids:
                return found
        pytest.fail(f"after {tries} connections to port {port}, only workers {sorted(found)} of {sorted(pids)} "
                    "had accepted one")

    async def stop(self) -> int:
        for conn in self.pinned:
            await conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


@pytest.fixture
async def gateway(tmp_path, certs_dir):
    g = await Gateway.start(tmp_path, certs_dir, workers=2)
    workers = g.workers
    yield g
    returncode = await g.stop()
    assert returncode == 0, g.log.read_text()
    assert not [pid for pid in workers | g.workers if alive(pid)]


def new_lfdi() -> str:
    return secrets.token_hex(20).upper()


def status_at(reading_time: int) -> bytes:
    status = documents.der_status()
    status.readingTime = reading_time
    return codec.encode(status)


# -- the tests ----------------------------------------------------------------------------------------------


async def test_both_workers_answer_on_every_listener_and_each_sees_the_others_writes(gateway, certs_dir,
                                                                                    identities):
    assert "2 worker processes" in gateway.output
    assert gateway.output.count("der-gateway serving 2030.5") == 1  # the parent says it once
    workers = gateway.workers
    assert len(workers) == 2

    device = client_context(certs_dir, "device1")
    tls = await gateway.connect_to(workers, gateway.port, device, ("GET", "/dcap"))
    redirect = await gateway.connect_to(workers, gateway.redirect_port, None, ("GET", "/dcap"))
    for conn in redirect.values():
        moved = await conn.request("GET", "/edev?l=5")
        assert moved.status == 301 and moved.headers["location"] == f"https://127.0.0.1:{gateway.port}/edev?l=5"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    admin = await gateway.connect_to(workers, gateway.admin_port, None, ("GET", "/openapi.json"), auth)
    for conn in admin.values():
        assert (await conn.request("GET", "/openapi.json", headers=auth)).status == 200
    # the same group asked of both workers at once: one makes it, the other refuses it, and both list it
    group = json.dumps({"mRID": "AB" * 16, "description": "feeder"}).encode()
    made = await asyncio.gather(*(conn.request("POST", "/groups", group, {**auth, "Content-Type": JSON})
                                  for conn in admin.values()))
    assert sorted(r.status for r in made) == [201, 409]
    for conn in admin.values():
        listed = json.loads((await conn.request("GET", "/groups", headers=auth)).body)["items"]
        assert [g["mRID"] for g in listed] == ["AB" * 16]

    # a write through either worker is what the other serves next, though it answered the same GET before
    one, other = (tls[pid] for pid in sorted(workers))
    posted = await one.request("POST", "/edev", documents.end_device(identities["device1"].lfdi))
    assert posted.status == 201
    edev = posted.headers["location"]
    reading_time = 1700000000
    for writer, reader in ((one, other), (other, one), (one, other)):
        for _ in range(2):
            reading_time += 1
            assert (await writer.request("PUT", f"{edev}/der/1/ders", status_at(reading_time))).status == 204
            for _ in range(2):  # the second GET may be answered from the reader's cache
                got = await reader.request("GET", f"{edev}/der/1/ders")
                assert got.status == 200
                assert codec.decode(etree.fromstring(got.body), model.DERStatus).readingTime == reading_time
        assert (await reader.request("GET", edev)).status == 200
    assert (await other.request("DELETE", edev)).status == 204
    assert (await one.request("GET", edev)).status == 404


async def aggregator_subscribed(gateway: Gateway, worker: int, receiver: Receiver) -> Pinned:
    """The aggregator on a connection served by worker, registered and subscribed to its EndDeviceList."""
    ctx = client_context(gateway.certs_dir, "aggregator")
    agg = (await gateway.connect_to({worker}, gateway.port, ctx, ("GET", "/dcap")))[worker]
    lfdi = re.search(r"aggregator +aggregator +LFDI ([0-9A-F]{40})", gateway.output).group(1)
    own = (await agg.request("POST", "/edev", documents.end_device(lfdi))).headers["location"]
    subscribed = await agg.request("POST", f"{own}/sub", subscription("/edev", receiver.uri, limit=100))
    assert subscribed.status == 201
    return agg


async def register_and_hear(agg: Pinned, receiver: Receiver, heard_before: int) -> None:
    """Registers a device through agg; the EndDeviceList notification that lists it arrives, once."""
    posted = await agg.request("POST", "/edev", documents.end_device(new_lfdi()))
    assert posted.status == 201
    await eventually(lambda: len(receiver.received) > heard_before, what="the notification")
    note = receiver.notifications()[-1]
    assert note.subscribedResource == "/edev" and note.status == 0
    assert posted.headers["location"] in [e.href for e in note.Resource.EndDevice]


def _outbox_empty(data_dir: Path) -> bool:
    with contextlib.closing(sqlite3.connect(data_dir / "der-gateway.sqlite3", timeout=5)) as conn:
        return conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


async def test_a_change_written_through_a_worker_that_does_not_lead_is_notified_once(gateway, receiver):
    leader = await eventually(lambda: gateway.leader, what="a leader")
    (follower,) = gateway.workers - {leader}
    agg = await aggregator_subscribed(gateway, follower, receiver)
    await asyncio.sleep(0.5)
    assert receiver.received == []  # the subscription hears only of later changes
    for heard in range(3):
        await register_and_hear(agg, receiver, heard)
    await asyncio.sleep(1.0)  # time enough for a second worker's duplicate to arrive
    assert len(receiver.received) == 3
    assert gateway.leader == leader


async def test_a_worker_killed_is_replaced_and_another_takes_over_its_duties(gateway, receiver, certs_dir):
    leader = await eventually(lambda: gateway.leader, what="a leader")
    (follower,) = gateway.workers - {leader}
    agg = await aggregator_subscribed(gateway, follower, receiver)
    await register_and_hear(agg, receiver, 0)
    # the notification heard is also recorded as delivered before the kill: otherwise the new leader may send it
    # again (the in-flight one may be repeated), which is allowed but not what this test counts
    await eventually(lambda: _outbox_empty(gateway.data_dir), what="the delivery recorded")

    os.kill(leader, signal.SIGKILL)
    assert await eventually(lambda: gateway.leader == follower, what="the surviving worker leading")
    replaced = await eventually(lambda: len(gateway.workers - {leader}) == 2 and gateway.workers - {leader, follower},
                                what="a new worker")
    assert "was killed by SIGKILL; starting another" in gateway.log.read_text()
    # a change made after the kill is notified by the new leader, once
    await register_and_hear(agg, receiver, 1)
    await asyncio.sleep(1.0)
    assert len(receiver.received) == 2
    # and the new worker serves
    (newcomer,) = replaced
    device = client_context(certs_dir, "device1")
    conn = (await gateway.connect_to({newcomer}, gateway.port, device, ("GET", "/dcap")))[newcomer]
    assert (await conn.request("GET", "/tm")).status == 200


async def test_workers_die_with_their_parent(tmp_path, certs_dir):
    gateway = await Gateway.start(tmp_path, certs_dir, workers=2)
    workers = gateway.workers
    assert len(workers) == 2
    gateway.proc.kill()
    gateway.proc.wait(10)
    await eventually(lambda: not [pid for pid in workers if alive(pid)], what="the workers' end")


async def test_one_worker_is_one_process(tmp_path, certs_dir):
    gateway = await Gateway.start(tmp_path, certs_dir, workers=1)
    try:
        assert "worker processes" not in gateway.output
        assert gateway.workers == set()
        conn = await Pinned.open(gateway.port, client_context(certs_dir, "device1"))
        gateway.pinned.append(conn)
        assert (await conn.request("GET", "/dcap")).status == 200
        assert not (gateway.data_dir / "leader.lock").exists()
    finally:
        assert await gateway.stop() == 0


def test_workers_are_set_in_the_toml_or_are_one_per_core(tmp_path):
    toml = tmp_path / "server.toml"
    toml.write_text("workers = 3\nleader_poll = 0.05\n")
    config = Config.load(toml)
    assert (config.worker_count, config.leader_poll) == (3, 0.05)
    assert Config.load(toml, workers=1).worker_count == 1  # --workers wins
    assert Config().worker_count == (os.cpu_count() or 1)


def test_workers_must_be_at_least_one(tmp_path):
    run = subprocess.run([sys.executable, "-m", "der_gateway", "serve", "--workers", "0", "--data-dir",
                          str(tmp_path / "var")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "workers must be at least 1" in run.stderr


# -- leadership, in one process ---------------------------------------------------------------------------


async def test_one_lock_holder_leads_and_the_next_takes_over_when_it_resigns(tmp_path):
    path = tmp_path / "leader.lock"
    first, second, third = FileLeadership(path), FileLeadership(path), FileLeadership(path)
    await asyncio.wait_for(first.lead(), 10)
    assert first.is_leader and leader_pid(path) == os.getpid()
    waiting = asyncio.create_task(second.lead())
    also_waiting = asyncio.create_task(third.lead())
    await asyncio.sleep(0.3)
    assert not waiting.done() and not second.is_leader
    await third.resign()  # gives up waiting: it must not take the lock later
    await first.resign()
    await asyncio.wait_for(waiting, 10)
    assert second.is_leader and not first.is_leader
    await asyncio.sleep(0.3)
    assert not third.is_leader and not also_waiting.done()
    also_waiting.cancel()
    await second.resign()
    fourth = FileLeadership(path)
    await asyncio.wait_for(fourth.lead(), 10)
    assert fourth.is_leader
    await fourth.resign()


async def test_a_process_lock_has_one_holder_at_a_time(tmp_path):
    path = tmp_path / "admin-write.lock"
    first, second = ProcessLock(path), ProcessLock(path)  # two open files, as in two processes
    try:
        async with first:
            waiting = asyncio.create_task(second.__aenter__())
            await asyncio.sleep(0.2)
            assert not waiting.done()
        await asyncio.wait_for(waiting, 5)
        await second.__aexit__(None, None, None)
        # a waiter cancelled holds nothing
        async with first:
            cancelled = asyncio.create_task(second.__aenter__())
            await asyncio.sleep(0.05)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
        async with second:
            pass
    finally:
        first.close()
        second.close()
