"""Control-plane benchmarks: one event for a very large group, and one change watched by many subscriptions.

    python bench/bench_control_plane.py [--only a|b] [--members 100000,1000] [--events 15]
                                        [--watch-events 15] [--gets 200] [--events-scaling 100,250,500]
                                        [--subscriptions 10000] [--uris 10000] [--rounds 1]
                                        [--json FILE] [--py-spy DIR] [--no-pin] [--no-settle]

(a) One event for a program whose group has N member EndDevices (N = 100,000, then 1,000 to compare).

    Setup (timed, reported, not part of the figures): a throw-away PKI (der_gateway.pki.init_pki) and
    data directory; the real server (start_server, profile csip, mutual TLS) in this process.  N-1
    EndDevices are created directly in the store, owned by the PKI's aggregator (owner_lfdi = its
    LFDI), with LFDIs made from sha256 of an index and SFDIs from der_gateway.sep.identity:

      - the first `--sample` (default 1000) one by one with store.create_end_device (its rate is
        reported, and extrapolated to N),
      - the rest in ONE writer transaction through a helper of this benchmark only
        (store._in_transaction with executemany into end_devices and ders: the rows
        create_end_device writes), because one fsync'd transaction per device is needlessly slow
        for 100,000;

    then device1 of the test PKI registers itself the same way (create_end_device, owner = its own
    LFDI), last, so it has the highest id.  One group holds all N (store.set_membership, bulk), one
    program is assigned to it (store.set_group_program).  Setup ends with a WAL checkpoint and an
    os.sync() (--no-settle: not), so that the bulk load's write-back is not measured.

    A poller process (its own CPU) holds ONE kept-alive aiohttp client session over mutual TLS with
    device1's certificate and GETs /derp/{pid}/derc (the DERControlList; the standard's default
    limit 1).  Each new event starts earlier than every earlier one, so it is the first (and the
    only shown) entry of that list once visible.  Measured:

      1. create: der_controls.create_event, each event a separate measurement (median, min, max),
         `--events` of them with the server otherwise idle;
      2. visibility: for each of `--watch-events` further events, the poller first polls as fast as
         it can (one request at a time), then this process calls create_event; latency = the
         moment the poller has a response body holding the new event's mRID minus the moment
         create_event returned (time.monotonic, one clock for all processes);
      3. GET latency: `--gets` sequential GETs of the DERControlList (median, p90, max);
      4. then events are added until the program holds each of `--events-scaling` many: create_event
         (the last `--scaling-creates`), `--scaling-gets` GETs and the idle server's CPU share, at
         each size (how they grow with the events of the program, not with its members).

    There is one DERControl per program, not per device, so (1) should not depend on N.

(b) One change watched by M subscriptions (M = 10,000).

    A receiver process (its own CPU) runs a bare aiohttp server on http://127.0.0.1:PORT counting
    POSTs per path and, from each body, per subscriptionURI.  The server (this process) allows
    "http://127.0.0.1:" notificationURIs and M subscriptions per client.  M EndDevices owned by the
    aggregator are created as in (a), grouped, with the program assigned; one subscription per
    EndDevice (store.add_subscription, client = the aggregator, resource /derp/{pid}/derc, the
    body codec.to_data(Subscription(encoding=0, level="-S1", limit=1, notificationURI=...))).  The
    notificationURIs are http://127.0.0.1:PORT/n/{i mod U} for U = `--uris` distinct paths
    (default 10,000: one per subscription; 100 puts 100 subscriptions behind each URI).

    Then one event is created (one change, der_controls.create_event) and nothing else is done: the
    server's own background task (polling every 0.25 s; create_event does not wake it, the admin API
    may) fans the change out to the outbox and delivers it.  `--rounds` repeats this, one event after
    the other.  Measured, all on time.monotonic:

      create       der_controls.create_event
      pickup       create_event returned -> the notifier pass that queued the notifications began
      fan-out      that pass of Notifier.fan_out_pending (render, encode M Notifications, one write)
      delivery     fan-out finished -> the receiver counted the M-th POST
      end to end   create_event returned -> the receiver counted the M-th POST; notifications/s = M / it

    Then the outbox must drain to 0, and after a 2 s grace the receiver must have counted every path
    exactly M/U times and every subscriptionURI exactly once: dropped = M - distinct subscriptions
    received, duplicates = POSTs - distinct.  Either non-zero, or a non-empty outbox, fails the run.
    The store calls the notifier and delivery make are wrapped (in this process only, by this
    benchmark) to count them and time them: where the time goes.

On a machine with two or more CPUs the server (this process, with its SQLite writer thread) is
pinned to one CPU and the poller / receiver to another (--no-pin to leave it to the OS).
--py-spy DIR samples this process with py-spy (PY_SPY or PATH) during each measured window of (b),
the visibility phase of (a) and the GETs at the largest --events-scaling size, writing collapsed
stacks (all threads; profile_summary.py reads the event loop's, --thread sqlite-writer_0 the writer's).
The report names the der_gateway measured (its directory; commit and uncommitted changes if in git).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEP_XML = "application/sep+xml"
HOST = "127.0.0.1"
DEVICE = "device1"
AGGREGATOR = "aggregator"
PEN = 40732
SERVER_CPU, CLIENT_CPU = 0, 1
now_mono = time.monotonic  # CLOCK_MONOTONIC: one clock for every process on the machine


# ---------------------------------------------------------------------------------------------
# Helpers shared by the processes.

def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process (all its threads) has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _end(process: Any) -> None:
    """Terminate, then kill, one process we started."""
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)


async def _recv(conn: Any, timeout: float) -> Any:
    """conn.recv() off the event loop (the server keeps serving meanwhile)."""
    def wait() -> Any:
        if not conn.poll(timeout):
            raise TimeoutError(f"no message within {timeout} s")
        return conn.recv()
    message = await asyncio.get_running_loop().run_in_executor(None, wait)
    if isinstance(message, tuple) and message and message[0] == "error":
        raise RuntimeError(f"a child process failed:\n{message[1]}")
    return message


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {"n": len(values), "median": statistics.median(values), "min": ordered[0], "max": ordered[-1],
            "p90": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))],
            "mean": statistics.fmean(values)}


def _lfdi(index: int) -> str:
    return hashlib.sha256(f"der-gateway bench end device {index}".encode()).hexdigest()[:40].upper()


# ---------------------------------------------------------------------------------------------
# (a)'s poller: its own process, one kept-alive mutual-TLS aiohttp session as device1.

def _poller(conn: Any, cpu: int | None, port: int, certs_dir: str, path: str) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_poller_async(conn, port, Path(certs_dir), path))
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass


async def _poller_async(conn: Any, port: int, certs_dir: Path, path: str) -> None:
    import aiohttp

    from der_gateway.tls import client_context

    connector = aiohttp.TCPConnector(ssl=client_context(certs_dir, DEVICE), limit=1)
    url = f"https://{HOST}:{port}{path}"
    headers = {"Accept": SEP_XML}
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector) as session:
        async def get() -> tuple[float, float, bytes]:
            sent = now_mono()
            async with session.get(url, headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200 or not resp.headers.get("Content-Type", "").startswith(SEP_XML):
                    raise RuntimeError(f"GET {path} answered {resp.status} {resp.headers} {body[:200]!r}")
            return sent, now_mono(), body

        _, _, body = await get()  # the TLS handshake, before anything is measured
        conn.send(("ready", body.decode()))
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command[0] == "stop":
                return
            if command[0] == "gets":
                times = []
                for _ in range(command[1]):
                    sent, done, _ = await get()
                    times.append(done - sent)
                conn.send(("gets", times))
            elif command[0] == "watch":  # poll until a body holds the mRID
                mrid, deadline = command[1].encode(), now_mono() + command[2]
                polls: list[float] = []
                sent, done, body = await get()
                polls.append(done - sent)
                previous_done = done
                conn.send(("polling", None))
                while mrid not in body:
                    if done > deadline:
                        raise RuntimeError(f"{command[1]} did not appear within {command[2]} s")
                    previous_done = done
                    sent, done, body = await get()
                    polls.append(done - sent)
                conn.send(("seen", {"seen_at": done, "request_sent_at": sent, "previous_response_at": previous_done,
                                    "polls": len(polls), "poll_median_s": statistics.median(polls)}))


class Child:
    """A child process with a pipe; reports ("ready", value) first."""

    def __init__(self, ctx: Any, target: Callable, name: str, args: tuple) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.process.start()
        child.close()

    async def ready(self, timeout: float = 60) -> Any:
        status, value = await _recv(self.conn, timeout)
        if status != "ready":
            raise RuntimeError(f"{self.process.name} said {status!r}: {value}")
        return value

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(("stop",))
            except OSError:
                pass
            self.process.join(10)
        _end(self.process)
        self.conn.close()


# ---------------------------------------------------------------------------------------------
# (b)'s receiver: its own process, a bare aiohttp server counting POSTs.

def _receiver(conn: Any, cpu: int | None, events: Any) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_receiver_async(conn, events))
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass


async def _receiver_async(conn: Any, events: Any) -> None:
    from aiohttp import web

    state: dict[str, Any] = {}

    def reset(expected: int) -> None:
        state.update(expected=expected, total=0, first=None, last=None, paths=Counter(), subs=Counter(), bad=[])

    reset(0)
    open_tag, close_tag = b"<subscriptionURI>", b"</subscriptionURI>"

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        at = now_mono()
        i = body.find(open_tag)
        j = body.find(close_tag, i)
        if request.content_type != SEP_XML or i < 0 or j < 0:
            state["bad"].append(f"{request.path} {request.content_type} {body[:120]!r}")
        state["subs"][body[i + len(open_tag):j].decode()] += 1
        state["paths"][request.path] += 1
        state["total"] += 1
        if state["first"] is None:
            state["first"] = at
        state["last"] = at
        if state["total"] == state["expected"]:
            events.send(("done", {"first": state["first"], "last": at}))
        return web.Response(status=201)

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/n/{tail}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024)
    await site.start()
    conn.send(("ready", site._server.sockets[0].getsockname()[1]))
    loop = asyncio.get_running_loop()
    try:
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command[0] == "stop":
                return
            if command[0] == "reset":
                reset(command[1])
                conn.send(("reset", None))
            elif command[0] == "report":
                conn.send(("report", {"total": state["total"], "first": state["first"], "last": state["last"],
                                      "paths": dict(state["paths"]), "subs": dict(state["subs"]),
                                      "bad": state["bad"][:10], "bad_count": len(state["bad"])}))
            elif command[0] == "count":
                conn.send(("count", state["total"]))
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------
# The server side (this process).

class Timed:
    """Wraps an instance's async methods to count calls and the seconds they took (this process only)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float, Any]]] = {}
        self.recording = False

    def wrap(self, obj: Any, name: str, result_size: Callable[[Any], Any] = lambda r: None) -> None:
        original = getattr(obj, name)
        log = self.calls.setdefault(f"{type(obj).__name__}.{name}", [])

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = now_mono()
            result = await original(*args, **kwargs)
            if self.recording:
                log.append((start, now_mono(), result_size(result)))
            return result
        setattr(obj, name, timed)

    def clear(self) -> None:
        for log in self.calls.values():
            log.clear()

    def summary(self) -> dict[str, dict[str, float]]:
        return {name: {"calls": len(log), "seconds": sum(e - s for s, e, _ in log)}
                for name, log in self.calls.items() if log}


