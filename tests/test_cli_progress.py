"""The CLI's bulk commands run for real, on each backend: progress on stderr only on a terminal or with
--progress, stdout nothing but the one-line summary (its figures checked against what was stored), and work
refused whole said on stderr with every reason."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import aiohttp
import pytest

from der_gateway.cli.main import main
from der_gateway.clock import ManualClock

from .test_network_locations import Admin

T0 = 1_800_000_000
H = 3600
TOKEN = "test-admin-token-0123456789"  # conftest's make_harness
N = 1200  # more than two of the commands' batches of 500
ELAPSED = r" in \d+\.\ds"
DEADLINE = 300  # seconds a command may take on a busy machine


def sp(i: int) -> str:
    return f"SP-{i:04d}"


@pytest.fixture
async def site(make_harness):
    """A running server with a program and a customer of N service points."""
    h = make_harness(clock=ManualClock(T0))
    await h.start()
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    api = Admin(session, h.server.admin_url)
    program = (await api.ok("POST", "/programs", {"primacy": 10}, 201))["id"]
    await api.ok("POST", "/customers", {"externalId": "C-1", "name": "Ada", "accounts": [
        {"externalId": "A-1", "servicePoints": [{"externalId": sp(i)} for i in range(N)]}]}, 201)
    yield h, api, program
    await session.close()
    await h.stop()


async def run_process(*argv: str, stderr_tty: bool = False) -> tuple[int, str, str]:
    """der-gateway in a process of its own: stdout a pipe, stderr a pipe or (stderr_tty) a terminal."""
    def run() -> tuple[int, str, str]:
        command = [sys.executable, "-m", "der_gateway", *argv]
        if not stderr_tty:
            done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE)
            return done.returncode, done.stdout, done.stderr
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process has closed the terminal
                break
            if not chunk:
                break
            err += chunk
        os.close(master)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        return proc.wait(timeout=DEADLINE), out.decode(), err.decode()
    return await asyncio.to_thread(run)


async def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    """der-gateway's main() in this process (stderr captured: not a terminal)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def locations_csv(count: int, unknown: str | None = None) -> str:
    """count service points on 12 transformers, 3 feeders, one substation."""
    lines = ["service_point,transformer,feeder,substation"]
    lines += [f"{sp(i)},T{i % 12},F{i % 3},S1" for i in range(count)]
    if unknown is not None:
        lines.append(f"{unknown},T0,F0,S1")
    return "\n".join(lines) + "\n"


async def test_network_import_prints_one_summary_and_progress_only_when_asked(site, tmp_path):
    h, api, _ = site
    path = tmp_path / "network.csv"
    path.write_text(locations_csv(N))

    code, out, err = await run_process("network", "import", str(path), "--mode", "initial", *h.store_args())
    assert code == 0 and err == ""  # stderr is not a terminal: no progress
    assert re.fullmatch(rf"imported {N} rows \(initial\): {N} service points changed; locations 16 created, "
                        rf"0 moved, 0 removed; 0 EndDevices moved between groups{ELAPSED}\n", out), out
    locations = (await api.ok("GET", "/network-locations"))["items"]
    assert len(locations) == 16 and sum(i["servicePointCount"] for i in locations if i["kind"] == "transformer") == N

    code, out, err = await run_process("network", "import", str(path), "--progress", *h.store_args())
    assert code == 0
    assert re.fullmatch(rf"imported {N} rows \(incremental\): 0 service points changed; locations 0 created, "
                        rf"0 moved, 0 removed; 0 EndDevices moved between groups{ELAPSED}\n", out), out
    assert "checking service points" in err and f"{N}/{N}" in err and "row/s" in err
    assert f"applying {N} rows in one transaction" in err

    bad = tmp_path / "bad.csv"
    bad.write_text(locations_csv(3, unknown="SP-9999"))
    code, out, err = await run_process("network", "import", str(bad), "--mode", "initial", *h.store_args())
    assert code == 1 and out == ""
    assert re.fullmatch(rf"der-gateway: {re.escape(str(bad))}: refused, 1 problem\(s\); nothing was imported"
                        rf"{ELAPSED}\n  line 5.service_point: no service point SP-9999\n", err), err
    assert len((await api.ok("GET", "/network-locations"))["items"]) == 16


