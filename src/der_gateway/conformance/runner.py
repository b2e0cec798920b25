"""Runs CSIP-AUS procedures with cactus, each against a fresh der-gateway server, and tabulates the results."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import pki
from ..sep.identity import sfdi_from_lfdi
from .harness import Harness, RequiredClient
from .verdict import EXTENDED, failure_summary, rounds_without_failure, waived_warnings

# Procedures that take minutes here (S-ALL-41 about 6, S-ALL-46 about 9; S-ALL-50 simulates 72 hours and is cut
# short, see Plan.extended_seconds); every other one takes under a minute, S-ALL-44 and 45 included.
LONG = ("S-ALL-41", "S-ALL-46", "S-ALL-50")
# Server settings a procedure needs beyond the csip-aus defaults: its optional behaviours.
PROCEDURE_SETTINGS: dict[str, dict[str, object]] = {
    "S-OPT-01": {"in_band_registration": False},
}
PIN = 111115  # the Registration PIN cactus's clients treat as valid (five digits and the check digit)
PEN = 40732
MAX_WATTS = 5000


@dataclass(frozen=True)
class Client:
    id: str
    kind: str  # "device" or "aggregator"
    certificate: Path
    key: Path
    lfdi: str  # the EndDevice the client registers: its certificate's, or for an aggregator another one

    def cactus_config(self) -> dict[str, object]:
        return {"id": self.id, "type": self.kind, "certificate-file": str(self.certificate),
                "key-file": str(self.key), "lfdi": self.lfdi, "sfdi": sfdi_from_lfdi(self.lfdi), "pen": PEN,
                "pin": PIN, "max-watts": MAX_WATTS}


@dataclass
class Result:
    procedure: str
    passed: bool
    seconds: float
    detail: str = ""
    output: str = ""
    waived: list[str] = field(default_factory=list)  # harness-defect warnings (HARNESS_DEFECTS) let pass


@dataclass
class Plan:
    work_dir: Path
    procedures: list[str]
    jobs: int = 2
    timeout: int = 300  # seconds per procedure
    long_timeout: int = 1500
    extended_seconds: int = 3600  # how long S-ALL-50 (72 simulated hours) runs before it is stopped
    strict: bool = True
    results: list[Result] = field(default_factory=list)


def make_clients(certs_dir: Path) -> dict[str, Client]:
    """A test PKI with two devices and an aggregator, as cactus clients."""
    if not (certs_dir / "serca.pem").exists():
        pki.init_pki(certs_dir, devices=2)
    by_name = {c.name: c for c in pki.read_manifest(certs_dir)}
    clients = {}
    for cid, name in (("dev1", "device1"), ("dev2", "device2")):
        clients[cid] = Client(cid, "device", certs_dir / f"{name}.pem", certs_dir / f"{name}.key",
                              by_name[name].lfdi.upper())
    aggregated = hashlib.sha256(b"der-gateway conformance: the aggregator's EndDevice").hexdigest()[:40].upper()
    clients["agg1"] = Client("agg1", "aggregator", certs_dir / "aggregator.pem", certs_dir / "aggregator.key",
                             aggregated)
    return clients


def clients_for(required: list[RequiredClient]) -> list[str]:
    devices = iter(["dev1", "dev2"])
    return ["agg1" if r.kind == "aggregator" else next(devices) for r in required]


PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _toml(settings: dict[str, object]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())


async def _wait_for_port(port: int, deadline: float, process: asyncio.subprocess.Process | None = None) -> None:
    while True:
        if process is not None and process.returncode is not None:
            raise RuntimeError(f"the process serving port {port} exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listened on port {port} in time") from None
            await asyncio.sleep(0.2)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()


async def start_notifications(harness: Harness, port: int, log: Path) -> asyncio.subprocess.Process:
    """cactus-client-notifications on loopback (its own __main__ binds every interface)."""
    code = ("from aiohttp import web; from cactus_client_notifications.server.main import app; "
            f"web.run_app(app, host='127.0.0.1', port={port}, print=None)")
    env = {**os.environ, "SERVER_URL": f"http://127.0.0.1:{port}"}
    process = await asyncio.create_subprocess_exec(str(harness.notifications_python), "-c", code, env=env,
                                                   stdout=log.open("w"), stderr=asyncio.subprocess.STDOUT)
    await _wait_for_port(port, time.monotonic() + 60, process)
    return process


async def run_procedure(plan: Plan, harness: Harness, procedure: str, required: list[RequiredClient],
                        clients: dict[str, Client], notification_port: int) -> Result:
    run_dir = plan.work_dir / "runs" / procedure
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    token = secrets.token_hex(16)
    certs_dir = plan.work_dir / "certs"
    started = time.monotonic()
    for attempt in range(PORT_ATTEMPTS):
        port, admin_port = free_port(), free_port()
        settings: dict[str, object] = {
            "host": "127.0.0.1", "port": port, "profile": "csip-aus", "data_dir": str(run_dir / "data"),
            "certs_dir": str(certs_dir), "pen": PEN, "admin_port": admin_port, "admin_token": token,
            "notification_allow": ["https://", f"http://127.0.0.1:{notification_port}/"],
            "notification_allow_addresses": ["127.0.0.1/32"],  # the harness's notification receiver
            # the PIN the operator gives its clients; telemetry every 15 s, so that procedures which post
            # four rounds of readings at the advertised postRate finish in a minute
            "registration_pin": PIN, "post_rate": 15,
            **PROCEDURE_SETTINGS.get(procedure, {}),
        }
        (run_dir / "server.toml").write_text(_toml(settings))
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "der_gateway", "serve", "--config", str(run_dir / "server.toml"),
            stdout=(run_dir / "server.log").open("w"), stderr=asyncio.subprocess.STDOUT)
        try:
            await _wait_for_port(admin_port, time.monotonic() + 60, server)
            await _wait_for_port(port, time.monotonic() + 60, server)
            break
        except RuntimeError as exc:
            await _stop(server)
            # a port found free may be taken by another process before the server binds it: choose others
            if "Address already in use" not in (run_dir / "server.log").read_text() or attempt + 1 == PORT_ATTEMPTS:
                return Result(procedure, False, round(time.monotonic() - started, 1), f"RuntimeError: {exc}")
    chosen = [clients[c] for c in clients_for(required)]
    cactus_dir = run_dir / "cactus"
    (cactus_dir / "output").mkdir(parents=True)
    (cactus_dir / ".cactus.yaml").write_text(json.dumps({
        "output-dir": str(cactus_dir / "output"),
        "server": {"device-capability-uri": f"https://127.0.0.1:{port}/dcap", "verify-ssl": True,
                   "verify-host-name": False, "serca-pem-file": str(certs_dir / "serca.pem"), "pen": PEN,
                   "refetch-delay-ms": 0, "notification-uri": f"http://127.0.0.1:{notification_port}/",
                   "notification-admin-uri": None},
        "clients": [c.cactus_config() for c in chosen],
    }, indent=1))  # JSON is YAML

    timeout = plan.long_timeout if procedure in LONG else plan.timeout
    if procedure == EXTENDED:
        timeout = plan.extended_seconds
    try:
        command = [str(harness.cactus), "run", procedure, *[c.id for c in chosen], "-c",
                   str(cactus_dir / ".cactus.yaml"), "--headless", "--timeout", str(timeout)]
        if plan.strict:
            command.append("--strict")
        env = {**os.environ, "DER_GATEWAY_ADMIN_URL": f"http://127.0.0.1:{admin_port}",
               "DER_GATEWAY_ADMIN_TOKEN": token, "NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"}
        cactus = await asyncio.create_subprocess_exec(*command, cwd=cactus_dir, env=env,
                                                      stdout=asyncio.subprocess.PIPE,
                                                      stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(cactus.communicate(), timeout + 120)
        except asyncio.TimeoutError:
            cactus.kill()
            out, _ = await cactus.communicate()
        text = out.decode(errors="replace")
        (run_dir / "cactus.out").write_text(text)
        seconds = round(time.monotonic() - started, 1)
        if cactus.returncode == 0:
            return Result(procedure, True, seconds, "", text)
        if procedure == EXTENDED and (rounds := rounds_without_failure(text)):
            return Result(procedure, True, seconds, f"{rounds} rounds of client simulation (one a minute) with no "
                          f"failure or warning, then stopped after {timeout} s as asked (--extended-seconds)", text)
        waived = waived_warnings(procedure, text)
        if waived:
            return Result(procedure, True, seconds, "passed but for the harness's own warnings: "
                          + " | ".join(waived), text, waived)
        return Result(procedure, False, seconds, failure_summary(text), text)
    except Exception as exc:  # a server that does not start fails the procedure, not the whole run
        return Result(procedure, False, round(time.monotonic() - started, 1), f"{type(exc).__name__}: {exc}")
    finally:
        await _stop(server)


async def run_plan(plan: Plan, harness: Harness, progress: bool = True) -> list[Result]:
    all_procedures = harness.procedures()
    unknown = [p for p in plan.procedures if p not in all_procedures]
    if unknown:
        raise ValueError(f"unknown procedures: {', '.join(unknown)}")
    clients = make_clients(plan.work_dir / "certs")
    notification_port = free_port()
    notifications = await start_notifications(harness, notification_port, plan.work_dir / "notifications.log")
    limit = asyncio.Semaphore(plan.jobs)

    async def one(procedure: str) -> Result:
        async with limit:
            result = await run_procedure(plan, harness, procedure, all_procedures[procedure], clients,
                                         notification_port)
            if progress:
                print(f"{procedure:<9} {'pass' if result.passed else 'FAIL'} {result.seconds:7.1f}s "
                      f"{result.detail[:160]}", flush=True)
            return result

    try:
        plan.results = list(await asyncio.gather(*(one(p) for p in plan.procedures)))
    finally:
        await _stop(notifications)
    (plan.work_dir / "results.json").write_text(json.dumps(
        [{k: v for k, v in asdict(r).items() if k != "output"} for r in plan.results], indent=1))
    return plan.results


def table(results: list[Result]) -> str:
    rows = ["| procedure | result | seconds | detail |", "|---|---|---|---|"]
    rows += [f"| {r.procedure} | {'pass*' if r.waived else 'pass' if r.passed else 'FAIL'} | {r.seconds:.0f} | "
             f"{r.detail.replace('|', '/')[:200]} |" for r in results]
    passed = sum(r.passed for r in results)
    rows.append(f"\n{passed} of {len(results)} procedures passed with --strict"
                + (" (* but for warnings the harness raises whatever the server does: HARNESS_DEFECTS in "
                   "der_gateway/conformance/verdict.py)" if any(r.waived for r in results) else ""))
    return "\n".join(rows)
