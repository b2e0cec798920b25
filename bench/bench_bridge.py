"""Bridge capacity: how many Modbus devices ONE bridge process serves at a 60 s poll with 300 s telemetry,
every control written to its device by the event's start (plus a tolerance).

    python bench/bench_bridge.py [--sizes 1000,2000] [--no-telemetry] [--tolerance 5] [--lead 30]
                                 [--duration 60] [--layout split|none] [--bridge-option NAME=VALUE ...]
                                 [--json FILE] [--py-spy DIR]

For each fleet size N, three processes of their own (multiprocessing, spawn), started afresh:

  server  der_gateway.launch.start_server: profile csip, mutual TLS, SQLite in a temp dir;
          Config(poll_rate=60, post_rate=300, notification_allow=("http://127.0.0.1:",),
          max_subscriptions_per_client=2N+100: the default 100 would refuse all but the first 100 of the
          bridge's per-device FSA subscriptions).  The admin API on a free port.
  fleet   device_sims.Fleet.start(N, base_port=0, kinds=("pv", "battery"), tick=5,
          pv_profile=Constant(0.8), battery_profile=Constant(0.5)); the inventory file it writes is the
          bridge's.  Each simulator's write() is wrapped, in this process only, to note the wall-clock
          time at which WMaxLimPctEna / WMaxLimPct change: the moment a control is WRITTEN to Modbus, as
          the device sees it.
  bridge  der_gateway.bridge.runtime.Bridge.start(inventory, server, certs, cert="aggregator",
          listen=("127.0.0.1", 0), options=BridgeOptions()) -- subscriptions on, every other option
          at its default unless --bridge-option says otherwise.  A watcher task in the bridge process
          notes each device's DeviceState.applied / applied_at as it changes (every 0.5 s; applied_at is
          the exact time), the Notifications as they arrive, the event loop's lag, the garbage
          collector's pauses, and traces every 2030.5 exchange and Modbus call (time submitted, begun,
          ended); the parent asks for them over a pipe.

Enrollment (before the bridge starts; the fast path, not registerDERDevice and service tasks as in
`der-gateway demo`): over the admin API, one program (primacy 1), one group holding it, N EndDevices
created by POST /end-devices with the LFDI the bridge derives for each device (bridge.identity.device_lfdi),
owner = the aggregator, and all N added to the group in one POST /groups/{id}/members.  The bridge then
registers each device (POST /edev finds its EndDevice), PUTs its DER documents, subscribes, follows its
FSAs to the program.

Measured, all on the wall clock (one machine):

  ready      bridge process spawned -> every device registered, following its program, scanned, with
             its DER documents PUT (agent.ready, as Bridge.wait_ready)
  event A    created over the admin API after ready (+ --settle s), starting --lead s after creation,
             lasting --duration s, opModMaxLimW 50 %
  event B    (unless --no-telemetry) created so that it starts when the first device's first telemetry
             period closes (registration + postRate): the event's start and the fleet's first telemetry
             posts land together, the worst case.  The run then waits until every device has posted
             its first MirrorMeterReadings (registration + 300 s), so each size takes about 6.5 minutes.
  per event  received    the bridge's 'received' response (1) POSTed, after create returned
             notified    the Notification for the program's DERControlList reached the bridge
             written     the simulator saw WMaxLimPctEna = 1 with WMaxLimPct = 50, after the start
             applied     DeviceState.applied_at for the event (after the write and the read-back)
             started     the 'started' response (2) POSTed, after the start
             completed   the 'completed' response (3) POSTed, after the end
             met         devices whose control was written by start + --tolerance (the deadline)
             server      store.responses for the event, counted by status (admin API participation)
  telemetry  MirrorMeterReadingList POSTs by the bridge; readings rows and MirrorUsagePoints in the
             server's database (read after the server stopped)
  CPU        each process's user+system seconds from /proc, sampled every second: % of one CPU over
             each phase, and the bridge's busiest second; the bridge's event-loop thread apart from
             its Modbus threads; resident memory

The answer is the largest N whose every control, in every event, met its deadline.

Layout (--layout split, the default, on a machine with 2+ CPUs): server, fleet and this process on one
CPU, the bridge alone on the other.  --layout none: no pinning.  --py-spy DIR records the bridge process
(py-spy at $PY_SPY, on PATH, or /tmp/pyspy-venv/bin/py-spy, on the other CPU; 200 Hz, every thread,
on-CPU samples only, so a function's share of samples is its share of CPU) from the bridge's start to
ready and over each event's start (start - 2 s -> start + 10 s); summarise with
`python bench/profile_summary.py FILE --own der_gateway/` (the event-loop thread, MainThread) or
`--thread modbus_0` (one of the Modbus pool's threads).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import logging
import math
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

HOST = "127.0.0.1"
AGGREGATOR = "aggregator"
LIMIT_PCT = 50  # opModMaxLimW of the benchmark's events, in percent of setMaxW
DEFAULT_SIZES = "1000,2000"


# ---------------------------------------------------------------------------------------------
# Helpers shared by the processes.

def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _proc_cpu(path: str) -> float | None:
    """User + system CPU seconds from a /proc/.../stat file."""
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def _end(process: Any) -> None:
    """Terminate, then kill, one process we started."""
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)


def _child_entry(target: Callable, conn: Any, cpu: int | None, args: tuple) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    try:
        asyncio.run(target(conn, *args))
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass


async def _commands(conn: Any):
    """The parent's commands, received off the event loop."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            command = await loop.run_in_executor(None, conn.recv)
        except EOFError:
            return
        yield command


class Child:
    """A child process with a pipe; it reports ("ready", value) first, then answers commands."""

    def __init__(self, ctx: Any, target: Callable, name: str, cpu: int | None, args: tuple) -> None:
        self.name = name
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_child_entry, args=(target, child, cpu, args), name=name, daemon=True)
        self.process.start()
        child.close()
        self.pid = self.process.pid
        self._lock = asyncio.Lock()

    async def _recv(self, timeout: float) -> Any:
        def wait() -> Any:
            if not self.conn.poll(timeout):
                raise TimeoutError(f"{self.name}: no answer within {timeout} s")
            return self.conn.recv()
        message = await asyncio.get_running_loop().run_in_executor(None, wait)
        if isinstance(message, tuple) and message and message[0] == "error":
            raise RuntimeError(f"the {self.name} process failed:\n{message[1]}")
        return message

    async def ready(self, timeout: float = 120) -> Any:
        status, value = await self._recv(timeout)
        if status != "ready":
            raise RuntimeError(f"{self.name} said {status!r}: {value}")
        return value

    async def ask(self, *command: Any, timeout: float = 60) -> Any:
        async with self._lock:
            self.conn.send(command)
            status, value = await self._recv(timeout)
            if status != command[0]:
                raise RuntimeError(f"{self.name} answered {status!r} to {command[0]!r}")
            return value

    async def stop(self, timeout: float = 60) -> Any:
        """Ask the child to shut down cleanly; returns what it said (None if it had to be killed)."""
        said = None
        if self.process.is_alive():
            try:
                said = await self.ask("stop", timeout=timeout)
            except (OSError, EOFError, TimeoutError, RuntimeError) as exc:
                print(f"  {self.name}: no clean stop ({type(exc).__name__}: {exc}); terminating", file=sys.stderr)
            await asyncio.get_running_loop().run_in_executor(None, self.process.join, 10)
        _end(self.process)
        self.conn.close()
        return said