def server_config(tmp: Path, certs_dir: Path, **overrides: Any):
    from der_gateway.config import Config

    values: dict[str, Any] = {"host": HOST, "port": 0, "profile": "csip", "data_dir": tmp / "data",
                              "certs_dir": certs_dir, **overrides}
    known = {f.name for f in dataclass_fields(Config)}
    if "admin_port" in known:
        values["admin_port"] = 0  # start_server may start the admin listener: no fixed port
    return Config(**{k: v for k, v in values.items() if k in known})


async def create_devices(store: Any, count: int, owner: str, sample: int) -> dict[str, Any]:
    """count EndDevices owned by owner: `sample` one by one through the store API, the rest in one transaction."""
    from der_gateway.sep.identity import sfdi_from_lfdi
    from der_gateway.store.base import EndDeviceRecord

    now = int(time.time())
    rows, seen_sfdi, index = [], set(), 0
    while len(rows) < count:
        lfdi = _lfdi(index)
        index += 1
        sfdi = sfdi_from_lfdi(lfdi)
        if sfdi in seen_sfdi:  # 36-bit SFDIs: a rare birthday collision among 100,000
            continue
        seen_sfdi.add(sfdi)
        rows.append((lfdi, sfdi, owner, now, 111115, now))
    sample = min(sample, count)
    ids: list[int] = []
    t0 = now_mono()
    for lfdi, sfdi, owner_lfdi, changed, pin, registered in rows[:sample]:
        record = await store.create_end_device(EndDeviceRecord(
            id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=owner_lfdi, changedTime=changed, pIN=pin,
            dateTimeRegistered=registered))
        ids.append(record.id)
    one_by_one = now_mono() - t0

    bulk = rows[sample:]

    def insert(c: sqlite3.Connection) -> list[int]:
        """The rows store.create_end_device writes (end_devices, and DER 1 in ders), for many at once."""
        first = c.execute("SELECT coalesce(max(id), 0) FROM end_devices").fetchone()[0]
        c.executemany(
            "INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, enabled) "
            "VALUES (?, ?, ?, ?, ?, ?, 1)", bulk)
        new = [r[0] for r in c.execute("SELECT id FROM end_devices WHERE id > ? ORDER BY id", (first,))]
        c.executemany("INSERT INTO ders (end_device_id, n) VALUES (?, 1)", [(i,) for i in new])
        return new

    t0 = now_mono()
    if bulk:
        ids += await store._in_transaction(insert)
    bulk_s = now_mono() - t0
    if len(ids) != count:
        raise RuntimeError(f"created {len(ids)} EndDevices, not {count}")
    return {"ids": ids, "one_by_one": sample, "one_by_one_s": one_by_one,
            "one_by_one_per_s": sample / one_by_one if one_by_one else None,
            "bulk": len(bulk), "bulk_s": bulk_s}


