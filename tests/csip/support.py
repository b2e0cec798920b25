"""The client side of the CSIP procedures: the discovery walk, and the topologies the setups call for."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TypeVar

from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi

from ..conftest import SepClient
from .conftest import PIN, Csip

R = TypeVar("R")


async def get(client: SepClient, href: str, cls: type[R]) -> R:
    """GET href: 200, application/sep+xml, schema-valid (the client checks), and of the expected type."""
    reply = await client.get(href)
    assert reply.status == 200, (href, reply.status, reply.reason)
    assert reply.headers["Content-Type"].startswith("application/sep+xml")
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    resource = codec.decode(reply.element, cls)
    assert getattr(resource, "href", href) in (href.split("?")[0], None), (href, resource.href)
    return resource


async def get_all(client: SepClient, href: str, cls: type[R]) -> R:
    """A whole list in one page (l=255, as the procedures ask), checking all and results."""
    listed = await get(client, f"{href}?l=255", cls)
    items = [v for v in vars(listed).values() if isinstance(v, list)]
    count = len(items[0]) if items else 0
    assert listed.all == listed.results == count, (href, listed.all, listed.results, count)
    return listed


def lfdi_of(n: int) -> str:
    """An EndDevice lFDI for devices an aggregator manages (they have no certificates of their own)."""
    return hashlib.sha256(f"managed device {n}".encode()).hexdigest()[:40].upper()


@dataclass
class Walk:
    """What a client finds walking from /dcap to its programs."""

    dcap: model.DeviceCapability
    end_devices: model.EndDeviceList
    edev: model.EndDevice
    registration: model.Registration
    fsas: list[model.FunctionSetAssignments]
    programs: dict[str, list[model.DERProgram]] = field(default_factory=dict)  # FSA href -> its programs

    def all_programs(self) -> list[model.DERProgram]:
        return [p for ps in self.programs.values() for p in ps]

    def program(self, description: str) -> model.DERProgram:
        (found,) = [p for p in self.all_programs() if p.description == description]
        return found


async def walk(client: SepClient, lfdi: str, pin: int = PIN) -> Walk:
    """dcap -> EndDeviceList -> the EndDevice with this lFDI/sFDI -> Registration (PIN) -> FSAs -> programs."""
    dcap = await get(client, "/dcap", model.DeviceCapability)
    end_devices = await get_all(client, dcap.EndDeviceListLink.href, model.EndDeviceList)
    assert dcap.EndDeviceListLink.all == end_devices.all
    mine = [e for e in end_devices.EndDevice if e.lFDI == lfdi and e.sFDI == sfdi_from_lfdi(lfdi)]
    assert len(mine) == 1, f"no single EndDevice with lFDI {lfdi} in {[e.lFDI for e in end_devices.EndDevice]}"
    edev = await get(client, mine[0].href, model.EndDevice)
    assert edev == mine[0]
    registration = await get(client, edev.RegistrationLink.href, model.Registration)
    assert registration.pIN == pin
    fsa_list = await get_all(client, edev.FunctionSetAssignmentsListLink.href, model.FunctionSetAssignmentsList)
    assert edev.FunctionSetAssignmentsListLink.all == fsa_list.all
    found = Walk(dcap, end_devices, edev, registration, [])
    for listed in fsa_list.FunctionSetAssignments:
        fsa = await get(client, listed.href, model.FunctionSetAssignments)
        assert fsa == listed and fsa.TimeLink.href == dcap.TimeLink.href
        found.fsas.append(fsa)
        programs = await get_all(client, fsa.DERProgramListLink.href, model.DERProgramList)
        assert fsa.DERProgramListLink.all == programs.all
        found.programs[fsa.href] = []
        for p in programs.DERProgram:
            assert await get(client, p.href, model.DERProgram) == p
            found.programs[fsa.href].append(p)
    return found


def by_priority(programs: list[model.DERProgram]) -> list[model.DERProgram]:
    """2030.5 list order for programs: primacy, then mRID."""
    return sorted(programs, key=lambda p: (p.primacy, p.mRID))


async def controls(client: SepClient, program: model.DERProgram) -> dict[str, model.DERControl]:
    """The program's DERControls by mRID, each also fetched by its href (and equal to the listed one)."""
    listed = await get_all(client, program.DERControlListLink.href, model.DERControlList)
    found = {}
    for c in listed.DERControl:
        assert await get(client, c.href, model.DERControl) == c
        found[c.mRID] = c
    return found