# ---------------------------------------------------------------------------------------------
# The server process.

async def _server_child(conn: Any, config_values: dict[str, Any]) -> None:
    from der_gateway.config import Config
    from der_gateway.launch import start_server

    logging.basicConfig(level=logging.ERROR)
    config = Config(**config_values)
    server = await start_server(config)
    conn.send(("ready", {"url": server.url, "admin_url": server.admin_url, "pid": os.getpid(),
                         "db": str(server.store.path)}))
    async for command in _commands(conn):
        if command[0] == "stats":
            delivery = server.background.delivery
            conn.send(("stats", {"notifications_delivered": delivery.delivered_total,
                                 "notification_failures": delivery.failed_total,
                                 "outbox": await server.store.outbox_size()}))
        elif command[0] == "stop":
            t0 = time.time()
            await server.stop()
            conn.send(("stop", {"stop_s": time.time() - t0}))
            return


# ---------------------------------------------------------------------------------------------
# The fleet process.

async def _fleet_child(conn: Any, count: int, tick: float, inventory: str, seed: int) -> None:
    from device_sims import profiles
    from device_sims.fleet import Fleet

    t0 = time.time()
    fleet = await Fleet.start(count, base_port=0, kinds=("pv", "battery"), tick=tick, seed=seed,
                              pv_profile=profiles.Constant(0.8), battery_profile=profiles.Constant(0.5),
                              inventory=inventory)
    logs: dict[str, list[tuple[float, bool, float]]] = {}
    for device in fleet.devices:
        inverter = device.inverter
        ctl = inverter.ctl
        log = logs[device.name] = [(time.time(), bool(ctl.wmaxlim_ena), round(ctl.wmaxlim_pct, 2))]

        def write(offset: int, values: list[int], now: float | None = None, _original=inverter.write,
                  _ctl=ctl, _log=log) -> int | None:
            code = _original(offset, values, now)
            state = (bool(_ctl.wmaxlim_ena), round(_ctl.wmaxlim_pct, 2))
            if _log[-1][1:] != state:
                _log.append((time.time(), *state))
            return code

        inverter.write = write  # this process only: the time each control reaches the device
    conn.send(("ready", {"pid": os.getpid(), "start_s": time.time() - t0, "devices": len(fleet.devices)}))
    try:
        async for command in _commands(conn):
            if command[0] == "writes":
                conn.send(("writes", logs))
            elif command[0] == "stats":
                conn.send(("stats", {"modbus_requests": sum(d.inverter.requests for d in fleet.devices),
                                     "modbus_writes": sum(d.inverter.writes for d in fleet.devices),
                                     "ticks": fleet.ticks}))
            elif command[0] == "stop":
                t1 = time.time()
                await fleet.stop()
                conn.send(("stop", {"stop_s": time.time() - t1}))
                return
    finally:
        if fleet.devices and fleet.devices[0].server.running:
            await fleet.stop()


# ---------------------------------------------------------------------------------------------
# The bridge process.

