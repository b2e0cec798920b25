"""der-gateway tree and events against a real server over mutual TLS, with a plant set up through the store."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest

from der_gateway.cli.main import main
from der_gateway.cli.tree_cmd import client_tree
from der_gateway.cli.walk import FetchError, walk
from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import der_controls

from . import documents
from .conftest import Harness

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z
PEN = Pen(40732)


def control(start: int, duration: int, **base) -> model.DERControl:
    return model.DERControl(
        mRID="", creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(**(base or {"opModMaxLimW": 5000})), responseRequired="03")


@dataclass
class Plant:
    h: Harness
    clock: ManualClock
    ids: dict[str, int]
    group: int
    program: int
    event: object  # ControlRecord: starts at T0 + 60, device1 started it, device2 silent
    cancelled: object  # ControlRecord: cancelled, device2 rejected it


async def respond(h: Harness, name: str, lfdi: str, subject: str, status: int) -> None:
    body = codec.encode(model.DERControlResponse(createdDateTime=T0, endDeviceLFDI=lfdi, status=status,
                                                 subject=subject))
    assert (await h.client(name).post("/rsps/1/rsp", body)).status == 201


@pytest.fixture
async def plant(make_harness, identities):
    """device1 and device2 in group "feeder 7" holding program "curtailment"; device3 in no group."""
    clock = ManualClock(T0)
    h = make_harness(clock=clock, notification_allow=("http://127.0.0.1",),
                     notification_allow_addresses=("127.0.0.1/32",))
    await h.start()
    store = h.store
    ids = {}
    for name in ("device1", "device2", "device3"):
        reply = await h.client(name).post("/edev", documents.end_device(identities[name].lfdi))
        ids[name] = int(reply.headers["Location"].rsplit("/", 1)[1])
    device1 = h.client("device1")
    edev1 = f"/edev/{ids['device1']}"
    assert (await device1.put(f"{edev1}/der/1/dercap", codec.encode(documents.der_capability(5000)))).status == 204
    assert (await device1.put(f"{edev1}/der/1/derg", codec.encode(documents.der_settings(4600)))).status == 204
    assert (await device1.post(f"{edev1}/sub", codec.encode(model.Subscription(
        subscribedResource=edev1, encoding=0, level="-S1", limit=1, notificationURI="http://127.0.0.1:9/n")))
            ).status == 201

    group = await store.create_group(new_mrid(PEN), "feeder 7")
    await store.set_membership(group, [ids["device1"], ids["device2"]], True)
    program = await store.create_program(new_mrid(PEN), "curtailment", 1)
    await store.set_group_program(group, program, True)
    await store.set_default_control(program, new_mrid(PEN), codec.to_data(model.DefaultDERControl(
        mRID=new_mrid(PEN), DERControlBase=model.DERControlBase(opModMaxLimW=10000))))
    event = await der_controls.create_event(store, clock, PEN, program, control(T0 + 60, 300))
    cancelled = await der_controls.create_event(store, clock, PEN, program, control(T0 + 1000, 600, opModConnect=False))
    await h.server.background.settle()
    await respond(h, "device1", identities["device1"].lfdi, event.mRID, 1)
    await respond(h, "device1", identities["device1"].lfdi, event.mRID, 2)  # the latest counts: started
    await respond(h, "device2", identities["device2"].lfdi, cancelled.mRID, 252)
    cancelled = await der_controls.cancel_event(store, clock, cancelled.id)
    await h.server.background.settle()
    yield Plant(h, clock, ids, group, program, event, cancelled)
    await h.stop()


def line_of(lines: list[str], start: str) -> str:
    """The one line whose text (after the indent) starts with `start`."""
    found = [ln for ln in lines if ln.lstrip().startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def indent(line: str) -> int:
    return len(line) - len(line.lstrip())


async def run_cli(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    return code, capsys.readouterr().out


# -- the client's tree ------------------------------------------------------------------

async def test_device_tree_over_tls(plant, certs_dir, identities):
    h, ids, program = plant.h, plant.ids, plant.program
    edev1 = f"/edev/{ids['device1']}"
    lines = await client_tree(h.server.url, certs_dir, "device1")
    text = "\n".join(lines)

    assert lines[0] == "DeviceCapability /dcap  pollRate=900"
    edev = line_of(lines, f"EndDevice {edev1} ")
    assert f"lFDI={identities['device1'].lfdi}" in edev and f"sFDI={identities['device1'].sfdi}" in edev
    assert "enabled=true" in edev
    assert indent(edev) > indent(line_of(lines, "EndDeviceList /edev "))
    assert "pIN=" in line_of(lines, f"Registration {edev1}/rg")
    fsa = line_of(lines, f"FunctionSetAssignments /fsa/{plant.group} ")
    assert 'description="feeder 7"' in fsa and indent(fsa) > indent(edev)
    derp = line_of(lines, f"DERProgram /derp/{program} ")
    assert "primacy=1 description=curtailment" in derp and indent(derp) > indent(fsa)
    assert "modes=opModMaxLimW" in line_of(lines, f"DefaultDERControl /derp/{program}/dderc")

    # scheduled until T0 + 60; then the active list holds it
    controls = [ln for ln in lines if f"DERControl /derp/{program}/derc/{plant.event.id} " in ln]
    assert controls and all("status=scheduled" in ln for ln in controls)
    assert f"mRID={plant.event.mRID} start=2027-01-15T08:01:00Z duration=300s" in controls[0]
    assert f"DERControl /derp/{program}/derc/{plant.cancelled.id} " in text
    assert "status=cancelled modes=opModConnect" in text

    assert "rtgMaxW=5000W" in line_of(lines, f"DERCapability {edev1}/der/1/dercap")
    assert "setMaxW=4600W" in line_of(lines, f"DERSettings {edev1}/der/1/derg")
    assert line_of(lines, f"DERStatusLink {edev1}/der/1/ders").endswith("(not found)")
    assert f"subscribedResource={edev1} notificationURI=http://127.0.0.1:9/n" in text
    assert "ResponseSetList /rsps  all=1 results=1" in text
    assert f"subject={plant.event.mRID} status=2" in text  # device1's own responses are listed
    assert line_of(lines, "Time /tm ").startswith("  Time /tm  currentTime=")

    plant.clock.set(T0 + 60)
    await h.server.background.settle()
    lines = await client_tree(h.server.url, certs_dir, "device1")
    active = line_of(lines, f"DERControlList /derp/{program}/actderc")
    assert "all=1 results=1" in active
    controls = [ln for ln in lines if f"DERControl /derp/{program}/derc/{plant.event.id} " in ln]
    assert len(controls) == 2 and all("status=active" in ln for ln in controls)  # in actderc, then in derc


async def test_another_device_sees_only_its_own_end_device(plant, certs_dir, identities):
    lines = await client_tree(plant.h.server.url, certs_dir, "device2")
    text = "\n".join(lines)
    assert identities["device1"].lfdi not in text
    assert f"EndDevice /edev/{plant.ids['device1']} " not in text
    assert f"lFDI={identities['device2'].lfdi}" in line_of(lines, f"EndDevice /edev/{plant.ids['device2']} ")
    assert f"DERProgram /derp/{plant.program} " in text  # the group is shared
    assert f"subject={plant.cancelled.mRID} status=252" in text and f"subject={plant.event.mRID}" not in text

    outsider = "\n".join(await client_tree(plant.h.server.url, certs_dir, "device3"))
    assert "FunctionSetAssignmentsList" in outsider and "DERProgram " not in outsider


async def test_each_href_is_fetched_once_and_responses_only_listed(plant):
    device = plant.h.client("device1")  # checks every document against the schema
    fetched: list[str] = []

    async def fetch(href: str) -> bytes | None:
        fetched.append(href)
        reply = await device.get(href)
        return reply.body if reply.status == 200 else None

    lines = await walk(fetch, limit=5)
    assert len(fetched) == len(set(fetched)) and fetched[0] == "/dcap"
    assert "/edev?l=5" in fetched and "/rsps/1/rsp?l=5" in fetched
    assert not [f for f in fetched if re.match(r"^/rsps/\d+/rsp/\d+", f)]
    assert any(ln.lstrip().startswith("Response /rsps/1/rsp/") for ln in lines)


async def test_walk_with_a_plain_fetch():
    docs = {
        "/dcap": codec.encode(model.DeviceCapability(
            href="/dcap", TimeLink=model.Link(href="/tm"), EndDeviceListLink=model.ListLink(href="/edev", all=1))),
        "/tm": None,
    }

    def fetch(href: str) -> bytes | None:
        if href.startswith("/edev"):
            raise FetchError("HTTP 403 Forbidden")
        return docs[href]

    assert await walk(fetch) == ["DeviceCapability /dcap", "  TimeLink /tm (not found)",
                                 "  EndDeviceListLink /edev (HTTP 403 Forbidden)"]
    assert await walk(fetch, depth=0) == ["DeviceCapability /dcap"]


async def test_tree_command_as_a_device(plant, certs_dir, foreign_certs_dir, capsys):
    url = plant.h.server.url
    code, out = await run_cli(capsys, "tree", "--url", url, "--certs-dir", str(certs_dir), "--cert", "device1",
                              "--depth", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("DeviceCapability /dcap")
    assert line_of(lines, f"EndDevice /edev/{plant.ids['device1']} ").startswith("    EndDevice")
    assert "FunctionSetAssignmentsList" not in out  # three levels down

    code = await asyncio.to_thread(main, ["tree", "--url", url, "--certs-dir", str(foreign_certs_dir),
                                          "--cert", "device1"])
    assert code == 1 and "cannot read" in capsys.readouterr().err


# -- the operator's view -------------------------------------------------------------------

async def test_admin_tree(plant, identities, capsys):
    program, group, event = plant.program, plant.group, plant.event
    code, out = await run_cli(capsys, "tree", "--admin", *plant.h.store_args(), "--now", str(T0 + 60))
    assert code == 0
    lines = out.splitlines()
    programs = lines[:lines.index("groups")]
    assert programs[0] == "programs"
    assert "primacy=1 description=curtailment" in line_of(programs, f"DERProgram /derp/{program} ")
    assert "modes=opModMaxLimW" in line_of(programs, f"DefaultDERControl /derp/{program}/dderc")
    running = line_of(programs, f"DERControl /derp/{program}/derc/{event.id} ")
    assert f"mRID={event.mRID} start=2027-01-15T08:01:00Z duration=300s" in running
    assert 'status=active programStatus="IN PROGRESS" active=true' in running
    assert "status=cancelled programStatus=CANCELED active=false" in line_of(
        programs, f"DERControl /derp/{program}/derc/{plant.cancelled.id} ")

    members = lines[lines.index("groups"):lines.index("EndDevices in no group")]
    assert 'description="feeder 7"' in members[1] and members[1].startswith(f"  FunctionSetAssignments /fsa/{group}")
    assert any(ln.startswith(f"    DERProgram /derp/{program} ") for ln in members)
    for name in ("device1", "device2"):
        assert f"    EndDevice /edev/{plant.ids[name]}  lFDI={identities[name].lfdi}" in "\n".join(members)
    ungrouped = lines[lines.index("EndDevices in no group") + 1:]
    assert ungrouped == [f"  EndDevice /edev/{plant.ids['device3']}  lFDI={identities['device3'].lfdi} "
                         f"sFDI={identities['device3'].sfdi} enabled=true"]


async def test_events_table(plant, capsys):
    where = plant.h.store_args()
    code, out = await run_cli(capsys, "events", *where, "--now", str(T0 + 60))
    assert code == 0
    header, *rows = [re.split(r"\s{2,}", ln) for ln in out.splitlines()]
    assert header == ["id", "program", "mRID", "start", "duration", "status", "program status", "received",
                      "started", "completed", "opted out", "rejected", "other", "no response"]
    by_id = {int(r[0]): dict(zip(header, r)) for r in rows}
    running, cancelled = by_id[plant.event.id], by_id[plant.cancelled.id]
    assert running == {"id": str(plant.event.id), "program": f"{plant.program} curtailment", "mRID": plant.event.mRID,
                       "start": "2027-01-15T08:01:00Z", "duration": "300s", "status": "active",
                       "program status": "IN PROGRESS", "received": "0", "started": "1", "completed": "0",
                       "opted out": "0", "rejected": "0", "other": "0", "no response": "1"}
    assert (cancelled["status"], cancelled["program status"]) == ("cancelled", "CANCELED")
    assert (cancelled["rejected"], cancelled["started"], cancelled["no response"]) == ("1", "0", "1")

    code, out = await run_cli(capsys, "events", *where, "--now", str(T0 + 400))
    row = next(re.split(r"\s{2,}", ln) for ln in out.splitlines() if ln.startswith(f"{plant.event.id} "))
    assert row[5:7] == ["active", "COMPLETED"]

    code, out = await run_cli(capsys, "events", *where, "--program", str(plant.program + 1))
    assert (code, out) == (0, "no events\n")