async def test_prices_load_in_batches_with_progress_and_counts(site, tmp_path, capsys):
    h, api, program = site
    assert (await run_main(capsys, "prices", "pricing", str(program), "--kind", "hourly", *h.store_args()))[0] == 0
    path = tmp_path / "hourly.csv"
    path.write_text("start,duration,pricePerKWh\n" + "".join(f"{T0 + i * H},{H},0.{i:04d}\n" for i in range(N)))

    code, out, err = await run_main(capsys, "prices", "load", str(program), str(path), "--progress",
                                    *h.store_args())
    assert code == 0
    assert re.fullmatch(rf"loaded {re.escape(str(path))} into program {program}: {N} new, 0 replaced, "
                        rf"0 unchanged{ELAPSED}\n", out), out
    assert f"loading into program {program}" in err and f"{N}/{N}" in err and "price/s" in err
    stored = await h.store.prices(program, T0, T0 + N * H)
    assert len(stored) == N and str(stored[-1].price) == f"0.{N - 1:04d}"

    # ten prices corrected, the rest the same; no progress off a terminal
    path.write_text("start,duration,pricePerKWh\n" + "".join(
        f"{T0 + i * H},{H},{'9.5' if i % 120 == 0 else f'0.{i:04d}'}\n" for i in range(N)))
    code, out, err = await run_main(capsys, "prices", "load", str(program), str(path), *h.store_args())
    assert code == 0 and err == ""
    assert re.fullmatch(rf"loaded .*: 0 new, 10 replaced, {N - 10} unchanged{ELAPSED}\n", out), out
    assert [str(p.price) for p in await h.store.prices(program, T0, T0 + 1)] == ["9.5"]

    bad = tmp_path / "bad.csv"
    bad.write_text("start,duration,pricePerKWh\n1,7,x\n")
    code, out, err = await run_main(capsys, "prices", "load", str(program), str(bad), "--progress", *h.store_args())
    assert code == 1 and out == ""
    first, *reasons = err.splitlines()
    assert re.fullmatch(rf"der-gateway: {re.escape(str(bad))}: refused, 2 problem\(s\); nothing was changed"
                        rf"{ELAPSED}", first), err
    assert any("line 2.duration" in r for r in reasons) and any("line 2.pricePerKWh" in r for r in reasons)


async def test_an_interval_file_is_sent_with_progress_and_the_server_answers_the_counts(site, tmp_path, capsys):
    h, _, _ = site
    url = h.server.admin_url
    path = tmp_path / "readings.csv"
    path.write_text("servicePoint,start,duration,kWh,quality\n"
                    + "".join(f"{sp(i % 100)},{T0 + (i // 100) * 1800},1800,0.{i:04d},actual\n" for i in range(N)))

    code, out, err = await run_main(capsys, "intervals", "load", str(path), "--admin-url", url, "--token", TOKEN,
                                    "--progress")
    assert code == 0
    batch = (await h.store._rows("SELECT id FROM interval_batches"))[0][0]
    assert re.fullmatch(rf"readings.csv: {N} readings: {N} inserted, 0 replaced, 0 unchanged \(batch {batch}\)"
                        rf"{ELAPSED}\n", out), out
    assert "sending: 100%" in err and "B/s" in err and "sent; the server checks and loads the file" in err
    assert (await h.store._rows("SELECT count(*) FROM interval_readings"))[0][0] == N

    code, out, err = await run_main(capsys, "intervals", "load", str(path), "--admin-url", url, "--token", TOKEN)
    assert code == 0 and err == ""
    assert re.fullmatch(rf"readings.csv: {N} readings: 0 inserted, 0 replaced, {N} unchanged .*{ELAPSED}\n", out)

    bad = tmp_path / "bad.csv"
    bad.write_text("servicePoint,start,duration,kWh,quality\nSP-9999,1,900,1,actual\n")
    code, out, err = await run_main(capsys, "intervals", "load", str(bad), "--admin-url", url, "--token", TOKEN)
    assert code == 1 and out == ""
    assert re.fullmatch(rf"der-gateway: {re.escape(str(bad))}: refused \(400\), 1 problem\(s\); nothing was loaded"
                        rf"{ELAPSED}\n  .*no service point SP-9999\n", err), err


def test_certs_init_shows_progress_on_a_terminal_and_never_on_stdout(tmp_path):
    def init(name: str, *options: str, stderr_tty: bool = False) -> tuple[int, str, str]:
        return asyncio.run(run_process("certs", "init", "--dir", str(tmp_path / name), "--devices", "5", *options,
                                       stderr_tty=stderr_tty))

    code, out, err = init("on-a-terminal", stderr_tty=True)
    assert code == 0 and "issuing certificates" in err and "7/7" in err and "cert/s" in err
    *listing, summary = out.splitlines()
    assert len(listing) == 9 and not any("issuing" in line for line in listing)  # SERCA, MICA, 7 leaves
    assert re.fullmatch(rf"issued a SERCA, a MICA and 7 certificates \(server 1, aggregator 1, device 5\) into "
                        rf"{re.escape(str(tmp_path / 'on-a-terminal'))}{ELAPSED}", summary), summary
    assert len(list((tmp_path / "on-a-terminal").glob("device*.pem"))) == 5

    code, out, err = init("asked-not-to", "--no-progress", stderr_tty=True)
    assert code == 0 and err == "" and out.splitlines()[-1].startswith("issued a SERCA, a MICA and 7 certificates")
    code, out, err = init("piped")
    assert code == 0 and err == "" and out.splitlines()[-1].startswith("issued a SERCA, a MICA and 7 certificates")