class _CountingHandler(logging.Handler):
    """Counts the bridge's warnings and errors (by logger and message template); keeps a few of them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter = Counter()
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.name}: {record.msg}"] += 1
        if len(self.samples) < 30:
            try:
                self.samples.append(f"{time.time():.1f} {record.levelname} {record.name}: {record.getMessage()}")
            except Exception:  # pragma: no cover
                pass


async def _bridge_child(conn: Any, inventory: str, server_url: str, certs_dir: str, overrides: dict[str, Any],
                        data_dir: str | None) -> None:
    from der_gateway.bridge.runtime import Bridge, BridgeOptions

    counting = _CountingHandler()
    root = logging.getLogger()
    root.addHandler(counting)
    root.setLevel(logging.WARNING)
    t_start = time.time()
    options = BridgeOptions.with_overrides(None, **overrides)
    notes: list[tuple[float, str, str, int]] = []
    transitions: dict[str, list[tuple[float | None, str | None, str | None]]] = {}
    progress: list[tuple[float, int, int, int]] = []
    lag_by_second: dict[int, float] = {}
    marks: dict[str, Any] = {"ready_at": None}

    async with Bridge.start(inventory, server_url, certs_dir, cert=AGGREGATOR, listen=(HOST, 0),
                            data_dir=data_dir, options=options) as bridge:
        t_started = time.time()
        agents = bridge.agents
        handler = bridge.listener.handler

        def on_notification(device: str, note: Any) -> bool:
            if len(notes) < 20_000:
                notes.append((time.time(), note.subscribedResource, device, note.status))
            return handler(device, note)

        bridge.listener.handler = on_notification  # the listener looks it up per Notification

        # Traces (this process only): every 2030.5 exchange (queueing for the client's slots included) and
        # every Modbus call (submitted, begun on a pool thread, ended), to see what a late device waited for.
        http_log: list[tuple[float, float, str, str, Any]] = []
        modbus_log: list[tuple[float, float | None, float, str, int | None]] = []
        request = bridge.client.request

        async def traced_request(method: str, href: str, body: bytes | None = None) -> Any:
            t0, status = time.time(), None
            try:
                reply = await request(method, href, body)
                status = reply.status
                return reply
            except BaseException as exc:
                status = type(exc).__name__
                raise
            finally:
                if len(http_log) < 500_000:
                    http_log.append((t0, time.time(), method, href, status))

        bridge.client.request = traced_request  # SepClient.get/post/put call self.request
        run = bridge.pool.run

        async def traced_run(fn: Callable, *args: Any) -> Any:
            t0, begun = time.time(), []
            inner = args[0] if args and callable(args[0]) else fn
            port = getattr(getattr(inner, "__self__", None), "port", None)

            def timed(*a: Any) -> Any:
                begun.append(time.time())
                return fn(*a)
            try:
                return await run(timed, *args)
            finally:
                if len(modbus_log) < 500_000:
                    modbus_log.append((t0, begun[0] if begun else None, time.time(),
                                       getattr(inner, "__name__", "?"), port))

        bridge.pool.run = traced_run  # SunSpecDevice calls self.pool.run

        async def watch() -> None:
            last: dict[str, Any] = {}
            next_ready_check = 0.0
            while True:
                now = time.time()
                for name, agent in agents.items():
                    state = agent.state
                    key = state.applied
                    if name not in last or last[name] != key:
                        last[name] = key
                        transitions.setdefault(name, []).append(
                            (state.applied_at, key[0] if key else None, key[2] if key else None))
                if marks["ready_at"] is None and now >= next_ready_check:
                    next_ready_check = now + 0.5
                    states = [a.state for a in agents.values()]
                    ready = sum(1 for a in agents.values() if a.ready)
                    progress.append((now, sum(s.registered for s in states), ready,
                                     sum(s.modbus_ok for s in states)))
                    if ready == len(agents):
                        marks["ready_at"] = now
                await asyncio.sleep(0.5)  # applied_at is the exact time; two changes within 0.5 s would merge

        async def lag() -> None:
            loop = asyncio.get_running_loop()
            while True:
                t0 = loop.time()
                await asyncio.sleep(0.05)
                late = loop.time() - t0 - 0.05
                second = int(time.time())
                if late > lag_by_second.get(second, 0.0):
                    lag_by_second[second] = late

        gc_pauses: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}  # (began, seconds)
        gc_started: list[float] = [0.0, 0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[:] = [time.time(), time.perf_counter()]
            elif len(gc_pauses[info["generation"]]) < 100_000:
                gc_pauses[info["generation"]].append((gc_started[0], time.perf_counter() - gc_started[1]))

        gc.callbacks.append(on_gc)  # the collector's pauses stop the event loop too
        tasks = [asyncio.create_task(watch()), asyncio.create_task(lag())]
        conn.send(("ready", {"pid": os.getpid(), "listen": bridge.listen_url,
                             "start_called_at": t_start, "started_at": t_started,
                             "options": {f.name: getattr(options, f.name) for f in dataclass_fields(options)}}))

        def summary() -> dict[str, Any]:
            states = bridge.states
            posts = [a.next_post for a in agents.values() if a.state.registered and a.next_post]
            return {
                **bridge.summary(),
                "ready_at": marks["ready_at"],
                "ready": progress[-1][2] if progress and marks["ready_at"] is None else len(agents),
                "errors": sum(s.errors for s in states),
                "modbus_losses": sum(s.modbus_losses for s in states),
                "server_outages": sum(s.server_outages for s in states),
                "poll_rates": dict(Counter(s.poll_rate for s in states)),
                "post_rates": dict(Counter(s.post_rate for s in states)),
                "next_post_min": min(posts) if posts else None,
                "next_post_max": max(posts) if posts else None,
                "with_telemetry": sum(1 for s in states if s.readings_posted),
                "responses_by_status": dict(Counter(r.status for s in states for r in s.responses)),
                "client_failures": bridge.client.failures, "client_outages": bridge.client.outages,
                "modbus_calls": bridge.pool.calls, "warnings": sum(counting.counts.values()),
            }

        def details() -> dict[str, Any]:
            devices = {}
            for name, agent in agents.items():
                s = agent.state
                devices[name] = {
                    "transitions": transitions.get(name, []),
                    "responses": [(r.mrid.upper(), r.status, r.time) for r in s.responses],
                    "readings_posted": s.readings_posted, "errors": s.errors, "last_error": s.last_error,
                    "modbus_losses": s.modbus_losses, "server_outages": s.server_outages,
                    "registered": s.registered, "modbus_ok": s.modbus_ok, "poll_rate": s.poll_rate,
                    "post_rate": s.post_rate, "plans": s.plans, "logs_posted": s.logs_posted,
                    "puts": dict(s.puts), "edev": s.edev, "mup": s.mup, "port": agent.spec.port,
                }
            return {"devices": devices, "notifications": notes, "progress": progress,
                    "lag_by_second": lag_by_second, "warnings": dict(counting.counts),
                    "warning_samples": counting.samples, "summary": summary(),
                    "subscriptions": bridge.cache.subscriptions(), "cache_fetches": bridge.cache.fetches,
                    "listener_received": bridge.listener.received, "http_log": http_log,
                    "modbus_log": modbus_log,
                    "gc": {g: {"count": len(v), "total_s": sum(d for _, d in v),
                               "max_s": max((d for _, d in v), default=0.0)} for g, v in gc_pauses.items()},
                    "gc_gen2": gc_pauses[2]}

        try:
            async for command in _commands(conn):
                if command[0] == "summary":
                    conn.send(("summary", summary()))
                elif command[0] == "details":
                    conn.send(("details", details()))
                elif command[0] == "stop":
                    break
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            t_stop = time.time()
    conn.send(("stop", {"stop_s": time.time() - t_stop}))


# ---------------------------------------------------------------------------------------------
# CPU sampling (this process) and py-spy.

class Sampler:
    """Every second: CPU seconds of each process (and the bridge's event-loop thread), from /proc."""

    def __init__(self) -> None:
        self.pids: dict[str, str] = {}
        self.origins: dict[str, tuple[float, float]] = {}
        self.samples: list[tuple[float, dict[str, float | None]]] = []
        self._task: asyncio.Task | None = None

    def watch(self, name: str, pid: int, thread: bool = False, spawned_at: float | None = None) -> None:
        """spawned_at: the process used no CPU before then (its CPU share counts from there)."""
        self.pids[name] = f"/proc/{pid}/stat"
        if thread:  # the main (event-loop) thread's id is the process id
            self.pids[f"{name}-loop"] = f"/proc/{pid}/task/{pid}/stat"
        if spawned_at is not None:
            self.origins[name] = self.origins[f"{name}-loop"] = (spawned_at, 0.0)
        self.sample()

    def sample(self) -> None:
        self.samples.append((time.time(), {name: _proc_cpu(path) for name, path in self.pids.items()}))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(1.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sample()

    def _at(self, t: float, name: str, after: bool) -> tuple[float, float] | None:
        rows = [(ts, v[name]) for ts, v in self.samples if v.get(name) is not None]
        if name in self.origins:
            rows.insert(0, self.origins[name])
        if not rows:
            return None
        if after:
            later = [r for r in rows if r[0] >= t]
            return later[0] if later else rows[-1]
        earlier = [r for r in rows if r[0] <= t]
        return earlier[-1] if earlier else rows[0]

    def share(self, name: str, t0: float, t1: float) -> float | None:
        """% of one CPU the process used between the samples nearest t0 (at or before) and t1 (at or after)."""
        a, b = self._at(t0, name, False), self._at(t1, name, True)
        if a is None or b is None or b[0] <= a[0]:
            return None
        return 100.0 * (b[1] - a[1]) / (b[0] - a[0])

    def peak(self, name: str, t0: float, t1: float) -> float | None:
        rows = [(ts, v[name]) for ts, v in self.samples if v.get(name) is not None and t0 - 1 <= ts <= t1 + 1]
        best = None
        for (ta, ca), (tb, cb) in zip(rows, rows[1:]):
            if tb > ta:
                share = 100.0 * (cb - ca) / (tb - ta)
                best = share if best is None else max(best, share)
        return best


def _py_spy_exe() -> str | None:
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"), "/tmp/pyspy-venv/bin/py-spy"):
        if candidate and Path(candidate).exists():
            return candidate
    return None


class PySpy:
    def __init__(self, directory: Path | None, pid: int, name: str, cpu: int | None) -> None:
        self.process = None
        self.out = None
        exe = _py_spy_exe() if directory is not None else None
        if directory is None:
            return
        if exe is None:
            print("  py-spy not found (PY_SPY, PATH, /tmp/pyspy-venv/bin/py-spy): not profiling", file=sys.stderr)
            return
        self.out = directory / f"{name}.txt"
        self.process = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--threads",
             "--format", "raw", "--output", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)

    def stop(self) -> str | None:
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on ^C
        try:
            _, err = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        last = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
        print(f"  py-spy -> {self.out} ({last})", file=sys.stderr)
        self.process = None
        return str(self.out)


# ---------------------------------------------------------------------------------------------
# The admin API (this process).

class Admin:
    def __init__(self, session: Any, url: str) -> None:
        self.session, self.url = session, url

    async def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        async with self.session.request(method, self.url + path, json=body) as resp:
            raw = await resp.read()
            if resp.status not in ok:
                raise RuntimeError(f"admin {method} {path}: {resp.status} {raw[:400].decode(errors='replace')}")
            return json.loads(raw) if raw else None


async def enroll(admin: Admin, inventory: list[dict[str, Any]], aggregator_lfdi: str) -> dict[str, Any]:
    """One program in one group; every device's EndDevice (owner: the aggregator) created and added to it."""
    from der_gateway.bridge.identity import DeviceSpec

    t0 = time.time()
    program = await admin.call("POST", "/programs", {"primacy": 1, "description": "bench bridge capacity"})
    group = await admin.call("POST", "/groups", {"description": "bench bridge fleet"})
    await admin.call("PUT", f"/groups/{group['id']}/programs/{program['id']}")
    ids = []
    t1 = time.time()
    for index, entry in enumerate(inventory):
        identity = DeviceSpec.from_entry(entry, index).identity()
        created = await admin.call("POST", "/end-devices", {"lFDI": identity.lfdi, "owner": aggregator_lfdi,
                                                            "deviceCategory": identity.category_hex})
        ids.append(created["id"])
    t2 = time.time()
    added = await admin.call("POST", f"/groups/{group['id']}/members", {"endDevices": ids})
    t3 = time.time()
    if added["endDeviceCount"] != len(inventory):
        raise RuntimeError(f"the group holds {added['endDeviceCount']} EndDevices, not {len(inventory)}")
    return {"program_id": program["id"], "group_id": group["id"], "end_devices": len(ids),
            "end_devices_s": t2 - t1, "members_s": t3 - t2, "total_s": t3 - t0}


async def create_event(admin: Admin, program_id: int, start: int, duration: int, label: str) -> dict[str, Any]:
    sent = time.time()
    record = await admin.call("POST", f"/programs/{program_id}/controls", {
        "description": f"bench {label}", "interval": {"start": start, "duration": duration},
        "DERControlBase": {"opModMaxLimW": LIMIT_PCT * 100}})
    return {"label": label, "id": record["id"], "mrid": record["mRID"].upper(), "start": start,
            "duration": duration, "end": start + duration, "create_sent": sent, "created": time.time()}


# ---------------------------------------------------------------------------------------------
# One fleet size.

def _log(n: int, text: str) -> None:
    print(f"  N={n}: {text}", file=sys.stderr, flush=True)


async def _until(check: Callable[[], Any], deadline: float, every: float = 1.0) -> bool:
    while True:
        if await check():
            return True
        if time.time() >= deadline:
            return False
        await asyncio.sleep(every)


async def run_size(args: argparse.Namespace, ctx: Any, certs_dir: Path, tmp: Path, n: int,
                   cpus: dict[str, int | None]) -> dict[str, Any]:
    import aiohttp

    from der_gateway import pki

    aggregator = next(c for c in pki.read_manifest(certs_dir) if c.kind == "aggregator")
    work = tmp / f"n{n}"
    work.mkdir()
    inventory_path = work / "fleet.json"
    token = hashlib.sha256(os.urandom(16)).hexdigest()[:32]
    config = {"host": HOST, "port": 0, "admin_port": 0, "admin_token": token, "profile": "csip",
              "data_dir": work / "data", "certs_dir": certs_dir, "poll_rate": args.poll_rate,
              "post_rate": args.post_rate, "notification_allow": (f"http://{HOST}:",),
              "max_subscriptions_per_client": 2 * n + 100, "service_task_interval": 60.0}
    result: dict[str, Any] = {"devices": n, "marks": {}}
    marks = result["marks"]
    sampler = Sampler()
    children: list[Child] = []
    spies: list[PySpy] = []
    t_begin = time.time()
    db_path = None
    try:
        server = Child(ctx, _server_child, "server", cpus["server"], (config,))
        children.append(server)
        sinfo = await server.ready(60)
        db_path = sinfo["db"]
        sampler.watch("server", server.pid)
        fleet = Child(ctx, _fleet_child, "fleet", cpus["fleet"], (n, args.tick, str(inventory_path), args.seed))
        children.append(fleet)
        finfo = await fleet.ready(max(120, n / 10))
        sampler.watch("fleet", fleet.pid)
        sampler.start()
        _log(n, f"server {sinfo['url']}, fleet of {finfo['devices']} simulators up in {finfo['start_s']:.1f} s")
        inventory = json.loads(inventory_path.read_text())
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=120)) as session:
            admin = Admin(session, sinfo["admin_url"])
            rates = await admin.call("GET", "/rates")
            result["rates"] = {r["resource"]: (r["effectivePollRate"], r.get("effectivePostRate"))
                               for r in rates["items"]}
            result["enrollment"] = enrolled = await enroll(admin, inventory, aggregator.lfdi)
            _log(n, f"enrolled {n} EndDevices in program {enrolled['program_id']} over the admin API in "
                    f"{enrolled['total_s']:.1f} s")

            # the bridge
            result["source"] = _source()  # the code the bridge imports now (others may be editing it)
            marks["bridge_spawned"] = time.time()
            data_dir = str(work / "bridge") if args.persist else None
            bridge = Child(ctx, _bridge_child, "bridge", cpus["bridge"],
                           (str(inventory_path), sinfo["url"], str(certs_dir), args.overrides, data_dir))
            children.append(bridge)
            binfo = await bridge.ready(120)
            sampler.watch("bridge", bridge.pid, thread=True, spawned_at=marks["bridge_spawned"])
            marks.update(bridge_start_called=binfo["start_called_at"], bridge_started=binfo["started_at"])
            result["bridge_options"] = binfo["options"]
            spy = PySpy(args.py_spy, bridge.pid, f"bridge-n{n}-startup", cpus["spy"])
            spies.append(spy)
            last_print = 0.0

            async def ready() -> bool:
                nonlocal last_print
                s = await bridge.ask("summary")
                if time.time() - last_print >= 10:
                    last_print = time.time()
                    _log(n, f"  {time.time() - marks['bridge_spawned']:5.0f} s: registered {s['registered']}, "
                            f"ready {s['ready']}, Modbus ok {s['modbus_ok']}")
                return s["ready_at"] is not None

            all_ready = await _until(ready, time.time() + args.ready_timeout)
            summary = await bridge.ask("summary")
            spy.stop()
            marks["ready"] = summary["ready_at"] or time.time()
            result["ready_s"] = (summary["ready_at"] - marks["bridge_spawned"]) if all_ready else None
            result["ready_after_start_s"] = (summary["ready_at"] - marks["bridge_start_called"]) if all_ready else None
            result["ready_count"] = summary["ready"]
            result["summary_at_ready"] = summary
            _log(n, f"{'all ready' if all_ready else 'NOT all ready'} {time.time() - marks['bridge_spawned']:.1f} s "
                    f"after the bridge was spawned ({summary['ready']} of {n}); first telemetry due in "
                    f"{(summary['next_post_min'] or 0) - time.time():.0f} s")
            await asyncio.sleep(args.settle)

            events = []
            plan = [("A", None)]
            if args.telemetry:
                plan.append(("B", "telemetry"))
            for label, when in plan:
                if when == "telemetry":
                    s = await bridge.ask("summary")
                    wave = s["next_post_min"] or time.time() + args.lead
                    start = max(math.ceil(wave), math.ceil(time.time() + args.lead))
                    create_at = start - args.lead
                    marks["idle_from"], marks["idle_to"] = time.time(), create_at
                    await asyncio.sleep(max(0.0, create_at - time.time()))
                else:
                    start = math.ceil(time.time() + args.lead)
                event = await create_event(admin, enrolled["program_id"], start, args.duration, label)
                _log(n, f"event {label} {event['mrid']} created; starts in {start - event['created']:.1f} s, "
                        f"lasts {args.duration} s")
                await asyncio.sleep(max(0.0, start - 2 - time.time()))
                spy = PySpy(args.py_spy, bridge.pid, f"bridge-n{n}-event{label}", cpus["spy"])
                spies.append(spy)
                await asyncio.sleep(max(0.0, start + 10 - time.time()))
                spy.stop()

                async def completed() -> bool:
                    s = await bridge.ask("summary")
                    return s["responses_by_status"].get(3, 0) >= n * (len(events) + 1)

                await asyncio.sleep(max(0.0, event["end"] + 2 - time.time()))
                await _until(completed, event["end"] + args.grace, every=1.0)
                event["window_end"] = time.time()
                event["participation"] = await admin.call("GET", f"/controls/{event['id']}/participation")
                counts = event["participation"]["responseCounts"]
                _log(n, f"event {label}: server has received {counts.get('received')}, started "
                        f"{counts.get('started')}, completed {counts.get('completed')}")
                events.append(event)

            if args.telemetry:
                async def posted() -> bool:
                    s = await bridge.ask("summary")
                    return s["with_telemetry"] >= n

                s = await bridge.ask("summary")
                due = (s["next_post_max"] or time.time()) if s["with_telemetry"] < n else time.time()
                got_all = await _until(posted, max(due, time.time()) + args.grace, every=2.0)
                _log(n, f"telemetry: {'every' if got_all else 'NOT every'} device has posted its first readings")
            marks["end"] = time.time()
            details = await bridge.ask("details", timeout=120)
            writes = await fleet.ask("writes", timeout=120)
            result["fleet_stats"] = await fleet.ask("stats")
            result["server_stats"] = await server.ask("stats")
            await sampler.stop()
            result["rss_mb"] = {c.name: _rss_mb(c.pid) for c in children}

        # stop everything, the bridge first (it is the client of the others)
        stops = {}
        for child in (bridge, fleet, server):
            stops[child.name] = await child.stop()
        result["stops"] = stops
        result["events"] = [evaluate(e, details, writes, args.tolerance) for e in events]
        result["telemetry"] = {
            "bridge_posts": sum(d["readings_posted"] for d in details["devices"].values()),
            "devices_posted": sum(1 for d in details["devices"].values() if d["readings_posted"]),
            **server_counts(db_path)}
        result["bridge"] = bridge_report(details)
        result["cpu"] = cpu_report(sampler, marks, result["events"])
        result["profiles"] = [s.out and str(s.out) for s in spies if s.out]
        result["ok"] = (result["ready_s"] is not None
                        and all(e["met"] == n for e in result["events"]))
        result["elapsed_s"] = time.time() - t_begin
        return result
    finally:
        for spy in spies:
            spy.stop()
        for child in reversed(children):
            if child.process.is_alive():
                await child.stop(timeout=30)


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(math.ceil(p * len(ordered))) - 1)]
    return {"n": len(values), "min": ordered[0], "median": statistics.median(ordered), "p95": pct(0.95),
            "max": ordered[-1]}