async def respond(client: SepClient, control: model.DERControl, lfdi: str, status: int, when: int,
                  kind: type = model.DERControlResponse) -> str:
    """POSTs a DERControlResponse (or a plain Response) to the control's replyTo: 201 and a Location the client
    may read back."""
    body = codec.encode(kind(createdDateTime=when, endDeviceLFDI=lfdi, status=status, subject=control.mRID))
    reply = await client.post(control.replyTo, body)
    assert reply.status == 201, (status, reply.status, reply.reason)
    location = reply.headers["Location"]
    kept = await get(client, location, model.Response)
    assert (kept.status, kept.subject, kept.endDeviceLFDI) == (status, control.mRID, lfdi)
    return location


def subscription(resource: str, uri: str, limit: int = 255) -> bytes:
    return codec.encode(model.Subscription(subscribedResource=resource, encoding=0, level="-S1", limit=limit,
                                           notificationURI=uri))


async def subscribe(client: SepClient, edev: model.EndDevice, resource: str, uri: str, limit: int = 255) -> str:
    """POSTs a Subscription to the EndDevice's SubscriptionList: 201 with the Location of the Subscription."""
    reply = await client.post(edev.SubscriptionListLink.href, subscription(resource, uri, limit))
    assert reply.status == 201, (resource, reply.status, reply.reason)
    location = reply.headers["Location"]
    kept = await get(client, location, model.Subscription)
    assert (kept.subscribedResource, kept.notificationURI, kept.limit) == (resource, uri, limit)
    return location


# -- topologies -----------------------------------------------------------------------------------

# Figure 1 (CORE-010) and Figure 3 (BASIC): one program per grid level, named and with the primacy shown
FIGURE_1 = (("SY", 10), ("ST", 9), ("SS", 8), ("FD", 7), ("SG", 6), ("TF", 5), ("SP", 4))


async def seven_levels(csip: Csip, *members: int) -> tuple[int, dict[str, int]]:
    """The topology FSA of Figure 1: one group holding the seven programs of the device's grid levels."""
    op = csip.operator
    group = await op.group("topology", *members)
    programs = {}
    for name, primacy in FIGURE_1:
        programs[name] = await op.program(primacy, name)
        await op.assign(group, programs[name])
    return group, programs


# Figure 15 (UTIL, AGG, MAINT): the grid node each node hangs from, and its primacy
FIGURE_15 = {"SY": (None, 10), "ST": ("SY", 9), "SS": ("ST", 8), "FDA": ("SS", 7), "FDB": ("SS", 7),
             "SGA": ("FDA", 6), "SGB": ("FDB", 6), "TFA": ("SGA", 5), "TFB": ("SGB", 5),
             "SPA1": ("TFA", 4), "SPA2": ("TFA", 4), "SPB1": ("TFB", 4), "SPB2": ("TFB", 4)}
SERVICE_POINT = {"EDA1": "SPA1", "EDA2": "SPA2", "EDB1": "SPB1", "EDB2": "SPB2"}


def ancestry(node: str) -> list[str]:
    chain = []
    while node is not None:
        chain.append(node)
        node = FIGURE_15[node][0]
    return chain


@dataclass
class Fleet:
    """Figure 15: an aggregator's own EndDevice and the four it manages, a group and a program per node."""

    aggregator: int  # the aggregator's own EndDevice
    devices: dict[str, int]  # EDA1.. -> EndDevice id
    lfdis: dict[str, str]
    groups: dict[str, int]  # node -> group (FSA) id
    programs: dict[str, int]  # node -> program id


async def figure_15(csip: Csip, aggregator_lfdi: str) -> Fleet:
    """Each node is a group (FSA) holding its own DERProgram; each EndDevice belongs to every group above it.

    The aggregator's certificate may act for the four EndDevices (their owner), and has an EndDevice of its own.
    """
    op = csip.operator
    aggregator = await op.end_device(aggregator_lfdi)
    lfdis = {name: lfdi_of(0xED0 + i) for i, name in enumerate(SERVICE_POINT, 1)}
    devices = {name: await op.end_device(lfdi, owner=aggregator_lfdi) for name, lfdi in lfdis.items()}
    groups, programs = {}, {}
    for node, (_, primacy) in FIGURE_15.items():
        groups[node] = await op.group(node)
        programs[node] = await op.program(primacy, node)
        await op.assign(groups[node], programs[node])
    for name, service_point in SERVICE_POINT.items():
        for node in ancestry(service_point):
            await op.ok("PUT", f"/groups/{groups[node]}/members/{devices[name]}")
    return Fleet(aggregator, devices, lfdis, groups, programs)


async def managed(client: SepClient, fleet: Fleet, name: str) -> Walk:
    """The aggregator's walk for one EndDevice it manages (reached from its EndDeviceList)."""
    return await walk(client, fleet.lfdis[name])
