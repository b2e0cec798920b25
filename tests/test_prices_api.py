"""A program's pricing and prices through the admin API and the CLI, on the real server; on each backend."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from der_gateway.cli.main import main
from der_gateway.clock import ManualClock

from .test_network_locations import Admin

T0 = 1_800_000_000
H = 3600
TOKEN = "test-admin-token-0123456789"  # conftest's make_harness


@pytest.fixture
async def admin(make_harness):
    h = make_harness(clock=ManualClock(T0))
    await h.start()
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    api = Admin(session, h.server.admin_url)
    program = (await api.ok("POST", "/programs", {"primacy": 10}, 201))["id"]
    yield h, api, program
    await session.close()
    await h.stop()


async def test_hourly_prices_are_loaded_idempotently_and_read_over_a_window(admin):
    h, api, program = admin
    # no pricing yet: nothing to load into
    status, answer = await api.call("POST", f"/programs/{program}/prices", raw="start,duration,pricePerKWh\n",
                                    content_type="text/csv")
    assert status == 409 and "no pricing" in answer["errors"][0]["reason"]
    assert await api.ok("PUT", f"/programs/{program}/pricing", {"kind": "hourly", "currency": "USD"}) == {
        "programId": program, "kind": "hourly", "currency": "USD", "pricePerKWh": None}

    text = f"start,duration,pricePerKWh\n{T0},3600,0.20\n{T0 + H},3600,0.30\n{T0 + 3 * H},3600,0.40\n"
    loaded = await api.ok("POST", f"/programs/{program}/prices", raw=text, content_type="text/csv")
    assert (loaded["inserted"], loaded["replaced"], loaded["unchanged"]) == (3, 0, 0)
    again = await api.ok("POST", f"/programs/{program}/prices", raw=text, content_type="text/csv")
    assert (again["inserted"], again["replaced"], again["unchanged"]) == (0, 0, 3)
    corrected = await api.ok("POST", f"/programs/{program}/prices", {"prices": [
        {"start": T0 + H, "duration": 3600, "pricePerKWh": "0.35"}]})
    assert (corrected["inserted"], corrected["replaced"], corrected["unchanged"]) == (0, 1, 0)

    window = await api.ok("GET", f"/programs/{program}/prices?from={T0 + 1800}&to={T0 + 3 * H + 1800}")
    assert [(s["start"], s["duration"], s["pricePerKWh"]) for s in window["segments"]] == [
        (T0 + 1800, 1800, "0.20"), (T0 + H, H, "0.35"), (T0 + 2 * H, H, None), (T0 + 3 * H, 1800, "0.40")]
    assert window["complete"] is False and window["currency"] == "USD"

    # a file with bad rows changes nothing, and says what is wrong with each
    before = h.snapshot()
    status, answer = await api.call("POST", f"/programs/{program}/prices",
                                    raw=f"start,duration,pricePerKWh\n{T0 + 5 * H},3600,x\n{T0 + 7},3600,1\n",
                                    content_type="text/csv")
    assert status == 400
    assert sorted(e["field"] for e in answer["errors"]) == ["line 2.pricePerKWh", "line 3.start"]
    status, _ = await api.call("POST", f"/programs/{program}/prices", raw="a", content_type="text/plain")
    assert status == 415
    for query in ("", f"?from={T0}", f"?from={T0}&to={T0}", f"?from={T0}&to={T0 + 400 * 86400}",
                  f"?from={T0}&to={T0 + 1}&x=1"):
        assert (await api.call("GET", f"/programs/{program}/prices{query}"))[0] == 400, query
    for body in ({"kind": "weekly"}, {"kind": "fixed"}, {"kind": "fixed", "pricePerKWh": "1.2.3"}):
        assert (await api.call("PUT", f"/programs/{program}/pricing", body))[0] == 400, body
    assert h.snapshot() == before
    assert (await api.call("GET", "/programs/999/pricing"))[0] == 404


async def test_fixed_pricing_prices_every_window_and_takes_no_file(admin):
    _, api, program = admin
    await api.ok("PUT", f"/programs/{program}/pricing", {"kind": "fixed", "currency": "AUD", "pricePerKWh": 0.45})
    assert (await api.ok("GET", f"/programs/{program}/pricing"))["pricePerKWh"] == "0.45"
    window = await api.ok("GET", f"/programs/{program}/prices?from={T0}&to={T0 + 600}")
    assert window["segments"] == [{"start": T0, "duration": 600, "pricePerKWh": "0.45"}] and window["complete"]
    status, answer = await api.call("POST", f"/programs/{program}/prices", {"prices": []})
    assert status == 409 and "fixed" in answer["errors"][0]["reason"]


async def test_the_cli_sets_pricing_and_loads_a_price_file(admin, tmp_path, capsys):
    h, api, program = admin
    if h.config.store is not None:
        store = ["--store", h.config.store]
    else:
        store = ["--data-dir", str(h.config.data_dir)]
    assert await asyncio.to_thread(main, ["prices", "pricing", str(program), "--kind", "market", *store]) == 0
    prices = tmp_path / "lmp.json"
    prices.write_text('{"prices": [{"start": %d, "duration": 300, "pricePerKWh": "0.0412"},'
                      ' {"start": %d, "duration": 300, "pricePerKWh": "0.0398"}]}' % (T0, T0 + 300))
    assert await asyncio.to_thread(main, ["prices", "load", str(program), str(prices), *store]) == 0
    assert "2 new, 0 replaced, 0 unchanged" in capsys.readouterr().out
    window = await api.ok("GET", f"/programs/{program}/prices?from={T0}&to={T0 + 600}")
    assert [s["pricePerKWh"] for s in window["segments"]] == ["0.0412", "0.0398"]
    bad = tmp_path / "bad.csv"
    bad.write_text("start,duration,pricePerKWh\n1,7,x\n")
    assert await asyncio.to_thread(main, ["prices", "load", str(program), str(bad), *store]) == 1
    err = capsys.readouterr().err
    assert "line 2.duration" in err and "line 2.pricePerKWh" in err and "nothing was changed" in err
    assert await asyncio.to_thread(main, ["prices", "load", "999", str(prices), *store]) == 1