def evaluate(event: dict[str, Any], details: dict[str, Any], writes: dict[str, list], tolerance: float) -> dict:
    mrid, start, end, created = event["mrid"], event["start"], event["end"], event["created"]
    deadline = start + tolerance
    notes = [t for t, resource, _, _ in details["notifications"] if t >= event["create_sent"] and "derc" in resource]
    notified = min(notes) if notes else None
    received, written, applied, started, completed, reverted = [], [], [], [], [], []
    met = met_applied = 0
    late: list[tuple[str, float | None]] = []
    written_at: dict[str, float] = {}
    for name, device in details["devices"].items():
        times = {}
        for r_mrid, status, at in device["responses"]:
            if r_mrid == mrid and status not in times:
                times[status] = at
        if 1 in times:
            received.append(times[1] - created)
        if 2 in times:
            started.append(times[2] - start)
        if 3 in times:
            completed.append(times[3] - end)
        w = next((t for t, ena, pct in writes.get(name, ()) if t >= event["create_sent"] and ena
                  and abs(pct - LIMIT_PCT) < 0.5), None)
        if w is not None:
            written.append(w - start)
            written_at[name] = w
            if w <= deadline:
                met += 1
        if w is None or w > deadline:
            late.append((name, None if w is None else w - start))
        a = None
        for i, (at, source, t_mrid) in enumerate(device["transitions"]):
            if source == "event" and (t_mrid or "").upper() == mrid and at is not None:
                a = at
                after = device["transitions"][i + 1:]
                if after and after[0][0] is not None:
                    reverted.append(after[0][0] - end)
                break
        if a is not None:
            applied.append(a - start)
            if a <= deadline:
                met_applied += 1
    counts = event["participation"]["responseCounts"]
    return {
        "label": event["label"], "mrid": mrid, "start": start, "end": end, "created": created,
        "lead_s": start - created, "duration": event["duration"],
        "notified_after_create_s": None if notified is None else notified - created,
        "received_after_create_s": _stats(received), "written_after_start_s": _stats(written),
        "applied_after_start_s": _stats(applied), "started_after_start_s": _stats(started),
        "completed_after_end_s": _stats(completed), "reverted_after_end_s": _stats(reverted),
        "met": met, "met_by_applied_at": met_applied, "devices": len(details["devices"]),
        "late": sorted(late, key=lambda x: (x[1] is None, x[1] or 0))[:10], "late_count": len(late),
        "server_responses": {k: counts.get(k, 0) for k in ("received", "started", "completed")},
        "server_response_counts": {k: v for k, v in counts.items() if v},
        "server_responded": event["participation"]["responded"],
        "window": [event["create_sent"], event["window_end"]],
        "what_writes_waited_for": waited_for(start, deadline, details, written_at),
    }