async def register_self(store: Any, lfdi: str, sfdi: int) -> int:
    from der_gateway.store.base import EndDeviceRecord

    now = int(time.time())
    record = await store.create_end_device(EndDeviceRecord(
        id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=lfdi, changedTime=now, pIN=111115, dateTimeRegistered=now))
    return record.id


async def group_with_program(store: Any, members: list[int]) -> tuple[int, int, float]:
    from der_gateway.domain.identifiers import new_mrid

    t0 = now_mono()
    group = await store.create_group(new_mrid(PEN), "bench feeder")
    await store.set_membership(group, members, True)
    program = await store.create_program(new_mrid(PEN), "bench program", 1)
    await store.set_group_program(group, program, True)
    if await store.count_group_members(group) != len(members):
        raise RuntimeError("the group does not hold every member")
    return group, program, now_mono() - t0


async def settle_disk(store: Any) -> float:
    """After a bulk load: checkpoint the WAL into the database file and flush the OS's dirty pages, so that
    the load's write-back does not land in what is measured next (a helper of this benchmark only)."""
    t0 = now_mono()
    await store._write(lambda: store._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
    await asyncio.get_running_loop().run_in_executor(None, os.sync)
    await asyncio.sleep(0.5)
    return now_mono() - t0


def der_control(start: int, duration: int, mrid: str):
    """As tests/test_control_plane.py's control() helper, with an mRID of our choosing."""
    from der_gateway.sep import model

    return model.DERControl(
        mRID=mrid, creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(opModMaxLimW=5000), responseRequired="03")


class EventMaker:
    """Events for one program, 300 s long, each starting 600 s before the previous one (the first 8 days ahead):
    none overlaps another, none starts during the run, and the newest is always first in the DERControlList."""

    def __init__(self, server: Any, program: int) -> None:
        self.server, self.program = server, program
        self.next_start = int(time.time()) + 8 * 86_400
        self.made = 0

    def next_control(self):
        from der_gateway.domain.identifiers import new_mrid

        self.next_start -= 600
        self.made += 1
        if self.next_start < time.time() + 600:
            raise RuntimeError("too many events for one run")
        return der_control(self.next_start, 300, new_mrid(PEN))

    async def create(self, control) -> tuple[float, float, Any]:
        """(returned_at, seconds, record)"""
        from der_gateway.services import der_controls

        t0 = now_mono()
        record = await der_controls.create_event(self.server.store, self.server.background.clock, PEN,
                                               self.program, control)
        t1 = now_mono()
        return t1, t1 - t0, record


class PySpy:
    """py-spy on this process for one window (collapsed stacks for bench/profile_summary.py)."""

    def __init__(self, directory: Path | None, name: str, cpu: int | None) -> None:
        self.process = None
        self.directory, self.name, self.cpu = directory, name, cpu

    async def start(self) -> PySpy:
        directory, name, cpu = self.directory, self.name, self.cpu
        if directory is None:
            return self
        exe = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
        self.out = directory / f"{name}.txt"
        self.process = subprocess.Popen(
            [exe, "record", "--pid", str(os.getpid()), "--rate", "500", "--nonblocking", "--idle", "--threads",
             "--format", "raw", "--output", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
        await asyncio.sleep(0.5)  # let it attach
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on ^C
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        print(f"  py-spy -> {self.out} ({err.decode(errors='replace').strip().splitlines()[-1:] or ''})",
              file=sys.stderr)
        self.process = None


# ---------------------------------------------------------------------------------------------
# (a)

async def run_a(args: argparse.Namespace, ctx: Any, certs_dir: Path, members: int, cpus: tuple) -> dict[str, Any]:
    from der_gateway import pki
    from der_gateway.launch import start_server

    server_cpu, client_cpu = cpus
    issued = {c.name: c for c in pki.read_manifest(certs_dir)}
    device, aggregator = issued[DEVICE], issued[AGGREGATOR]
    log = lambda text: print(f"  (a) N={members}: {text}", file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="der-gateway-bench-cp-") as tmp:
        server = await start_server(server_config(Path(tmp), certs_dir))
        poller: Child | None = None
        try:
            store = server.store
            made = await create_devices(store, members - 1, aggregator.lfdi, min(args.sample, members - 1))
            t0 = now_mono()
            device_id = await register_self(store, device.lfdi, device.sfdi)
            made["ids"].append(device_id)
            group, program, group_s = await group_with_program(store, made["ids"])
            setup = {k: v for k, v in made.items() if k != "ids"}
            setup.update(device1_id=device_id, group_id=group, program_id=program, group_and_program_s=group_s,
                         total_s=made["one_by_one_s"] + made["bulk_s"] + (now_mono() - t0))
            if not args.no_settle:
                setup["settle_disk_s"] = await settle_disk(store)
            log(f"setup {setup['total_s']:.1f} s: {made['one_by_one']} EndDevices one by one "
                f"({made['one_by_one_per_s']:.0f}/s), {made['bulk']} in one transaction ({made['bulk_s']:.2f} s); "
                f"device1 is EndDevice {device_id}; group and program {group_s:.2f} s")

            path = f"/derp/{program}/derc"
            poller = Child(ctx, _poller, "bench-poller", (client_cpu, server.port, str(certs_dir), path))
            first = await poller.ready()
            if 'all="0"' not in first:
                raise RuntimeError(f"unexpected first DERControlList: {first}")
            maker = EventMaker(server, program)

            # 1. create_event with the server otherwise idle
            create_idle = []
            for _ in range(args.events):
                _, seconds, record = await maker.create(maker.next_control())
                create_idle.append(seconds)
            log(f"create_event idle: median {1e3 * statistics.median(create_idle):.2f} ms")

            # 3. (before 2, so that no event is in flight) GET latency
            poller.conn.send(("gets", args.gets))
            _, gets = await _recv(poller.conn, 600)
            log(f"GET {path}: median {1e3 * statistics.median(gets):.2f} ms over {len(gets)}")

            # 2. visibility to a polling member
            spy = await PySpy(args.py_spy, f"a-{members}-visibility", client_cpu).start()
            create_busy, latency, latency_from_start, polls, poll_median = [], [], [], [], []
            try:
                for _ in range(args.watch_events):
                    control = maker.next_control()
                    poller.conn.send(("watch", control.mRID.upper(), 60.0))
                    await _recv(poller.conn, 60)  # ("polling", None): it polls as fast as it can now
                    returned_at, seconds, record = await maker.create(control)
                    _, seen = await _recv(poller.conn, 90)
                    create_busy.append(seconds)
                    latency.append(seen["seen_at"] - returned_at)
                    latency_from_start.append(seen["seen_at"] - (returned_at - seconds))
                    polls.append(seen["polls"])
                    poll_median.append(seen["poll_median_s"])
                    await asyncio.sleep(0.05)
            finally:
                spy.stop()
            log(f"visible after: median {1e3 * statistics.median(latency):.2f} ms; create_event while polled: "
                f"median {1e3 * statistics.median(create_busy):.2f} ms")

            # 4. the same, with more events already in the program
            scaling = []
            for target in args.events_scaling:
                while maker.made < target - args.scaling_creates:
                    await maker.create(maker.next_control())
                creates = []
                while maker.made < target:
                    creates.append((await maker.create(maker.next_control()))[1])
                await asyncio.sleep(0.3)
                cpu0, t0 = time.process_time(), now_mono()
                await asyncio.sleep(args.idle_seconds)
                idle_cpu = (time.process_time() - cpu0) / (now_mono() - t0)
                spy = await PySpy(args.py_spy if target == max(args.events_scaling) else None,
                                  f"a-{members}-{target}events-gets", client_cpu).start()
                try:
                    poller.conn.send(("gets", args.scaling_gets))
                    _, scaled_gets = await _recv(poller.conn, 600)
                finally:
                    spy.stop()
                scaling.append({"events": target, "create_s": _stats(creates), "get_s": _stats(scaled_gets),
                                "idle_server_cpu_pct": 100 * idle_cpu})
                log(f"with {target} events in the program: create_event median "
                    f"{1e3 * statistics.median(creates):.2f} ms, GET median {1e3 * statistics.median(scaled_gets):.2f} "
                    f"ms, idle server CPU {100 * idle_cpu:.0f}%")
            return {"members": members, "setup": setup, "create_idle_s": _stats(create_idle),
                    "scaling": scaling,
                    "create_while_polled_s": _stats(create_busy), "visible_after_s": _stats(latency),
                    "visible_after_start_s": _stats(latency_from_start),
                    "poll_get_s": _stats(poll_median), "polls_per_watch": _stats([float(p) for p in polls]),
                    "get_s": _stats(gets), "events_in_program": maker.made,
                    "samples": {"create_idle_s": create_idle, "create_while_polled_s": create_busy,
                                "visible_after_s": latency, "get_s": gets}}
        finally:
            if poller is not None:
                poller.stop()
            await server.stop()


# ---------------------------------------------------------------------------------------------
# (b)

async def run_b(args: argparse.Namespace, ctx: Any, certs_dir: Path, cpus: tuple) -> dict[str, Any]:
    from der_gateway import pki
    from der_gateway.sep import codec, model
    from der_gateway.launch import start_server

    server_cpu, client_cpu = cpus
    m, uris = args.subscriptions, args.uris
    if m % uris:
        raise SystemExit("--subscriptions must be a multiple of --uris")
    aggregator = {c.name: c for c in pki.read_manifest(certs_dir)}[AGGREGATOR]
    log = lambda text: print(f"  (b) M={m} U={uris}: {text}", file=sys.stderr, flush=True)  # noqa: E731
    events_parent, events_child = ctx.Pipe(duplex=False)
    receiver = Child(ctx, _receiver, "bench-receiver", (client_cpu, events_child))
    events_child.close()
    try:
        port = await receiver.ready()
        with tempfile.TemporaryDirectory(prefix="der-gateway-bench-cp-") as tmp:
            server = await start_server(server_config(
                Path(tmp), certs_dir, notification_allow=("https://", f"http://{HOST}:"),
                max_subscriptions_per_client=max(m, 100)))
            try:
                return await _run_b(args, server, receiver, events_parent, port, aggregator, m, uris, log,
                                    client_cpu, codec, model)
            finally:
                await server.stop()
    finally:
        receiver.stop()
        events_parent.close()


async def _run_b(args, server, receiver, events, port, aggregator, m, uris, log, client_cpu, codec, model):
    store = server.store
    t0 = now_mono()
    made = await create_devices(store, m, aggregator.lfdi, min(args.sample, m))
    group, program, _ = await group_with_program(store, made["ids"])
    devices_s = now_mono() - t0
    resource = f"/derp/{program}/derc"
    t0 = now_mono()
    for i, edev in enumerate(made["ids"]):
        uri = f"http://{HOST}:{port}/n/{i % uris}"
        data = codec.to_data(model.Subscription(subscribedResource=resource, encoding=0, level="-S1", limit=1,
                                                notificationURI=uri))
        await store.add_subscription(edev, aggregator.lfdi, resource, data)
    subscriptions_s = now_mono() - t0
    if len(await store.subscriptions_to(resource)) != m:
        raise RuntimeError("not every subscription is stored")
    setup = {k: v for k, v in made.items() if k != "ids"}
    setup.update(devices_group_program_s=devices_s, subscriptions_s=subscriptions_s,
                 subscriptions_per_s=m / subscriptions_s)
    if not args.no_settle:
        setup["settle_disk_s"] = await settle_disk(store)
    log(f"setup: {m} EndDevices, group and program {devices_s:.1f} s; {m} subscriptions one by one with "
        f"store.add_subscription {subscriptions_s:.1f} s ({m / subscriptions_s:.0f}/s)")
    await asyncio.sleep(0.6)  # let the background pass over the setup's (empty) change log
    if await store.pending_changes() or await store.outbox_size():
        raise RuntimeError("the change log or the outbox is not empty before the measurement")

    timed = Timed()
    notifier, delivery = server.background.notifier, server.background.delivery
    timed.wrap(notifier, "fan_out_pending", lambda n: n)
    for name in ("subscriptions_to", "is_aggregator", "fan_out", "pending_changes", "outbox_heads",
                 "outbox_queue", "outbox_delivered", "outbox_retry", "next_outbox_attempt"):
        timed.wrap(store, name, (lambda r: len(r)) if name in ("outbox_heads", "outbox_queue") else (lambda r: None))
    maker = EventMaker(server, program)
    rounds = []
    for r in range(args.rounds):
        receiver.conn.send(("reset", m))
        await _recv(receiver.conn, 30)
        delivered0, failed0 = delivery.delivered_total, delivery.failed_total
        timed.clear()
        timed.recording = True
        spy = await PySpy(args.py_spy, f"b-{m}-{uris}uris-round{r + 1}", client_cpu).start()
        cpu0, rcpu0 = time.process_time(), _cpu_seconds(receiver.process.pid)
        try:
            returned_at, create_s, record = await maker.create(maker.next_control())
            progress = asyncio.create_task(_progress(receiver, store, m, log))
            try:
                _, done = await _recv(events, args.timeout)
                timeout = False
            except TimeoutError:
                done, timeout = None, True
            finally:
                progress.cancel()
            cpu1, rcpu1 = time.process_time(), _cpu_seconds(receiver.process.pid)
            drained_at = None
            for _ in range(int(args.timeout * 10)):
                if await store.outbox_size() == 0:
                    drained_at = now_mono()
                    break
                await asyncio.sleep(0.1)
        finally:
            spy.stop()
        timed.recording = False
        await asyncio.sleep(2.0)  # a grace period for late duplicates
        receiver.conn.send(("report",))
        _, report = await _recv(receiver.conn, 60)
        outbox_left = await store.outbox_size()

        fan_outs = [(s, e, n) for s, e, n in timed.calls["Notifier.fan_out_pending"] if n]
        queued = sum(n for _, _, n in fan_outs)
        fan_start = fan_outs[0][0] if fan_outs else None
        fan_end = fan_outs[-1][1] if fan_outs else None
        last = done["last"] if done else report["last"]
        distinct = len(report["subs"])
        expected_per_path = m // uris
        wrong_paths = {p: n for p, n in report["paths"].items() if n != expected_per_path}
        missing_paths = uris - len(report["paths"])
        duplicated_subs = sum(1 for n in report["subs"].values() if n != 1)
        result = {
            "round": r + 1, "create_s": create_s, "timed_out": timeout,
            "pickup_s": (fan_start - returned_at) if fan_start else None,
            "fan_out_s": (fan_end - fan_start) if fan_outs else None,
            "fan_out_passes": len(fan_outs), "queued": queued,
            "delivery_s": (last - fan_end) if (fan_end and last) else None,
            "end_to_end_s": (last - returned_at) if last else None,
            "first_received_after_s": (report["first"] - returned_at) if report["first"] else None,
            "outbox_drained_after_s": (drained_at - returned_at) if drained_at else None,
            "received": report["total"], "distinct_subscriptions": distinct,
            "dropped": m - distinct, "duplicates": report["total"] - distinct,
            "subscriptions_not_exactly_once": duplicated_subs,
            "paths_with_wrong_count": len(wrong_paths) + missing_paths,
            "bad_bodies": report["bad_count"], "outbox_left": outbox_left,
            "delivered_total": delivery.delivered_total - delivered0,
            "failed_attempts": delivery.failed_total - failed0,
            "server_cpu_s": cpu1 - cpu0,
            "receiver_cpu_s": (rcpu1 - rcpu0) if rcpu0 is not None and rcpu1 is not None else None,
            "store_calls": timed.summary(),
        }
        result["notifications_per_s"] = m / result["end_to_end_s"] if result["end_to_end_s"] else None
        result["delivery_per_s"] = m / result["delivery_s"] if result["delivery_s"] else None
        result["ok"] = (not timeout and result["dropped"] == 0 and result["duplicates"] == 0
                        and result["subscriptions_not_exactly_once"] == 0 and result["paths_with_wrong_count"] == 0
                        and result["bad_bodies"] == 0 and outbox_left == 0 and queued == m)
        rounds.append(result)
        log(f"round {r + 1}: create {1e3 * create_s:.1f} ms, pickup {_ms(result['pickup_s'])}, fan-out "
            f"{_ms(result['fan_out_s'])}, delivery {_ms(result['delivery_s'])}, end to end "
            f"{_ms(result['end_to_end_s'])} ({_num(result['notifications_per_s'])}/s), dropped {result['dropped']}, "
            f"duplicates {result['duplicates']}, outbox left {outbox_left}" + ("" if result["ok"] else "  FAILED"))
        for name, s in sorted(result["store_calls"].items(), key=lambda kv: -kv[1]["seconds"]):
            log(f"    {name:32} {s['calls']:7d} calls {s['seconds']:8.3f} s")
    return {"subscriptions": m, "uris": uris, "setup": setup, "rounds": rounds}


async def _progress(receiver: Child, store: Any, m: int, log: Callable[[str], None]) -> None:
    start = now_mono()
    while True:
        await asyncio.sleep(5)
        log(f"    ... {now_mono() - start:.0f} s: outbox {await store.outbox_size()} of {m}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{1e3 * value:.0f} ms"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("a", "b"), help="run one benchmark (default both)")
    parser.add_argument("--members", default="100000,1000",
                        help="(a) group sizes, comma-separated (default 100000,1000)")
    parser.add_argument("--sample", type=int, default=1000,
                        help="EndDevices created one by one with store.create_end_device before the bulk insert "
                             "(default 1000)")
    parser.add_argument("--events", type=int, default=15, help="(a) create_event timings, server idle (default 15)")
    parser.add_argument("--watch-events", type=int, default=15,
                        help="(a) events whose visibility to a polling member is timed (default 15)")
    parser.add_argument("--gets", type=int, default=200, help="(a) sequential GETs timed (default 200)")
    parser.add_argument("--events-scaling", default="100,250,500",
                        help="(a) then create events until the program holds each of these many, timing the last "
                             "--scaling-creates creates, --scaling-gets GETs and the idle server's CPU (default "
                             "100,250,500; empty: skip)")
    parser.add_argument("--scaling-creates", type=int, default=5)
    parser.add_argument("--scaling-gets", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument("--subscriptions", type=int, default=10_000, help="(b) subscriptions (default 10000)")
    parser.add_argument("--uris", type=int, default=10_000,
                        help="(b) distinct notificationURI paths (default 10000: one per subscription)")
    parser.add_argument("--rounds", type=int, default=1, help="(b) events, one after the other (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="(b) seconds to wait for delivery")
    parser.add_argument("--no-settle", action="store_true",
                        help="do not checkpoint the WAL and sync the disk between setup and measurements")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="sample the server with py-spy, stacks to DIR")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the clients to CPUs")
    args = parser.parse_args(argv)
    members = [int(x) for x in args.members.split(",") if x.strip()]
    args.events_scaling = sorted(int(x) for x in args.events_scaling.split(",") if x.strip())
    base_events = args.events + args.watch_events + args.scaling_creates
    if any(n <= base_events for n in args.events_scaling) or any(n > 1100 for n in args.events_scaling):
        parser.error(f"--events-scaling values must be above {base_events} and at most 1100")
    if any(n < 2 for n in members) or args.subscriptions < 1 or args.uris < 1 or args.rounds < 1:
        parser.error("--members (each at least 2), --subscriptions, --uris and --rounds must be positive")
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)

    pin = not args.no_pin and hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2
    cpus: tuple = (None, None)
    if pin:
        available = sorted(os.sched_getaffinity(0))
        cpus = (available[SERVER_CPU], available[CLIENT_CPU])
        _pin(cpus[0])  # before any thread exists: the SQLite writer thread inherits it
    source = _source()  # before anything runs: the files may change meanwhile
    ctx = mp.get_context("spawn")
    previous_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report: dict[str, Any] = {}
    try:
        report = asyncio.run(_main(args, ctx, members, cpus))
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    report.update(command=" ".join(["python", "bench/bench_control_plane.py",
                                     *(sys.argv[1:] if argv is None else argv)]),
                  pinned=pin, source=source, **_machine())
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = any(not r["ok"] for r in report.get("b", {}).get("rounds", []))
    return 1 if failed else 0


async def _main(args: argparse.Namespace, ctx: Any, members: list[int], cpus: tuple) -> dict[str, Any]:
    from der_gateway import pki

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="der-gateway-bench-cp-certs-") as tmp:
        certs_dir = Path(tmp) / "certs"
        pki.init_pki(certs_dir, devices=1)
        if args.only in (None, "a"):
            report["a"] = [await run_a(args, ctx, certs_dir, n, cpus) for n in members]
        if args.only in (None, "b"):
            report["b"] = await run_b(args, ctx, certs_dir, cpus)
    return report


def _source() -> dict[str, Any]:
    """Which der_gateway was measured: its directory, and for a git checkout its commit and uncommitted changes."""
    import der_gateway

    package = Path(der_gateway.__file__).resolve().parent
    found: dict[str, Any] = {"package": str(package)}
    try:
        top = subprocess.run(["git", "-C", str(package), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, check=True).stdout.strip()
        found["commit"] = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"], capture_output=True,
                                         text=True, check=True).stdout.strip()
        diff = subprocess.run(["git", "-C", top, "diff", "HEAD", "--", "src"], capture_output=True, check=True).stdout
        status = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", "src"], capture_output=True,
                                text=True, check=True).stdout.split("\n")
        found["uncommitted"] = [line.strip() for line in status if line.strip()]
        found["diff_sha256"] = hashlib.sha256(diff).hexdigest()[:16] if diff else None
    except (OSError, subprocess.CalledProcessError):
        found["commit"] = None  # not a git checkout (e.g. `git archive` of a commit)
    return found


def _machine() -> dict[str, Any]:
    import aiohttp

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "openssl": ssl.OPENSSL_VERSION, "sqlite": sqlite3.sqlite_version, "platform": platform.platform()}


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                for i, (cell, w) in enumerate(zip(line, widths))) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")


