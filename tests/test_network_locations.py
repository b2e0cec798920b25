"""Network-location sync: importing service points' transformer, feeder and substation, the FSA group
hierarchy it builds, and events targeted at a feeder."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from der_gateway.cli.main import main as cli
from der_gateway.clock import ManualClock
from der_gateway.domain import network
from der_gateway.sep import codec, model, paths
from der_gateway.services import der_controls
from der_gateway.store import EndDeviceRecord, sqlite_control_plane
from der_gateway.store.sqlite import SQLiteStore

from . import documents

T0 = 1_800_000_000
TOKEN = "test-admin-token-0123456789"  # conftest's make_harness

CSV = """service_point,transformer,feeder,substation
SP1,T1,FA,S1
SP2,T2,FB,S1
SP3,T1,FA,S1
SP4,T4,FC,S2
"""


# -- the file formats ---------------------------------------------------------------------------

def test_csv_and_json_read_the_same_rows():
    rows, errors = network.parse(CSV.encode(), "csv")
    assert errors == []
    as_json = [{"servicePoint": r.service_point, "transformer": r.transformer, "feeder": r.feeder,
                "substation": r.substation} for r in rows]
    same, errors = network.parse(json.dumps(as_json), "json")
    assert errors == [] and [(r.service_point, r.transformer, r.feeder, r.substation) for r in same] == \
        [(r.service_point, r.transformer, r.feeder, r.substation) for r in rows]
    # columns in any order, a BOM, blank lines and spaces around values are fine
    reordered, errors = network.parse("\ufeffsubstation, feeder ,service_point,transformer\r\n\r\n"
                                      " S1 ,FA,SP1,T1\r\n", "csv")
    assert errors == [] and [(r.service_point, r.transformer, r.feeder, r.substation) for r in reordered] == \
        [("SP1", "T1", "FA", "S1")]
    h = network.hierarchy(rows)
    assert h.substations == {"S1", "S2"} and h.feeders == {"FA": "S1", "FB": "S1", "FC": "S2"}
    assert h.transformers == {"T1": "FA", "T2": "FB", "T4": "FC"}
    assert network.description("transformer", "X" * 40) == ("transformer " + "X" * 40)[:32]


def test_every_problem_in_a_file_is_named_at_once():
    text = ("service_point,transformer,feeder,substation\n"
            "SP1,T1,FA,S1\n"
            "SP2,,FA,S1\n"  # missing transformer
            "SP1,T2,FB,S2\n"  # SP1 twice
            "SP3,T3,FA,S2\n"  # FA under S1 and S2
            "SP4,T1,FB,S2\n"  # T1 under FA and FB
            "SP5,T5\n")  # too few values
    _, errors = network.parse(text, "csv")
    assert {(e["field"], e["reason"].split(";")[0]) for e in errors} == {
        ("line 3.transformer", "required"),
        ("line 4.service_point", "service point SP1 is also in line 2"),
        ("line 5.substation", "feeder FA is under substation S1 in line 2"),
        ("line 6.feeder", "transformer T1 is under feeder FA in line 2"),
        ("line 7", "2 values for 4 columns"),
    }
    _, errors = network.parse('[{"servicePoint": "SP1", "transformer": 7, "feeder": "F", "colour": "red"}, 3]',
                              "json")
    assert {e["field"] for e in errors} == {"[0].transformer", "[0].substation", "[0].colour", "[1]"}
    for text, fmt in (("service_point,feeder\nSP1,F\n", "csv"), ("", "csv"), ("service_point,transformer,feeder,"
                      "substation\n", "csv"), ("{", "json"), ('{"a": 1}', "json"), ("[]", "json")):
        assert network.parse(text, fmt)[1], (text, fmt)
    assert network.parse(b"\xff\xfe", "csv")[1][0]["field"] == "(body)"


# -- rows the import works on ---------------------------------------------------------------------

async def utility(store, service_points: list[str]) -> dict[str, Any]:
    def write(c):
        customer = c.execute("INSERT INTO customers (external_id, name) VALUES ('C1', 'Customer 1')").lastrowid
        account = c.execute("INSERT INTO accounts (customer_id, external_id) VALUES (?, 'A1')", (customer,)).lastrowid
        sps = {sp: c.execute("INSERT INTO service_points (account_id, external_id) VALUES (?, ?)",
                             (account, sp)).lastrowid for sp in service_points}
        asset_type = c.execute("INSERT INTO asset_types (code, der_type) VALUES ('battery', 83)").lastrowid
        model_id = c.execute("INSERT INTO device_models (asset_type_id, manufacturer, model, spec) "
                             "VALUES (?, 'ACME', 'B-10', '{}')", (asset_type,)).lastrowid
        program = c.execute("INSERT INTO programs (mrid, description, primacy) VALUES (?, 'feeder relief', 1)",
                            (f"{time.time_ns():032X}"[-32:],)).lastrowid
        return {"customer": customer, "service_points": sps, "model": model_id, "program": program}
    return await store._in_transaction(write)


async def asset(store, rows: dict[str, Any], service_point: str, end_device_id: int | None, lfdi: str,
                enrollment: str | None = "Enrolled", status: str = "active") -> int:
    def write(c):
        asset_id = c.execute(
            "INSERT INTO der_assets (customer_id, service_point_id, device_model_id, end_device_id, lfdi, nameplate, "
            "status, created) VALUES (?, ?, ?, ?, ?, '{}', ?, ?)",
            (rows["customer"], rows["service_points"][service_point], rows["model"], end_device_id, lfdi, status,
             T0)).lastrowid
        if enrollment is not None:
            c.execute("INSERT INTO enrollments (der_asset_id, program_id, status, created, updated) "
                      "VALUES (?, ?, ?, ?, ?)", (asset_id, rows["program"], enrollment, T0, T0))
        return asset_id
    return await store._in_transaction(write)


async def end_device(store, n: int) -> int:
    lfdi = f"{n:040X}"
    record = await store.create_end_device(EndDeviceRecord(0, lfdi, 100 + n, lfdi, T0, 1, T0))
    return record.id


def locations_by_name(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(i["kind"], i["name"]): i for i in items}


@dataclass
class Admin:
    session: aiohttp.ClientSession
    url: str

    async def call(self, method: str, path: str, body: Any = None, *, raw: str | None = None,
                   content_type: str = "application/json") -> tuple[int, Any]:
        data = raw.encode() if raw is not None else json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(method, self.url + path, data=data, headers=headers) as resp:
            text = await resp.read()
            return resp.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200, **kw) -> Any:
        got, answer = await self.call(method, path, body, **kw)
        assert got == status, (method, path, got, answer)
        return answer

    async def import_csv(self, text: str, mode: str, status: int = 200) -> Any:
        return await self.ok("POST", f"/network-locations/import?mode={mode}", raw=text, content_type="text/csv",
                             status=status)


@pytest.fixture
async def server(make_harness):
    h = make_harness(clock=ManualClock(T0))
    await h.start()
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    yield h, Admin(session, h.server.admin_url)
    await session.close()
    await h.stop()


@pytest.fixture
def logged_changes(monkeypatch) -> list:
    seen: list = []
    original = sqlite_control_plane.log_changes

    def record(c, changed):
        seen.extend(changed)
        original(c, changed)

    monkeypatch.setattr(sqlite_control_plane, "log_changes", record)
    return seen


# -- the import ---------------------------------------------------------------------------------------

async def test_an_initial_load_builds_the_hierarchy_with_a_group_each(server):
    h, admin = server
    await utility(h.store, ["SP1", "SP2", "SP3", "SP4"])
    summary = await admin.import_csv(CSV, "initial")
    assert summary == {"mode": "initial", "rows": 4, "servicePointsChanged": 4, "locationsCreated": 8,
                       "locationsMoved": 0, "locationsRemoved": 0, "endDevicesMoved": 0}
    listed = (await admin.ok("GET", "/network-locations"))["items"]
    assert [(i["kind"], i["name"]) for i in listed] == [
        ("substation", "S1"), ("substation", "S2"), ("feeder", "FA"), ("feeder", "FB"), ("feeder", "FC"),
        ("transformer", "T1"), ("transformer", "T2"), ("transformer", "T4")]
    by = locations_by_name(listed)
    assert by[("substation", "S1")]["parentId"] is None
    assert by[("feeder", "FA")]["parentId"] == by[("substation", "S1")]["id"]
    assert by[("feeder", "FC")]["parent"] == "S2"
    assert by[("transformer", "T1")]["parentId"] == by[("feeder", "FA")]["id"]
    assert by[("transformer", "T1")]["servicePointCount"] == 2 and by[("substation", "S1")]["servicePointCount"] == 3
    assert len({i["groupId"] for i in listed}) == 8
    feeder = by[("feeder", "FA")]
    group = await h.store.group(feeder["groupId"])
    assert group.description == "feeder FA" and group.mRID.endswith(f"{h.config.pen:08X}")
    assert feeder["groupHref"] == f"/fsa/{feeder['groupId']}"
    assert (await admin.ok("GET", f"/groups/{feeder['groupId']}"))["description"] == "feeder FA"
    one = await admin.ok("GET", f"/network-locations/{feeder['id']}")
    assert one["children"] == [by[("transformer", "T1")]["id"]]
    assert [i["name"] for i in (await admin.ok("GET", "/network-locations?kind=feeder"))["items"]] == ["FA", "FB", "FC"]
    assert (await admin.call("GET", "/network-locations?kind=pole"))[0] == 400
    assert (await admin.call("GET", "/network-locations/999"))[0] == 404
    sps = dict(((r[0], r[1:]) for r in await h.store._rows(
        "SELECT external_id, transformer, feeder, substation FROM service_points")))
    assert sps == {"SP1": ("T1", "FA", "S1"), "SP2": ("T2", "FB", "S1"), "SP3": ("T1", "FA", "S1"),
                   "SP4": ("T4", "FC", "S2")}


async def test_json_imports_too(server):
    h, admin = server
    await utility(h.store, ["SP1"])
    body = [{"servicePoint": "SP1", "transformer": "T1", "feeder": "FA", "substation": "S1"}]
    summary = await admin.ok("POST", "/network-locations/import?mode=incremental", body)
    assert summary["locationsCreated"] == 3
    status, answer = await admin.call("POST", "/network-locations/import", raw="x", content_type="text/plain")
    assert status == 415 and answer["errors"]
    status, answer = await admin.call("POST", "/network-locations/import?mode=sometimes", body)
    assert status == 400 and answer["errors"][0]["field"] == "mode"


async def test_invalid_files_apply_nothing_and_name_every_problem(server):
    h, admin = server
    await utility(h.store, ["SP1", "SP2", "SP3"])
    await admin.import_csv("service_point,transformer,feeder,substation\nSP1,T1,FA,S1\n", "initial")
    before = h.snapshot()
    bad = ("service_point,transformer,feeder,substation\n"
           "SP1,T9,FA,S1\n"
           "SP404,T1,FA,S1\n"  # unknown service point
           "SP2,T2,,S1\n"  # missing feeder
           "SP3,T3,FA,S7\n")  # FA under S1 above
    for mode in ("initial", "incremental"):
        answer = await admin.import_csv(bad, mode, status=400)
        assert {e["field"] for e in answer["errors"]} == {"line 3.service_point", "line 4.feeder", "line 5.substation"}
        assert "no service point SP404" in {e["reason"] for e in answer["errors"]}
    answer = await admin.ok("POST", "/network-locations/import?mode=initial", [
        {"servicePoint": "SP9", "transformer": "T1", "feeder": "FA", "substation": "S1"},
        {"servicePoint": "SP1", "feeder": "FA", "substation": "S1"}], status=400)
    assert {e["field"] for e in answer["errors"]} == {"[0].servicePoint", "[1].transformer"}
    assert h.snapshot() == before


async def test_incremental_updates_and_moves_and_a_new_initial_load(server, logged_changes):
    h, admin = server
    rows = await utility(h.store, ["SP1", "SP2", "SP3", "SP4"])
    edevs = {n: await end_device(h.store, n) for n in (1, 2, 3, 4)}
    for n, sp in ((1, "SP1"), (2, "SP2"), (3, "SP3"), (4, "SP4")):
        await asset(h.store, rows, sp, edevs[n], f"{n:040X}")
    await admin.import_csv(CSV, "initial")
    groups = {(i["kind"], i["name"]): i["groupId"] for i in (await admin.ok("GET", "/network-locations"))["items"]}

    async def members():
        return {(kind, name): await h.store._rows("SELECT end_device_id FROM group_members WHERE group_id = ? "
                                            "ORDER BY end_device_id", (g,)) for (kind, name), g in groups.items()}

    assert [e for (e,) in (await members())[("feeder", "FA")]] == [edevs[1], edevs[3]]
    assert [e for (e,) in (await members())[("substation", "S1")]] == [edevs[1], edevs[2], edevs[3]]

    # SP3 moves to T2 on FB; feeder FC moves to substation S1 (SP4 follows though it is not in the file)
    logged_changes.clear()
    summary = await admin.import_csv("service_point,transformer,feeder,substation\nSP3,T2,FB,S1\nSP2,T5,FC,S1\n",
                                     "incremental")
    assert summary["locationsMoved"] == 1 and summary["locationsCreated"] == 1  # FC moved, T5 new
    sps = {r[0]: r[1:] for r in await h.store._rows(
        "SELECT external_id, transformer, feeder, substation FROM service_points")}
    assert sps == {"SP1": ("T1", "FA", "S1"), "SP2": ("T5", "FC", "S1"), "SP3": ("T2", "FB", "S1"),
                   "SP4": ("T4", "FC", "S1")}
    listed = locations_by_name((await admin.ok("GET", "/network-locations"))["items"])
    assert listed[("feeder", "FC")]["parent"] == "S1" and listed[("transformer", "T5")]["parent"] == "FC"
    groups = {k: v["groupId"] for k, v in listed.items()}
    now = await members()
    assert [e for (e,) in now[("feeder", "FA")]] == [edevs[1]]
    assert [e for (e,) in now[("feeder", "FB")]] == [edevs[3]]
    assert [e for (e,) in now[("feeder", "FC")]] == [edevs[2], edevs[4]]
    assert [e for (e,) in now[("substation", "S2")]] == []
    assert [e for (e,) in now[("substation", "S1")]] == [edevs[1], edevs[2], edevs[3], edevs[4]]
    assert sorted(set(logged_changes)) == sorted(paths.fsa_list(edevs[n]) for n in (2, 3, 4))

    # a new initial load: what it does not name goes
    logged_changes.clear()
    summary = await admin.import_csv("service_point,transformer,feeder,substation\nSP1,T1,FA,S1\n", "initial")
    assert summary["locationsRemoved"] == len(groups) - 3
    assert [(i["kind"], i["name"]) for i in (await admin.ok("GET", "/network-locations"))["items"]] == [
        ("substation", "S1"), ("feeder", "FA"), ("transformer", "T1")]
    assert await h.store._rows("SELECT external_id FROM service_points WHERE feeder IS NOT NULL") == [("SP1",)]
    assert await h.store.group(groups[("feeder", "FC")]) is None
    assert await h.store.group(groups[("feeder", "FA")]) is not None  # kept, with its id
    assert (paths.program_list(groups[("feeder", "FC")]), 4) in logged_changes
    assert {paths.fsa_list(edevs[n]) for n in (2, 3, 4)} <= set(logged_changes)
    assert [g.description for g in await h.store.groups_of(edevs[1])] == ["substation S1", "feeder FA",
                                                                          "transformer T1"]
    assert await h.store.groups_of(edevs[2]) == []


async def test_only_enrolled_active_devices_join(server):
    h, admin = server
    rows = await utility(h.store, ["SP1"])
    edevs = {n: await end_device(h.store, n) for n in range(1, 6)}
    await asset(h.store, rows, "SP1", edevs[1], "01" * 20)  # enrolled
    await asset(h.store, rows, "SP1", edevs[2], "02" * 20, enrollment="Pending")
    await asset(h.store, rows, "SP1", edevs[3], "03" * 20, enrollment=None)
    await asset(h.store, rows, "SP1", edevs[4], "04" * 20, status="retired")
    await asset(h.store, rows, "SP1", None, "05" * 20)  # no EndDevice yet
    summary = await admin.import_csv("service_point,transformer,feeder,substation\nSP1,T1,FA,S1\n", "initial")
    assert summary["endDevicesMoved"] == 1
    assert all(i["endDeviceCount"] == 1 for i in (await admin.ok("GET", "/network-locations"))["items"])
    assert [len(await h.store.groups_of(edevs[n])) for n in range(1, 5)] == [3, 0, 0, 0]
    # enrolling later: reconcile puts it in (as a later import would)
    await h.store._in_transaction(lambda c: c.execute(
        "UPDATE enrollments SET status = 'Enrolled' WHERE der_asset_id = "
        "(SELECT id FROM der_assets WHERE end_device_id = ?)", (edevs[2],)))
    assert await h.store.reconcile_network_groups() == 1
    assert len(await h.store.groups_of(edevs[2])) == 3


async def test_the_cli_imports_a_file(tmp_path, capsys):
    data = tmp_path / "var"
    store = await SQLiteStore.open(data)
    try:
        await utility(store, ["SP1", "SP2", "SP3", "SP4"])
    finally:
        await store.close()
    good = tmp_path / "locations.csv"
    good.write_text(CSV)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"servicePoint": "SP404", "transformer": "T", "feeder": "F", "substation": "S"}]))

    async def run(*args: str) -> int:
        return await asyncio.to_thread(cli, ["network", *args, "--data-dir", str(data)])

    assert await run("import", str(bad), "--mode", "initial") == 1
    assert "no service point SP404" in capsys.readouterr().err
    assert await run("import", str(good), "--mode", "initial") == 0
    assert "imported 4 rows (initial)" in capsys.readouterr().out
    assert await run("list") == 0
    out = capsys.readouterr().out
    assert "feeder       FA under S1" in out and "transformer  T4 under FC" in out
    other = tmp_path / "locations.txt"
    other.write_text(CSV)
    assert await run("import", str(other)) == 2  # which format?
    assert await run("import", str(other), "--format", "csv") == 0


# -- targeting a feeder, seen over 2030.5 -----------------------------------------------------------

def doc(reply, cls):
    assert reply.status == 200, (reply.status, reply.reason)
    return codec.decode(reply.element, cls)


async def events_seen(client, edev_id: int) -> set[str]:
    """The mRIDs of every DERControl the device finds by walking its FSAs, their programs and controls."""
    seen = set()
    fsas = doc(await client.get(f"{paths.fsa_list(edev_id)}?l=100"), model.FunctionSetAssignmentsList)
    for fsa in fsas.FunctionSetAssignments:
        programs = doc(await client.get(f"{fsa.DERProgramListLink.href}?l=100"), model.DERProgramList)
        for program in programs.DERProgram:
            controls = doc(await client.get(f"{program.DERControlListLink.href}?l=100"), model.DERControlList)
            seen.update(c.mRID for c in controls.DERControl)
    return seen


async def test_an_event_targeted_at_a_feeder_reaches_exactly_its_enrolled_devices(server, identities):
    h, admin = server
    edevs = {}
    for name in ("device1", "device2", "device3"):
        reply = await h.client(name).post("/edev", documents.end_device(identities[name].lfdi))
        assert reply.status == 201
        edevs[name] = int(reply.headers["Location"].rsplit("/", 1)[1])
    rows = await utility(h.store, ["SP-A1", "SP-B1", "SP-A2"])
    await asset(h.store, rows, "SP-A1", edevs["device1"], identities["device1"].lfdi)  # feeder A, enrolled
    await asset(h.store, rows, "SP-B1", edevs["device2"], identities["device2"].lfdi)  # feeder B, enrolled
    await asset(h.store, rows, "SP-A2", edevs["device3"], identities["device3"].lfdi,
                enrollment="Pending")  # feeder A, not enrolled
    await admin.import_csv("service_point,transformer,feeder,substation\n"
                           "SP-A1,TA1,FEEDER-A,SUB1\nSP-B1,TB1,FEEDER-B,SUB1\nSP-A2,TA2,FEEDER-A,SUB1\n", "initial")
    feeder_a = locations_by_name((await admin.ok("GET", "/network-locations"))["items"])[("feeder", "FEEDER-A")]
    assert feeder_a["endDeviceCount"] == 1

    program = (await admin.ok("POST", "/programs", {"primacy": 5, "description": "feeder A relief"}, 201))["id"]
    await admin.ok("PUT", f"/groups/{feeder_a['groupId']}/programs/{program}", status=204)
    control = model.DERControl(
        mRID="", creationTime=0, interval=model.DateTimeInterval(start=T0 + 60, duration=600),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(opModMaxLimW=3000), responseRequired="03")
    event = await der_controls.create_event(h.store, h.clock, h.config.mrid_pen, program, control)
    await h.server.background.settle()

    seen = {name: await events_seen(h.client(name), edevs[name]) for name in edevs}
    assert seen == {"device1": {event.mRID}, "device2": set(), "device3": set()}
    # device1 finds it through the feeder's FSA, and only there
    fsas = doc(await h.client("device1").get(f"{paths.fsa_list(edevs['device1'])}?l=100"),
               model.FunctionSetAssignmentsList)
    assert {f.description for f in fsas.FunctionSetAssignments} == {"substation SUB1", "feeder FEEDER-A",
                                                                     "transformer TA1"}
    assert (await h.client("device2").get(paths.control_list(program))).status == 404
    assert [lfdi for _, lfdi in await h.store.targeted_end_devices(program)] == [identities["device1"].lfdi]