def _owner(href: str, owners: dict[str, str]) -> str | None:
    """The device whose EndDevice (or MirrorUsagePoint) an href is under."""
    parts = href.split("?", 1)[0].split("/")
    return owners.get("/".join(parts[:3])) if len(parts) >= 3 else None


def waited_for(start: float, deadline: float, details: dict[str, Any], written_at: dict[str, float]) -> dict:
    """From the bridge's traces: what happened between the event's start and each device's write.

    Modbus: calls submitted in the 10 s after the start, their wait for a pool thread and their run.
    HTTP: exchanges begun in that window (their time includes the wait for one of the client's slots).
    Per device: whether its own agent made 2030.5 exchanges, or other Modbus calls, after the start and
    before its write (one agent does its server work and sampling before its control work in a turn).
    """
    window = (start, start + 10)
    mb = [m for m in details["modbus_log"] if window[0] <= m[0] < window[1]]
    http = [h for h in details["http_log"] if window[0] <= h[0] < window[1]]
    devices = details["devices"]
    owners = {d[k]: name for name, d in devices.items() for k in ("edev", "mup") if d.get(k)}
    by_port = {d["port"]: name for name, d in devices.items()}
    own_http: Counter = Counter()
    own_http_kinds: Counter = Counter()
    for t0, _, method, href, _ in http:
        name = _owner(href, owners)
        if name is not None and name in written_at and t0 < written_at[name]:
            own_http[name] += 1
            tail = href.split("?", 1)[0].split("/")[3:]
            own_http_kinds[f"{method} {'/'.join(['{id}'] + tail[:1]) if tail else '{edev}'}"] += 1
    own_modbus: Counter = Counter()
    for t0, _, _, fn, port in mb:
        name = by_port.get(port)
        if name is not None and name in written_at and t0 < written_at[name] and fn != "_write":
            own_modbus[name] += 1

    def split(predicate: Callable[[str], bool]) -> dict[str, Any]:
        yes = [written_at[n] - start for n in written_at if predicate(n)]
        no = [written_at[n] - start for n in written_at if not predicate(n)]
        return {"with": _stats(yes), "without": _stats(no),
                "late_with": sum(1 for n in written_at if predicate(n) and written_at[n] > deadline),
                "late_without": sum(1 for n in written_at if not predicate(n) and written_at[n] > deadline)}

    return {
        "gc_gen2_pauses": [(round(t - start, 2), round(d, 3)) for t, d in details["gc_gen2"]
                           if window[0] - 1 <= t < window[1]],
        "modbus_calls": len(mb), "modbus_queue_s": _stats([b - t0 for t0, b, _, _, _ in mb if b is not None]),
        "modbus_run_s": _stats([t1 - b for _, b, t1, _, _ in mb if b is not None]),
        "modbus_by_kind": dict(Counter(fn for _, _, _, fn, _ in mb)),
        "http_exchanges": len(http), "http_s": _stats([t1 - t0 for t0, t1, _, _, _ in http]),
        "http_by_kind": dict(Counter(f"{m} {h.split('?', 1)[0].split('/')[1] if '/' in h else h}"
                                     for _, _, m, h, _ in http)),
        "own_http_before_write": split(lambda n: own_http[n] > 0),
        "own_http_kinds": dict(own_http_kinds.most_common(8)),
        "own_modbus_before_write": split(lambda n: own_modbus[n] > 0),
    }