def print_report(report: dict[str, Any]) -> None:
    print(f"command:  {report['command']}")
    src = report["source"]
    changes = (f"with uncommitted changes to {', '.join(x.split()[-1] for x in src['uncommitted'])} "
               f"(diff sha256 {src['diff_sha256']})" if src.get("uncommitted") else "clean")
    print(f"source:   {src['package']}" + (f" at {src['commit']}, {changes}" if src.get("commit") else ""))
    print(f"machine:  {report['cpus']} CPUs, {report['platform']}; CPython {report['python']}, aiohttp "
          f"{report['aiohttp']}, {report['openssl']}, SQLite {report['sqlite']}; server and clients "
          f"{'pinned to separate CPUs' if report['pinned'] else 'not pinned'}")
    ms = lambda s, key="median": f"{1e3 * s[key]:.2f}" if s.get("n") else "n/a"  # noqa: E731
    if "a" in report:
        runs = report["a"]
        print()
        print("(a) one event for a program whose group has N members; one member polls it over mutual TLS (ms)")
        print()
        _table(("members N", "create_event, idle: median (max)", "create_event, while polled",
                "visible after create_event returned: median (max)", "visible after create_event began",
                "GET DERControlList: median (p90)"),
               [(f"{r['members']:,}",
                 f"{ms(r['create_idle_s'])} ({ms(r['create_idle_s'], 'max')})",
                 ms(r["create_while_polled_s"]),
                 f"{ms(r['visible_after_s'])} ({ms(r['visible_after_s'], 'max')})",
                 f"{ms(r['visible_after_start_s'])} ({ms(r['visible_after_start_s'], 'max')})",
                 f"{ms(r['get_s'])} ({ms(r['get_s'], 'p90')})") for r in runs])
        for r in runs:
            s = r["setup"]
            print(f"  N={r['members']:,}: events 1-{r['create_idle_s']['n']} idle, the next "
                  f"{r['create_while_polled_s']['n']} polled, {r['get_s']['n']} GETs; setup {s['total_s']:.1f} s: "
                  f"{s['one_by_one']} EndDevices by create_end_device ({s['one_by_one_per_s']:.0f}/s, i.e. "
                  f"{(r['members'] - 1) / s['one_by_one_per_s']:.0f} s for all {r['members'] - 1:,}), {s['bulk']:,} "
                  f"in one transaction in {s['bulk_s']:.2f} s; membership, group and program "
                  f"{s['group_and_program_s']:.2f} s")
        if any(r.get("scaling") for r in runs):
            print()
            print("(a') the same program with more events in it (ms; idle CPU: the server process with nothing to do)")
            print()
            _table(("members N", "events in program", "create_event median", "GET DERControlList median (p90)",
                    "server CPU while idle"),
                   [(f"{r['members']:,}", str(x["events"]), ms(x["create_s"]),
                     f"{ms(x['get_s'])} ({ms(x['get_s'], 'p90')})", f"{x['idle_server_cpu_pct']:.0f}%")
                    for r in runs for x in r.get("scaling", [])])
    if "b" in report:
        b = report["b"]
        print()
        print(f"(b) one change watched by {b['subscriptions']:,} subscriptions, notificationURIs on "
              f"{b['uris']:,} distinct paths of one local receiver")
        print()
        rows = []
        for r in b["rounds"]:
            rows.append((str(r["round"]), _ms(r["create_s"]), _ms(r["pickup_s"]), _ms(r["fan_out_s"]),
                         _ms(r["delivery_s"]), _ms(r["end_to_end_s"]), _num(r["notifications_per_s"]),
                         f"{r['received']:,}", str(r["dropped"]), str(r["duplicates"]), str(r["outbox_left"]),
                         f"{r['server_cpu_s']:.1f} s / {r['receiver_cpu_s']:.1f} s"
                         if r["receiver_cpu_s"] is not None else f"{r['server_cpu_s']:.1f} s"))
        _table(("round", "create", "pickup", "fan-out", "delivery", "end to end", "notif./s end to end", "received",
                "dropped", "dup.", "outbox after", "CPU server / receiver"), rows)
        s = b["setup"]
        print(f"  setup: {b['subscriptions']:,} subscriptions by store.add_subscription in {s['subscriptions_s']:.1f} s "
              f"({s['subscriptions_per_s']:.0f}/s); checks: every path counted {b['subscriptions'] // b['uris']} "
              f"time(s), every subscriptionURI exactly once: "
              + ", ".join("ok" if r["ok"] else "FAILED" for r in b["rounds"]))
        for r in b["rounds"]:
            print(f"  round {r['round']} store calls (count, wall seconds in this process):")
            for name, c in sorted(r["store_calls"].items(), key=lambda kv: -kv[1]["seconds"]):
                print(f"    {name:34} {c['calls']:7d} {c['seconds']:9.3f} s")


if __name__ == "__main__":
    sys.exit(main())