def server_counts(db_path: str | None) -> dict[str, Any]:
    """Read from the stopped server's database (read-only)."""
    if db_path is None or not Path(db_path).exists():
        return {}
    c = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        one = lambda sql: c.execute(sql).fetchone()[0]  # noqa: E731
        return {"server_readings": one("SELECT count(*) FROM readings"),
                "server_mirror_usage_points": one("SELECT count(*) FROM mirror_usage_points"),
                "server_meter_readings": one("SELECT count(*) FROM mirror_meter_readings"),
                "server_subscriptions": one("SELECT count(*) FROM subscriptions"),
                "server_log_events": one("SELECT count(*) FROM log_events")}
    except sqlite3.Error as exc:
        return {"server_db_error": str(exc)}
    finally:
        c.close()


def bridge_report(details: dict[str, Any]) -> dict[str, Any]:
    s = details["summary"]
    lags = details["lag_by_second"]
    return {
        "http_requests": s["http_requests"], "modbus_calls": s["modbus_calls"],
        "notifications": s["notifications"], "subscriptions_made": s["subscriptions"],
        "client_failures": s["client_failures"], "client_outages": s["client_outages"],
        "errors": s["errors"], "modbus_losses": s["modbus_losses"], "server_outages": s["server_outages"],
        "poll_rates": s["poll_rates"], "post_rates": s["post_rates"], "cache_fetches": details["cache_fetches"],
        "warnings": details["warnings"], "warning_samples": details["warning_samples"],
        "loop_lag_max_s": max(lags.values()) if lags else None, "gc": details["gc"],
        "loop_lag_by_second": {int(k): round(v, 4) for k, v in sorted(lags.items()) if v >= 0.05},
        "last_errors": Counter(d["last_error"] for d in details["devices"].values() if d["last_error"]).most_common(5),
        "progress": details["progress"],
    }


def cpu_report(sampler: Sampler, marks: dict[str, float], events: list[dict[str, Any]]) -> dict[str, Any]:
    names = list(sampler.pids)
    phases: dict[str, tuple[float, float]] = {"startup": (marks["bridge_spawned"], marks["ready"])}
    if "idle_from" in marks and marks["idle_to"] - marks["idle_from"] > 5:
        phases["idle"] = (marks["idle_from"], marks["idle_to"])
    for e in events:
        phases[f"event {e['label']}"] = (e["window"][0], e["window"][1])
        phases[f"event {e['label']} burst"] = (e["start"] - 1, e["start"] + 9)
    phases["whole"] = (marks["bridge_spawned"], marks["end"])
    out: dict[str, Any] = {}
    for phase, (t0, t1) in phases.items():
        out[phase] = {"seconds": t1 - t0, **{name: sampler.share(name, t0, t1) for name in names}}
    out["bridge_peak_1s"] = {phase: sampler.peak("bridge", t0, t1) for phase, (t0, t1) in phases.items()}
    return out


# ---------------------------------------------------------------------------------------------

def _parse_overrides(items: list[str]) -> dict[str, Any]:
    from der_gateway.bridge.runtime import BridgeOptions

    defaults = BridgeOptions()
    known = {f.name for f in dataclass_fields(BridgeOptions)}
    out: dict[str, Any] = {}
    for item in items:
        name, _, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if name not in known:
            raise SystemExit(f"--bridge-option: unknown option {name!r} ({', '.join(sorted(known))})")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            value: Any = text.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            value = int(text)
        elif isinstance(default, float) or default is None:
            value = None if text.strip().lower() in ("", "none") else float(text)
        else:
            value = text
        out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help=f"fleet sizes, comma-separated, each with a fresh server, fleet and bridge "
                             f"(default {DEFAULT_SIZES}: about 13 minutes)")
    parser.add_argument("--no-telemetry", dest="telemetry", action="store_false",
                        help="event A only: do not wait for the first telemetry period (about 2.5 instead of "
                             "6.5 minutes per size; nothing is posted)")
    parser.add_argument("--poll-rate", type=int, default=60, help="the server's pollRate (default 60)")
    parser.add_argument("--post-rate", type=int, default=300, help="the server's postRate (default 300)")
    parser.add_argument("--tick", type=float, default=5.0, help="the fleet's physics tick, s (default 5)")
    parser.add_argument("--lead", type=int, default=30, help="seconds from creating an event to its start (30)")
    parser.add_argument("--duration", type=int, default=60, help="each event's duration, s (default 60)")
    parser.add_argument("--tolerance", type=float, default=5.0,
                        help="the deadline: the control written by the event's start + this (default 5 s)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between ready and event A (5)")
    parser.add_argument("--grace", type=float, default=30.0,
                        help="after an event's end, the longest wait for every 'completed' (default 30 s)")
    parser.add_argument("--ready-timeout", type=float, default=300.0,
                        help="the longest wait for every device to be ready (default 300 s)")
    parser.add_argument("--bridge-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a BridgeOptions field for the bridge, e.g. modbus_workers=64 (repeatable)")
    parser.add_argument("--persist", action="store_true", help="give the bridge a data_dir (per-device state files)")
    parser.add_argument("--layout", choices=("split", "none"), default="split",
                        help="split: server + fleet + this process on one CPU, the bridge on another (default); "
                             "none: no pinning")
    parser.add_argument("--seed", type=int, default=0, help="the fleet's seed (nameplates)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--py-spy", type=Path, metavar="DIR", help="profile the bridge with py-spy, stacks to DIR")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        parser.error("--sizes takes whole numbers, e.g. 100,250,500,1000,1500")
    if not sizes or any(n < 1 for n in sizes):
        parser.error("--sizes: at least one size, each at least 1")
    args.overrides = _parse_overrides(args.bridge_option)
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)

    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pinned = args.layout == "split" and len(available) >= 2
    if pinned:
        a, b = available[0], available[1]
        cpus = {"server": a, "fleet": a, "bridge": b, "spy": a, "self": a}
        _pin(a)
    else:
        cpus = {"server": None, "fleet": None, "bridge": None, "spy": None, "self": None}
    source = _source()
    ctx = mp.get_context("spawn")
    previous_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.time()
    report: dict[str, Any] = {"runs": []}
    try:
        asyncio.run(_main(args, ctx, sizes, cpus, report))
    except KeyboardInterrupt:
        print("interrupted: reporting what was measured", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    passed = [r["devices"] for r in report["runs"] if r.get("ok")]
    report.update(command=" ".join(["python", "bench/bench_bridge.py", *(sys.argv[1:] if argv is None else argv)]),
                  layout=("bridge on CPU %d; server, fleet and the benchmark on CPU %d" % (cpus["bridge"], cpus["server"])
                          if pinned else "not pinned"),
                  settings={"poll_rate": args.poll_rate, "post_rate": args.post_rate, "tick": args.tick,
                            "lead": args.lead, "duration": args.duration, "tolerance": args.tolerance,
                            "telemetry": args.telemetry, "bridge_overrides": args.overrides,
                            "persist": args.persist, "limit_pct": LIMIT_PCT},
                  answer=max(passed) if passed else None, elapsed_s=time.time() - t0, source=source, **_machine())
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if report["runs"] and all(r.get("ok") is not None for r in report["runs"]) else 1


async def _main(args: argparse.Namespace, ctx: Any, sizes: list[int], cpus: dict[str, int | None],
                report: dict[str, Any]) -> None:
    from der_gateway import pki

    with tempfile.TemporaryDirectory(prefix="der-gateway-bench-bridge-") as tmp:
        certs_dir = Path(tmp) / "certs"
        pki.init_pki(certs_dir, devices=1)
        for n in sizes:
            print(f"N={n}", file=sys.stderr, flush=True)
            try:
                report["runs"].append(await run_size(args, ctx, certs_dir, Path(tmp), n, cpus))
            except Exception:
                traceback.print_exc()
                report["runs"].append({"devices": n, "ok": None, "failed": traceback.format_exc()})


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
        paths = ["src", "device_sims"]
        diff = subprocess.run(["git", "-C", top, "diff", "HEAD", "--", *paths], capture_output=True, check=True).stdout
        status = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", *paths], capture_output=True,
                                text=True, check=True).stdout.split("\n")
        found["uncommitted"] = [line.strip() for line in status if line.strip()]
        found["diff_sha256"] = hashlib.sha256(diff).hexdigest()[:16] if diff else None
    except (OSError, subprocess.CalledProcessError):
        found["commit"] = None
    return found


def _machine() -> dict[str, Any]:
    import aiohttp
    import pymodbus

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "pymodbus": pymodbus.__version__, "openssl": ssl.OPENSSL_VERSION, "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform()}


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                for i, (cell, w) in enumerate(zip(line, widths))) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")


def _dist(s: dict[str, Any], keys: tuple[str, ...] = ("median", "p95", "max")) -> str:
    if not s.get("n"):
        return "n/a"
    return " / ".join(f"{s[k]:.2f}" for k in keys)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def print_report(report: dict[str, Any]) -> None:
    print(f"command:  {report['command']}")
    src = report["source"]
    changes = (f"with uncommitted changes to {', '.join(x.split()[-1] for x in src['uncommitted'])} "
               f"(diff sha256 {src['diff_sha256']})" if src.get("uncommitted") else "clean")
    print(f"source:   {src['package']}" + (f" at {src['commit']}, {changes}" if src.get("commit") else ""))
    print(f"machine:  {report['cpus']} CPUs, {report['platform']}; CPython {report['python']}, aiohttp "
          f"{report['aiohttp']}, pymodbus {report['pymodbus']}, {report['openssl']}, SQLite {report['sqlite']}")
    st = report["settings"]
    print(f"layout:   {report['layout']}")
    print(f"settings: pollRate {st['poll_rate']} s, postRate {st['post_rate']} s, events {st['duration']} s "
          f"created {st['lead']} s ahead, opModMaxLimW {st['limit_pct']} %, deadline start + {st['tolerance']:g} s, "
          f"fleet tick {st['tick']:g} s, bridge options {st['bridge_overrides'] or 'default'}"
          + (", bridge data_dir" if st["persist"] else ""))
    runs = [r for r in report["runs"] if "events" in r]
    for r in report["runs"]:
        if "failed" in r:
            print(f"\nN={r['devices']}: FAILED\n{r['failed']}")
    if not runs:
        return
    print()
    print("Per event (seconds; median / p95 / max):")
    print()
    rows = []
    for r in runs:
        for e in r["events"]:
            sr = e["server_responses"]
            rows.append((f"{r['devices']:,}", e["label"],
                         "n/a" if e["notified_after_create_s"] is None else f"{e['notified_after_create_s']:.2f}",
                         _dist(e["received_after_create_s"]), _dist(e["written_after_start_s"]),
                         _dist(e["applied_after_start_s"]), _dist(e["started_after_start_s"]),
                         f"{e['met']:,} / {e['devices']:,}",
                         f"{sr['received']:,} / {sr['started']:,} / {sr['completed']:,}",
                         _pct(r["cpu"].get(f"event {e['label']} burst", {}).get("bridge")),
                         _pct(r["cpu"]["bridge_peak_1s"].get(f"event {e['label']}"))))
    _table(("devices N", "event", "notified after create", "received after create", "written after start",
            "applied after start", "'started' after start", "written by deadline", "server responses 1 / 2 / 3",
            "bridge CPU start..+9 s", "bridge peak 1 s"), rows)
    print()
    print("Per fleet size:")
    print()
    rows = []
    for r in runs:
        cpu = r["cpu"]
        t = r["telemetry"]
        b = r["bridge"]
        idle = cpu.get("idle", {})
        rows.append((f"{r['devices']:,}",
                     "n/a" if r["ready_s"] is None else f"{r['ready_s']:.1f}",
                     f"{t['devices_posted']:,} / {t['bridge_posts']:,} / {t.get('server_readings', 0):,}",
                     f"{_pct(cpu['startup'].get('bridge'))} / {_pct(idle.get('bridge'))} / "
                     f"{_pct(cpu['whole'].get('bridge'))}",
                     f"{_pct(cpu['whole'].get('bridge-loop'))}",
                     f"{_pct(cpu['whole'].get('server'))} / {_pct(cpu['whole'].get('fleet'))}",
                     f"{b['loop_lag_max_s']:.2f}" if b["loop_lag_max_s"] is not None else "n/a",
                     f"{b['errors']} / {b['modbus_losses']} / {b['client_failures']}",
                     f"{r['rss_mb'].get('bridge') or 0:.0f}",
                     "yes" if r["ok"] else "NO"))
    _table(("devices N", "ready s", "telemetry: devices / posts / server readings",
            "bridge CPU startup / idle / whole", "bridge loop thread, whole", "server / fleet CPU, whole",
            "bridge loop lag max s", "errors / Modbus losses / HTTP failures", "bridge RSS MB", "all met"), rows)
    print()
    for r in runs:
        late = [(e["label"], e["late_count"], e["late"][:5]) for e in r["events"] if e["late_count"]]
        warn = sorted(r["bridge"]["warnings"].items(), key=lambda kv: -kv[1])[:5]
        extra = []
        if late:
            extra.append("late: " + "; ".join(f"event {lb}: {c} devices, e.g. {xs}" for lb, c, xs in late))
        if warn:
            extra.append("bridge warnings: " + "; ".join(f"{c}x {w}" for w, c in warn))
        for e in r["events"]:
            w = e["what_writes_waited_for"]
            own, mod = w["own_http_before_write"], w["own_modbus_before_write"]
            extra.append(
                f"event {e['label']}, 10 s from the start: {w['modbus_calls']:,} Modbus calls, waiting for a pool "
                f"thread {_dist(w['modbus_queue_s'])} s, running {_dist(w['modbus_run_s'])} s; "
                f"{w['http_exchanges']:,} HTTP exchanges {_dist(w['http_s'])} s; written after start, "
                f"devices whose agent first did its own HTTP ({own['with']['n']:,}, {own['late_with']} late): "
                f"{_dist(own['with'])} s, the others ({own['without']['n']:,}, {own['late_without']} late): "
                f"{_dist(own['without'])} s; after its own Modbus read ({mod['with']['n']:,}, {mod['late_with']} "
                f"late): {_dist(mod['with'])} s; full garbage collections (s after start, s long): "
                f"{w['gc_gen2_pauses'] or 'none'}")
        g2 = r["bridge"]["gc"][2]
        src = r.get("source", {})
        if src.get("uncommitted"):
            extra.append(f"measured with uncommitted changes: {', '.join(src['uncommitted'])}")
        print(f"  N={r['devices']:,}: enrollment {r['enrollment']['total_s']:.1f} s (admin API), "
              f"http requests {r['bridge']['http_requests']:,}, Modbus calls {r['bridge']['modbus_calls']:,}, "
              f"poll rates {r['bridge']['poll_rates']}, post rates {r['bridge']['post_rates']}, "
              f"bridge GC pauses gen 2: {g2['count']} (max {g2['max_s']:.2f} s, total {g2['total_s']:.1f} s), "
              f"run {r['elapsed_s']:.0f} s" + ("".join("\n      " + x for x in extra)))
    print()
    answer = report.get("answer")
    largest = max(r["devices"] for r in runs)
    if answer is None:
        print("answer: no size met every deadline")
    else:
        print(f"answer: {answer:,} devices (the largest size whose every control met its deadline"
              + ("; no larger size was tried)" if answer == largest else ")"))


if __name__ == "__main__":
    sys.exit(main())
